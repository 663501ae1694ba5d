import { appendFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { followEpochs, poll } from "../../cli/demo/watch.ts";

const line = (fields: Record<string, unknown>): string =>
  JSON.stringify({ severity: "INFO", component: "train", ...fields });

describe("followEpochs (the demo following a training job's log)", () => {
  it("reports each epoch once and every complete line once, never a line still being written", async () => {
    const log = join(mkdtempSync(join(tmpdir(), "sightline-watch-")), "job.log");
    writeFileSync(
      log,
      `${line({ message: "phase train" })}\n${line({ message: "epoch done", epoch: 1, loss: 0.5, accuracy: 0.8, valAccuracy: 0.7 })}\n`,
    );
    const epochs: number[] = [];
    const lines: string[] = [];
    const follow = followEpochs(
      log,
      (e) => epochs.push(e.epoch),
      (l) => lines.push(l),
    );
    try {
      await poll("the first epoch", async () => (epochs.length === 1 ? true : undefined), 5_000, 50);
      const second = line({ message: "epoch done", epoch: 2, loss: 0.4, accuracy: 0.85, valAccuracy: 0.75 });
      appendFileSync(log, second.slice(0, 20));
      await new Promise((r) => setTimeout(r, 1_200));
      expect(lines).toHaveLength(2);
      appendFileSync(log, `${second.slice(20)}\n`);
      await poll("the second epoch", async () => (epochs.length === 2 ? true : undefined), 5_000, 50);
      expect(epochs).toEqual([1, 2]);
      expect(lines.map((l) => JSON.parse(l).message)).toEqual(["phase train", "epoch done", "epoch done"]);
    } finally {
      follow.stop();
    }
  });
});
