import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ECE_BINS, evaluateClassifier, flatMetrics } from "../../core/evaluation/metrics.ts";

// Written by test/fixtures/evaluation/make_fixtures.py (scikit-learn + NumPy); see that script for each case.
interface Case {
  name: string;
  note: string;
  k: number;
  labels: number[];
  probabilities: number[];
  accuracy: number;
  macro_f1: number;
  precision: number[];
  recall: number[];
  f1: number[];
  support: number[];
  confusion: number[][];
  log_loss: number;
  ece: number;
}
interface Fixtures {
  sklearn: string;
  ece_bins: number;
  cases: Case[];
}
const fixtures = JSON.parse(
  readFileSync(new URL("../fixtures/evaluation/sklearn.json", import.meta.url), "utf8"),
) as Fixtures;

/** Parity as the brief states it: equal to scikit-learn within 1e-9, absolute or relative. */
function expectClose(actual: number, expected: number, what: string): void {
  const diff = Math.abs(actual - expected);
  const ok = diff <= 1e-9 || diff <= 1e-9 * Math.abs(expected);
  expect(ok, `${what}: got ${actual}, sklearn ${expected}`).toBe(true);
}

const classNames = (k: number): string[] => Array.from({ length: k }, (_, i) => `c${i}`);

describe(`parity with scikit-learn ${fixtures.sklearn}`, () => {
  it("uses the same number of ECE bins as the fixture script", () => {
    expect(fixtures.ece_bins).toBe(ECE_BINS);
  });

  for (const c of fixtures.cases) {
    it(`${c.name}: ${c.note}`, () => {
      const probabilities = Float32Array.from(c.probabilities);
      // The fixture stores float32 values as float64: reading them back into a Float32Array must be lossless.
      expect(Array.from(probabilities)).toEqual(c.probabilities);
      const e = evaluateClassifier({ probabilities, labels: Int32Array.from(c.labels), classes: classNames(c.k) });
      expectClose(e.accuracy, c.accuracy, "accuracy");
      expectClose(e.macroF1, c.macro_f1, "macro F1");
      expectClose(e.logLoss, c.log_loss, "log loss");
      expectClose(e.ece, c.ece, "ECE");
      expect(e.confusion).toEqual(c.confusion);
      for (let j = 0; j < c.k; j++) {
        const m = e.perClass[j]!;
        expectClose(m.precision, c.precision[j]!, `precision[${j}]`);
        expectClose(m.recall, c.recall[j]!, `recall[${j}]`);
        expectClose(m.f1, c.f1[j]!, `f1[${j}]`);
        expect(m.support).toBe(c.support[j]);
      }
      // A plain number[] of labels gives the same result.
      expect(evaluateClassifier({ probabilities, labels: c.labels, classes: classNames(c.k) })).toEqual(e);
    });
  }
});

describe("evaluateClassifier", () => {
  it("computes a small case by hand", () => {
    // 4 samples, 3 classes. Predictions: 0, 1, 1, 2; labels: 0, 1, 2, 2.
    const probabilities = Float32Array.from([0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.3, 0.6, 0.1, 0.0, 0.0, 1.0]);
    const e = evaluateClassifier({ probabilities, labels: [0, 1, 2, 2], classes: ["a", "b", "c"] });
    expect(e.accuracy).toBe(0.75);
    expect(e.confusion).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 1, 1],
    ]);
    expect(e.perClass.map((m) => [m.class, m.precision, m.recall, m.support])).toEqual([
      ["a", 1, 1, 1],
      ["b", 0.5, 1, 1],
      ["c", 1, 0.5, 2],
    ]);
    expect(e.perClass[1]!.f1).toBeCloseTo(2 / 3, 12);
    expect(e.macroF1).toBeCloseTo((1 + 2 / 3 + 2 / 3) / 3, 12);
    // Bins: 0.7 → (0.667, 0.733], 0.8 → (0.733, 0.8], 0.6 → (0.533, 0.6], 1.0 → (0.933, 1].
    const used = e.calibration.filter((b) => b.count > 0);
    expect(used.map((b) => b.count)).toEqual([1, 1, 1, 1]);
    const conf = [Math.fround(0.7), Math.fround(0.8), Math.fround(0.6), 1];
    const ece = (Math.abs(1 - conf[0]!) + Math.abs(1 - conf[1]!) + Math.abs(0 - conf[2]!) + Math.abs(1 - conf[3]!)) / 4;
    expect(e.ece).toBeCloseTo(ece, 12);
    expect(e.calibration).toHaveLength(ECE_BINS);
  });

  it("reports absent classes with zero precision/recall/F1 (zero_division = 0) and counts them in macro-F1", () => {
    // Class "z" is neither a label nor a prediction.
    const probabilities = Float32Array.from([0.9, 0.1, 0, 0.2, 0.8, 0]);
    const e = evaluateClassifier({ probabilities, labels: [0, 1], classes: ["x", "y", "z"] });
    expect(e.perClass[2]).toEqual({ class: "z", precision: 0, recall: 0, f1: 0, support: 0 });
    expect(e.macroF1).toBeCloseTo(2 / 3, 12);
    expect(Number.isFinite(e.logLoss)).toBe(true);
  });

  it("breaks arg-max ties towards the lowest index, like numpy", () => {
    const e = evaluateClassifier({ probabilities: Float32Array.from([0.5, 0.5]), labels: [1], classes: ["a", "b"] });
    expect(e.confusion).toEqual([
      [0, 0],
      [1, 0],
    ]);
  });

  it("rejects inconsistent input", () => {
    const classes = ["a", "b"];
    expect(() => evaluateClassifier({ probabilities: new Float32Array(3), labels: [0, 1], classes })).toThrow(
      RangeError,
    );
    expect(() => evaluateClassifier({ probabilities: new Float32Array(4), labels: [0, 2], classes })).toThrow(
      /label 2/,
    );
    expect(() => evaluateClassifier({ probabilities: Float32Array.from([NaN, 1]), labels: [0], classes })).toThrow(
      /not finite/,
    );
    expect(() => evaluateClassifier({ probabilities: new Float32Array(0), labels: [], classes })).toThrow(/no samples/);
    expect(() => evaluateClassifier({ probabilities: new Float32Array(1), labels: [0], classes: ["a"] })).toThrow(
      /2 classes/,
    );
  });
});

describe("flatMetrics", () => {
  it("gives the registry's metric names, recall/<class> included", () => {
    const probabilities = Float32Array.from([0.9, 0.1, 0.3, 0.7, 0.6, 0.4]);
    const e = evaluateClassifier({ probabilities, labels: [0, 1, 1], classes: ["cat", "dog"] });
    const flat = flatMetrics(e);
    expect(Object.keys(flat)).toEqual([
      "accuracy",
      "macro_f1",
      "log_loss",
      "ece",
      "precision/cat",
      "precision/dog",
      "recall/cat",
      "recall/dog",
      "f1/cat",
      "f1/dog",
    ]);
    expect(flat["recall/dog"]).toBe(0.5);
    expect(flat["precision/cat"]).toBe(0.5);
    expect(flat.accuracy).toBeCloseTo(2 / 3, 12);
    expect(flat.log_loss).toBe(e.logLoss);
  });
});
