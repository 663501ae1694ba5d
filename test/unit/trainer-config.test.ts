import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadTrainConfig } from "../../trainer/config.ts";
import { learningRateAt, targets } from "../../trainer/train.ts";

const CONFIGS = fileURLToPath(new URL("../../trainer/configs/", import.meta.url));

describe("training configs", () => {
  it("every shipped config is valid", async () => {
    const files = readdirSync(CONFIGS).filter((f) => f.endsWith(".yaml"));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const file of files) await expect(loadTrainConfig(`${CONFIGS}${file}`), file).resolves.toBeDefined();
  });

  it("rejects an unknown schedule, naming the field", async () => {
    await expect(loadTrainConfig(undefined, { schedule: "step" } as never)).rejects.toThrow(/schedule/);
  });
});

describe("learning-rate schedules", () => {
  it("constant keeps the configured rate", () => {
    for (const p of [0, 0.3, 1]) expect(learningRateAt({ learningRate: 0.002, schedule: "constant" }, p)).toBe(0.002);
  });

  it("cosine starts at the rate, halves at mid-run, reaches 0 at the end and never rises", () => {
    const at = (p: number): number => learningRateAt({ learningRate: 0.002, schedule: "cosine" }, p);
    expect(at(0)).toBe(0.002);
    expect(at(0.5)).toBeCloseTo(0.001, 12);
    expect(at(1)).toBeCloseTo(0, 12);
    const steps = Array.from({ length: 101 }, (_, i) => at(i / 100));
    for (let i = 1; i < steps.length; i++) expect(steps[i]!).toBeLessThanOrEqual(steps[i - 1]!);
  });
});

describe("training targets", () => {
  it("are one-hot without smoothing", () => {
    expect(Array.from(targets(Int32Array.from([2, 0]), 3, 0))).toEqual([0, 0, 1, 1, 0, 0]);
  });

  it("move ε of the mass evenly over the classes with smoothing, each row still summing to 1", () => {
    const t = targets(Int32Array.from([1]), 4, 0.2);
    expect(Array.from(t).map((v) => Number(v.toFixed(6)))).toEqual([0.05, 0.85, 0.05, 0.05]);
    expect(t.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 6);
  });

  it("rejects a smoothing above 0.5 in a config", async () => {
    await expect(loadTrainConfig(undefined, { labelSmoothing: 0.6 } as never)).rejects.toThrow(/labelSmoothing/);
  });
});
