import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { trainingProgress } from "../../cli/progress.ts";
import type { EpochStats } from "../../trainer/train.ts";

const epoch: EpochStats = {
  epoch: 1,
  loss: 0.5,
  accuracy: 0.8,
  valLoss: 0.6,
  valAccuracy: 0.75,
  seconds: 2,
  imagesPerSecond: 900,
};

describe("trainingProgress off a terminal", () => {
  afterEach(() => vi.restoreAllMocks());

  const capture = (): string[] => {
    const written: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    return written;
  };

  it("writes structured lines to stderr when no log file is given (as a job's output)", () => {
    const written = capture();
    const progress = trainingProgress();
    progress.hooks.onPhase?.("train");
    progress.hooks.onEpoch?.(epoch);
    progress.stop();
    expect(written.map((l) => JSON.parse(l).message)).toEqual(["phase train", "epoch done"]);
  });

  it("keeps them in the log file, hands each epoch to onEpoch, and echoes them only when verbose", () => {
    const dir = mkdtempSync(join(tmpdir(), "sightline-progress-"));
    for (const verbose of [false, true]) {
      const written = capture();
      const logFile = join(dir, String(verbose), "train.log");
      const epochs: EpochStats[] = [];
      const progress = trainingProgress({ logFile, verbose, onEpoch: (e) => epochs.push(e) });
      progress.hooks.onPhase?.("train");
      progress.hooks.onEpoch?.(epoch);
      progress.hooks.onPhase?.("evaluate");
      progress.stop();
      const lines = readFileSync(logFile, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { message: string; component: string });
      expect(lines.map((l) => l.message)).toEqual(["phase train", "epoch done", "phase evaluate"]);
      expect(lines.every((l) => l.component === "train")).toBe(true);
      expect(epochs).toEqual([epoch]);
      expect(written).toHaveLength(verbose ? 3 : 0);
      vi.restoreAllMocks();
    }
  });
});
