import { readFile } from "node:fs/promises";

/** Polls `probe` until it gives a value; fails naming `what` after `timeoutMs`. */
export async function poll<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Reports each new "epoch done" line of a training job's log (the trainer's structured JSON logs), and hands every
 * new complete line to `onLine` when given (the demo's --verbose).
 */
export function followEpochs(
  logPath: string,
  onEpoch: (e: { epoch: number; epochs?: number; loss?: number; accuracy?: number; valAccuracy?: number }) => void,
  onLine?: (line: string) => void,
): { stop: () => void } {
  let seenEpochs = 0;
  let seenLines = 0;
  const timer = setInterval(() => {
    void readFile(logPath, "utf8")
      .then((text) => {
        // The last piece may be a line still being written: only complete lines count.
        const lines = text.split("\n").slice(0, -1);
        for (const line of lines.slice(seenLines)) onLine?.(line);
        seenLines = lines.length;
        const epochs = lines
          .filter((l) => l.includes('"epoch done"'))
          .map((l) => JSON.parse(l) as Record<string, number>);
        for (const e of epochs.slice(seenEpochs))
          onEpoch({
            epoch: e.epoch ?? seenEpochs + 1,
            epochs: e.epochs,
            loss: e.loss,
            accuracy: e.accuracy,
            valAccuracy: e.valAccuracy,
          });
        seenEpochs = Math.max(seenEpochs, epochs.length);
      })
      .catch(() => undefined);
  }, 1000);
  return { stop: () => clearInterval(timer) };
}
