import { readFile } from "node:fs/promises";

/** Polls `probe` until it gives a value; fails naming `what` after `timeoutMs`. */
export async function poll<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Reports each new "epoch done" line of a training job's log (the trainer's structured JSON logs). */
export function followEpochs(logPath: string, onEpoch: (e: { epoch: number; epochs?: number; loss?: number; accuracy?: number; valAccuracy?: number }) => void): { stop: () => void } {
  let seen = 0;
  const timer = setInterval(() => {
    void readFile(logPath, "utf8")
      .then((text) => {
        const epochs = text
          .split("\n")
          .filter((l) => l.includes('"epoch done"'))
          .map((l) => JSON.parse(l) as Record<string, number>);
        for (const e of epochs.slice(seen)) onEpoch({ epoch: e.epoch ?? seen + 1, epochs: e.epochs, loss: e.loss, accuracy: e.accuracy, valAccuracy: e.valAccuracy });
        seen = Math.max(seen, epochs.length);
      })
      .catch(() => undefined);
  }, 1000);
  return { stop: () => clearInterval(timer) };
}
