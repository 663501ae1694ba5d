/**
 * The drift tests by name, with what each one is elsewhere, so a result can be checked against SciPy or Evidently.
 * The names are the ones a drift policy uses (`test`, `tests` in the comparison options); modelled on Evidently's
 * stattest registry (a named test with its feature types, the kind of score and the default threshold).
 */
export { chi2Contingency, compareClassCounts } from "./chi2.ts";
export { jensenShannonDistance, jensenShannonSamples } from "./jensen-shannon.ts";
export { ks2samp } from "./ks-2samp.ts";
export { mmdTest } from "./mmd.ts";
export { psi } from "./psi.ts";
export { normalisedWasserstein, wassersteinDistance } from "./wasserstein.ts";

export interface StatTest {
  name: string;
  displayName: string;
  /** What the test compares: one numeric or categorical feature, class counts, or rows of embeddings. */
  input: "numeric" | "categorical" | "class-counts" | "embedding";
  /** A p-value drifts when below its threshold; a distance when at or above it. */
  score: "p_value" | "distance";
  defaultThreshold: number;
  /** The SciPy function the statistic reproduces (checked against it in the unit tests), or null. */
  scipy: string | null;
  /** The name of Evidently's stattest for the same thing, or null. */
  evidently: string | null;
}

export const FEATURE_TESTS = ["ks", "wasserstein", "psi", "jensenshannon", "chi2"] as const;
export type FeatureTest = (typeof FEATURE_TESTS)[number];

/** The per-feature tests, the ones a drift policy can name. */
export const FEATURE_STAT_TESTS: Readonly<Record<FeatureTest, StatTest>> = {
  ks: {
    name: "ks",
    displayName: "Kolmogorov–Smirnov (two-sample)",
    input: "numeric",
    score: "p_value",
    defaultThreshold: 0.05,
    scipy: "scipy.stats.ks_2samp (method='auto')",
    evidently: "ks",
  },
  wasserstein: {
    name: "wasserstein",
    displayName: "Wasserstein distance, normalised by the reference standard deviation",
    input: "numeric",
    score: "distance",
    defaultThreshold: 0.1,
    scipy: "scipy.stats.wasserstein_distance / std(reference)",
    evidently: "wasserstein",
  },
  psi: {
    name: "psi",
    displayName: "Population stability index",
    input: "numeric",
    score: "distance",
    defaultThreshold: 0.1,
    scipy: null,
    evidently: "psi",
  },
  jensenshannon: {
    name: "jensenshannon",
    displayName: "Jensen–Shannon distance",
    input: "categorical",
    score: "distance",
    defaultThreshold: 0.1,
    scipy: "scipy.spatial.distance.jensenshannon (base=2)",
    evidently: "jensenshannon",
  },
  chi2: {
    name: "chi2",
    displayName: "Chi-squared test of a contingency table",
    input: "categorical",
    score: "p_value",
    defaultThreshold: 0.05,
    scipy: "scipy.stats.chi2_contingency (Yates' correction when dof = 1)",
    evidently: "chisquare",
  },
};

/** The window-level tests, keyed by the name a drift verdict gives them. */
export const WINDOW_STAT_TESTS = {
  predicted_class: {
    name: "chi2",
    displayName: "Chi-squared test of predicted-class counts",
    input: "class-counts",
    score: "p_value",
    defaultThreshold: 0.05,
    scipy: "scipy.stats.chi2_contingency (Yates' correction when dof = 1)",
    evidently: "chisquare",
  },
  embedding: {
    name: "mmd",
    displayName: "Maximum mean discrepancy, Gaussian kernel, permutation p-value",
    input: "embedding",
    score: "p_value",
    defaultThreshold: 0.05,
    scipy: null,
    evidently: "empirical_mmd",
  },
} as const satisfies Readonly<Record<string, StatTest>>;
