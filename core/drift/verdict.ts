import { z } from "zod";
import type { EventData } from "../events/schemas.ts";
import { compareClassCounts } from "./stats/chi2.ts";
import { CompareOptionsSchema, compareFeatures, type FeatureDrift } from "./compare.ts";
import { mmdTest } from "./stats/mmd.ts";
import type { ReferenceProfile } from "./profile.ts";

export type PredictionRecord = EventData<"sightline.predictions.logged">["records"][number];

/**
 * How a window of served predictions is judged against a version's reference profile. Each test is one vote: each
 * image feature and the confidence (Evidently's per-feature choice, `features`), the predicted-class distribution
 * (chi-squared) and the embeddings (MMD). A feature that holds one value in both samples, or exactly the values of a
 * feature before it (a greyscale image's mean_r/g/b are its brightness), is skipped: it adds a vote, not evidence.
 * The window drifts when at least `driftShare` of the votes drift (Evidently's dataset drift), or when one test's
 * p-value is below `familyWisePValue` divided by the number of p-value tests (Alibi Detect's Bonferroni rule: a
 * strong shift in one signal, e.g. sharpness under sensor noise, is drift even if the others hold). Severity is
 * the share of drifted votes.
 */
export const DetectionOptionsSchema = z
  .object({
    features: CompareOptionsSchema.default(CompareOptionsSchema.parse({})),
    classPValue: z.number().gt(0).lt(1).default(0.05),
    embedding: z
      .object({
        enabled: z.boolean().default(true),
        pValue: z.number().gt(0).lt(1).default(0.05),
        permutations: z.number().int().min(10).max(10_000).default(100),
        /** Fewer current embeddings than this: the embedding test is skipped (reported as such). */
        minRows: z.number().int().min(2).default(20),
        seed: z.number().int().default(0),
      })
      .strict()
      .default({ enabled: true, pValue: 0.05, permutations: 100, minRows: 20, seed: 0 }),
    driftShare: z.number().gt(0).max(1).default(0.5),
    /** Bonferroni rule's family-wise level; 0 turns the rule off. */
    familyWisePValue: z.number().min(0).lt(1).default(0.05),
  })
  .strict();
export type DetectionOptions = z.input<typeof DetectionOptionsSchema>;

/** One test of a window: a feature test's outcome (compare.ts), or the class or embedding test in the same shape. */
export type TestOutcome = Omit<FeatureDrift, "feature" | "test"> & {
  name: string;
  test: string;
  detail?: Record<string, unknown>;
};

export interface DriftVerdict {
  tests: TestOutcome[];
  skipped: { name: string; reason: string }[];
  drift: boolean;
  /** Share of tests that drifted, 0–1. */
  severity: number;
  driftedTests: string[];
  /** Which rule decided: the share of drifted tests, the Bonferroni-corrected smallest p-value, or none. */
  reason: "share" | "bonferroni" | null;
  threshold: number;
}

/** Judges a window of prediction records against a reference profile. Pure: same inputs, same verdict. */
export function judgeWindow(
  profile: ReferenceProfile,
  records: readonly PredictionRecord[],
  options: DetectionOptions = {},
): DriftVerdict {
  if (records.length === 0) throw new RangeError("judgeWindow: an empty window");
  const opts = DetectionOptionsSchema.parse(options);
  const skipped: DriftVerdict["skipped"] = [];

  // Scalars: the profile's shared row sample of each feature, and the confidence, against the window's values.
  const reference: Record<string, number[]> = {};
  const current: Record<string, number[]> = {};
  for (const [name, summary] of Object.entries(profile.features)) {
    const values = records
      .map((r) => r.features[name])
      .filter((v): v is number => typeof v === "number" && Number.isFinite(v));
    if (values.length === 0) {
      skipped.push({ name, reason: "no record in the window carries this feature" });
      continue;
    }
    const ref = summary.sample;
    if (ref.every((v) => v === ref[0]) && values.every((v) => v === ref[0])) {
      skipped.push({ name, reason: `constant (${ref[0]}) in both samples` });
      continue;
    }
    const twin = Object.keys(reference).find(
      (other) => sameValues(reference[other]!, ref) && sameValues(current[other]!, values),
    );
    if (twin !== undefined) {
      skipped.push({ name, reason: `same values as ${twin} in both samples` });
      continue;
    }
    reference[name] = ref;
    current[name] = values;
  }
  reference.confidence = profile.confidence.sample;
  current.confidence = records.map((r) => r.confidence);
  const tests: TestOutcome[] = compareFeatures(reference, current, opts.features).features.map(fromFeature);

  const refCounts = Object.fromEntries(
    profile.predictions.classes.map((c, i) => [c, profile.predictions.counts[i] ?? 0]),
  );
  const curCounts: Record<string, number> = {};
  for (const r of records) curCounts[r.label] = (curCounts[r.label] ?? 0) + 1;
  const chi2 = compareClassCounts(refCounts, curCounts);
  tests.push({
    name: "predicted_class",
    test: "chi2",
    statistic: chi2.statistic,
    pValue: chi2.pValue,
    score: chi2.pValue,
    threshold: opts.classPValue,
    drifted: chi2.pValue < opts.classPValue,
    referenceSize: profile.count,
    currentSize: records.length,
    detail: { dof: chi2.dof, reference: refCounts, current: curCounts },
  });

  const embeddings = records.flatMap((r) => (r.embedding ? [r.embedding] : []));
  if (!opts.embedding.enabled) skipped.push({ name: "embedding", reason: "disabled" });
  else if (!profile.embeddings)
    skipped.push({ name: "embedding", reason: "the model has no embedding output (sightline.json names none)" });
  else if (embeddings.length < opts.embedding.minRows)
    skipped.push({
      name: "embedding",
      reason: `${embeddings.length} embeddings in the window; the test needs ${opts.embedding.minRows}`,
    });
  else if (embeddings[0]!.length !== profile.embeddings.dim)
    skipped.push({
      name: "embedding",
      reason: `window embeddings have ${embeddings[0]!.length} dimensions, the profile ${profile.embeddings.dim}`,
    });
  else {
    const mmd = mmdTest(profile.embeddings.sample, embeddings, {
      permutations: opts.embedding.permutations,
      seed: opts.embedding.seed,
    });
    tests.push({
      name: "embedding",
      test: "mmd",
      statistic: mmd.statistic,
      pValue: mmd.pValue,
      score: mmd.pValue,
      threshold: opts.embedding.pValue,
      drifted: mmd.pValue < opts.embedding.pValue,
      referenceSize: profile.embeddings.sample.length,
      currentSize: embeddings.length,
      detail: { bandwidth: mmd.bandwidth, permutations: mmd.permutations },
    });
  }

  const driftedTests = tests.filter((t) => t.drifted).map((t) => t.name);
  const severity = driftedTests.length / tests.length;
  const pValues = tests.flatMap((t) => (t.pValue === null ? [] : [t.pValue]));
  const bonferroni =
    opts.familyWisePValue > 0 && pValues.length > 0 && Math.min(...pValues) < opts.familyWisePValue / pValues.length;
  const reason = severity >= opts.driftShare ? "share" : bonferroni ? "bonferroni" : null;
  return { tests, skipped, drift: reason !== null, severity, driftedTests, reason, threshold: opts.driftShare };
}

function sameValues(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function fromFeature(f: FeatureDrift): TestOutcome {
  const { feature, ...rest } = f;
  return { name: feature, ...rest };
}
