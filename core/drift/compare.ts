import { z } from "zod";
import { chi2Contingency } from "./stats/chi2.ts";
import { FEATURE_TESTS, type FeatureTest } from "./stats/index.ts";
import { jensenShannonDistance, jensenShannonSamples } from "./stats/jensen-shannon.ts";
import { ks2samp } from "./stats/ks-2samp.ts";
import { psi } from "./stats/psi.ts";
import { normalisedWasserstein } from "./stats/wasserstein.ts";
import { SightlineError } from "../errors.ts";

// The test names live with the statistics; re-exported because policies and callers know them from here.
export { FEATURE_TESTS, type FeatureTest };

/**
 * Thresholds and test choice. Defaults follow Evidently's data-drift preset: a feature with ≤ 1,000 reference
 * rows is tested with KS (numeric) or chi-squared (≤ 5 distinct values), drift when p < 0.05; above that, with
 * Wasserstein distance normalised by the reference standard deviation (numeric) or Jensen–Shannon distance
 * (≤ 5 distinct values), drift when ≥ 0.1; the dataset drifts when ≥ 50 % of its features do.
 */
export const CompareOptionsSchema = z
  .object({
    /** "auto" applies the rule above; any other value forces that test on every feature. */
    test: z.enum(["auto", ...FEATURE_TESTS]).default("auto"),
    /** Per-feature override of `test`. */
    tests: z.record(z.string(), z.enum(FEATURE_TESTS)).default({}),
    /** Largest reference size still tested with a p-value test in "auto". */
    maxRowsForPValueTests: z.number().int().nonnegative().default(1000),
    /** Features with at most this many distinct reference values are treated as categorical in "auto". */
    maxCategoricalValues: z.number().int().nonnegative().default(5),
    ksPValue: z.number().gt(0).lt(1).default(0.05),
    chi2PValue: z.number().gt(0).lt(1).default(0.05),
    wassersteinThreshold: z.number().positive().default(0.1),
    jensenShannonThreshold: z.number().positive().default(0.1),
    psiThreshold: z.number().positive().default(0.1),
    /** Bins (reference quantiles) for PSI and for Jensen–Shannon on numeric values. */
    bins: z.number().int().min(2).max(1000).default(10),
    /** Share of drifted features at which the whole dataset counts as drifted. */
    datasetDriftShare: z.number().gt(0).max(1).default(0.5),
  })
  .strict();
export type CompareOptions = z.input<typeof CompareOptionsSchema>;

export interface FeatureDrift {
  feature: string;
  test: FeatureTest;
  statistic: number;
  /** p-value for KS and chi-squared; null for the distance tests. */
  pValue: number | null;
  /** What is compared with the threshold: the p-value (drift when below) or the statistic (drift when at or above). */
  score: number;
  threshold: number;
  drifted: boolean;
  referenceSize: number;
  currentSize: number;
}

export interface DriftComparison {
  features: FeatureDrift[];
  dataset: { drifted: boolean; driftedFeatures: number; totalFeatures: number; share: number; threshold: number };
}

export class DriftInputError extends SightlineError {
  constructor(message: string) {
    super("invalid", "drift_input_invalid", message);
  }
}

/** Tests each feature of `current` against the same feature of `reference` and gives a dataset-level verdict. */
export function compareFeatures(
  reference: Readonly<Record<string, readonly number[]>>,
  current: Readonly<Record<string, readonly number[]>>,
  options: CompareOptions = {},
): DriftComparison {
  const opts = CompareOptionsSchema.parse(options);
  const names = Object.keys(reference);
  const missing = names.filter((f) => !(f in current));
  const extra = Object.keys(current).filter((f) => !(f in reference));
  if (missing.length) throw new DriftInputError(`feature(s) missing from the current data: ${missing.join(", ")}`);
  if (extra.length) throw new DriftInputError(`feature(s) missing from the reference data: ${extra.join(", ")}`);
  if (names.length === 0) throw new DriftInputError("no features to compare");
  const features = names.map((name) => {
    const ref = reference[name]!;
    const cur = current[name]!;
    if (ref.length === 0 || cur.length === 0)
      throw new DriftInputError(`feature ${name}: no values in the ${ref.length === 0 ? "reference" : "current"} data`);
    const bad = [ref, cur].findIndex((xs) => xs.some((v) => !Number.isFinite(v)));
    if (bad >= 0)
      throw new DriftInputError(
        `feature ${name}: the ${bad === 0 ? "reference" : "current"} data holds a non-finite value`,
      );
    return testFeature(name, ref, cur, pickTest(name, ref, opts), opts);
  });
  const driftedFeatures = features.filter((f) => f.drifted).length;
  const share = driftedFeatures / features.length;
  return {
    features,
    dataset: {
      drifted: share >= opts.datasetDriftShare,
      driftedFeatures,
      totalFeatures: features.length,
      share,
      threshold: opts.datasetDriftShare,
    },
  };
}

type Options = z.output<typeof CompareOptionsSchema>;

function pickTest(name: string, ref: readonly number[], opts: Options): FeatureTest {
  const forced = opts.tests[name] ?? (opts.test === "auto" ? undefined : opts.test);
  if (forced) return forced;
  const categorical = new Set(ref).size <= opts.maxCategoricalValues;
  if (ref.length <= opts.maxRowsForPValueTests) return categorical ? "chi2" : "ks";
  return categorical ? "jensenshannon" : "wasserstein";
}

function testFeature(
  feature: string,
  ref: readonly number[],
  cur: readonly number[],
  test: FeatureTest,
  opts: Options,
): FeatureDrift {
  const sizes = { referenceSize: ref.length, currentSize: cur.length };
  const byPValue = (statistic: number, pValue: number, threshold: number): FeatureDrift => ({
    feature,
    test,
    statistic,
    pValue,
    score: pValue,
    threshold,
    drifted: pValue < threshold,
    ...sizes,
  });
  const byDistance = (statistic: number, threshold: number): FeatureDrift => ({
    feature,
    test,
    statistic,
    pValue: null,
    score: statistic,
    threshold,
    drifted: statistic >= threshold,
    ...sizes,
  });
  switch (test) {
    case "ks": {
      const r = ks2samp(ref, cur);
      return byPValue(r.statistic, r.pValue, opts.ksPValue);
    }
    case "chi2": {
      const [r, c] = valueCounts(ref, cur);
      // One value only (in both samples together): nothing can have shifted.
      if (r.length < 2) return byPValue(0, 1, opts.chi2PValue);
      const res = chi2Contingency([r, c]);
      return byPValue(res.statistic, res.pValue, opts.chi2PValue);
    }
    case "jensenshannon": {
      const distinct = new Set(ref).size <= opts.maxCategoricalValues;
      const d = distinct ? jensenShannonDistance(...valueCounts(ref, cur)) : jensenShannonSamples(ref, cur, opts.bins);
      return byDistance(d, opts.jensenShannonThreshold);
    }
    case "wasserstein":
      return byDistance(normalisedWasserstein(ref, cur), opts.wassersteinThreshold);
    case "psi":
      return byDistance(psi(ref, cur, opts.bins).statistic, opts.psiThreshold);
  }
}

/** Counts of each distinct value (over both samples) in the reference and the current sample. */
function valueCounts(ref: readonly number[], cur: readonly number[]): [number[], number[]] {
  const values = [...new Set([...ref, ...cur])].sort((a, b) => a - b);
  const index = new Map(values.map((v, i) => [v, i]));
  const r = new Array<number>(values.length).fill(0);
  const c = new Array<number>(values.length).fill(0);
  for (const v of ref) r[index.get(v)!]! += 1;
  for (const v of cur) c[index.get(v)!]! += 1;
  return [r, c];
}
