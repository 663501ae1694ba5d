import { describe, expect, it } from "vitest";
import { evaluateClassifier } from "../../core/evaluation/metrics.ts";
import { rankClasses, topClass } from "../../core/registry/scores.ts";
import { toPrediction } from "../../serving/data-plane.ts";

// One arg-max decides the label in training's evaluation, the gate and serving; on a tie it is the lowest index
// (numpy's argmax), so the three cannot disagree on a label.
describe("topClass", () => {
  it("picks the largest score, the lowest index on a tie", () => {
    expect(topClass([0.1, 0.7, 0.2], 3)).toBe(1);
    expect(topClass([0.4, 0.2, 0.4], 3)).toBe(0);
    expect(topClass([0.2, 0.4, 0.4], 3)).toBe(1);
    expect(topClass([0.25, 0.25, 0.25, 0.25], 4)).toBe(0);
  });

  it("reads row `row` of an n×k matrix", () => {
    const scores = Float32Array.from([0.9, 0.1, 0.3, 0.3, 0.2, 0.8]);
    expect([0, 1, 2].map((row) => topClass(scores, 2, row))).toEqual([0, 0, 1]);
  });

  it("agrees with rankClasses, the metrics and serving on tied rows", () => {
    const rows = [
      [0.5, 0.5, 0],
      [0, 0.5, 0.5],
      [1 / 3, 1 / 3, 1 / 3],
    ];
    const classes = ["a", "b", "c"];
    const probabilities = Float32Array.from(rows.flat());
    // Every row labelled with the class it predicts: accuracy 1 exactly when the metrics break ties as topClass does.
    const labels = Int32Array.from(rows.map((_, i) => topClass(probabilities, 3, i)));
    expect([...labels]).toEqual([0, 1, 0]);
    expect(evaluateClassifier({ probabilities, labels, classes }).accuracy).toBe(1);
    rows.forEach((row, i) => {
      expect(rankClasses(row)[0]).toBe(labels[i]);
      expect(toPrediction({ probabilities: Float32Array.from(row) }, classes).index).toBe(labels[i]);
    });
  });
});
