import { describe, expect, it } from "vitest";
import { CompareOptionsSchema, compareFeatures } from "../../core/drift/compare.ts";
import { FEATURE_STAT_TESTS, FEATURE_TESTS, WINDOW_STAT_TESTS } from "../../core/drift/stats/index.ts";

describe("the stat-test registry", () => {
  it("lists each policy test name once, under its own name", () => {
    expect(Object.keys(FEATURE_STAT_TESTS).sort()).toEqual([...FEATURE_TESTS].sort());
    for (const [key, t] of Object.entries(FEATURE_STAT_TESTS)) expect(t.name).toBe(key);
  });

  it("gives the thresholds the comparison defaults to", () => {
    const d = CompareOptionsSchema.parse({});
    expect(FEATURE_STAT_TESTS.ks.defaultThreshold).toBe(d.ksPValue);
    expect(FEATURE_STAT_TESTS.chi2.defaultThreshold).toBe(d.chi2PValue);
    expect(FEATURE_STAT_TESTS.wasserstein.defaultThreshold).toBe(d.wassersteinThreshold);
    expect(FEATURE_STAT_TESTS.jensenshannon.defaultThreshold).toBe(d.jensenShannonThreshold);
    expect(FEATURE_STAT_TESTS.psi.defaultThreshold).toBe(d.psiThreshold);
  });

  it("says for each test whether its score is a p-value, as the comparison reports it", () => {
    const ref = Array.from({ length: 50 }, (_, i) => i % 7);
    const cur = Array.from({ length: 50 }, (_, i) => (i % 7) + 1);
    for (const test of FEATURE_TESTS) {
      const [f] = compareFeatures({ x: ref }, { x: cur }, { test }).features;
      expect(f!.test).toBe(test);
      expect(f!.pValue === null ? "distance" : "p_value", test).toBe(FEATURE_STAT_TESTS[test].score);
    }
  });

  it("keys the window tests by the names a verdict gives them", () => {
    expect(Object.keys(WINDOW_STAT_TESTS).sort()).toEqual(["embedding", "predicted_class"]);
  });
});
