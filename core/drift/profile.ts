import { z } from "zod";
import { seededRandom, shuffle } from "../util/random.ts";
import { quantileSorted } from "./stats/sorted.ts";
import { SightlineError } from "../errors.ts";

/**
 * The reference profile stored with each model version: what the model's inputs and outputs looked like on its
 * held-out data, so windows of served predictions can be compared with it (issue 6: `compareFeatures` on the
 * feature samples, chi-squared on the class counts, MMD on the embedding sample).
 *
 * Stored as JSON. Its samples (scalar values and embedding rows) are float32, little-endian, base64-encoded —
 * about 5.3 kB per 1,000 values instead of ~17 kB as decimals; in memory (after `parseProfile`) they are plain
 * number arrays. `ReferenceProfileSchema` is a zod codec: `parse` reads the stored form, `z.encode` (used by
 * `serializeProfile`) writes it.
 *
 * Sampling: one seeded reservoir sample of rows (Algorithm R, mulberry32) is shared by every scalar feature and
 * the confidence, so `features[a].sample[i]`, `features[b].sample[i]` and `confidence.sample[i]` come from the same
 * image (kept in input order). The embedding sample is a seeded random subset of those rows.
 */
export const PROFILE_SCHEMA = "sightline.profile/v1";

/** Quantile levels stored for every scalar (numpy's default linear interpolation over all values). */
export const PROFILE_QUANTILES: readonly number[] = [
  0, 0.01, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99, 1,
];
export const MAX_SAMPLE = 1000;
export const MAX_EMBEDDING_SAMPLE = 500;
export const DEFAULT_HISTOGRAM_BINS = 20;

// ---------------------------------------------------------------------------------------------------------------
// Encoding of float32 arrays

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function encodeFloat32(values: readonly number[] | Float32Array): string {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return Buffer.from(bytes).toString("base64");
}

function decodeFloat32(text: string): number[] {
  const bytes = Buffer.from(text, "base64");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<number>(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

const Float32Base64 = z
  .string()
  .regex(BASE64, "not base64")
  .refine((s) => Buffer.byteLength(s, "base64") % 4 === 0, {
    message: "length is not a whole number of float32 values",
    abort: true,
  });

/** A float32 sample: base64 (little-endian) when stored, finite numbers in memory. */
const Float32Sample = z.codec(Float32Base64, z.array(z.number()), {
  decode: (text) => decodeFloat32(text),
  encode: (values) => encodeFloat32(values),
});

// ---------------------------------------------------------------------------------------------------------------
// Schema

const Count = z.number().int().nonnegative();

export const HistogramSchema = z
  .object({
    /** Bin edges, ascending: bins are [e_i, e_i+1), the last one closed (numpy.histogram). */
    edges: z.array(z.number()).min(2),
    counts: z.array(Count),
  })
  .strict()
  .refine((h) => h.counts.length === h.edges.length - 1, {
    message: "a histogram needs one count per pair of edges",
    abort: true,
  })
  .refine((h) => h.edges.every((e, i) => i === 0 || e > h.edges[i - 1]!), {
    message: "histogram edges must increase",
    abort: true,
  });

export const NumericSummarySchema = z
  .object({
    count: z.number().int().positive(),
    mean: z.number(),
    /** Population standard deviation (ddof = 0). */
    std: z.number().nonnegative(),
    /** Values at the profile's `quantileLevels`. */
    quantiles: z.array(z.number()).min(1),
    histogram: HistogramSchema,
    /** Seeded reservoir sample, float32 (≤ MAX_SAMPLE values). */
    sample: Float32Sample.pipe(z.array(z.number()).min(1).max(MAX_SAMPLE)),
  })
  .strict();

const EmbeddingSampleSchema = z.codec(
  z
    .object({
      dim: z.number().int().positive(),
      /** Rows the profile was built from (not the sample size). */
      count: z.number().int().positive(),
      encoding: z.literal("float32-le-base64"),
      /** Sampled rows, row-major. */
      data: Float32Base64,
    })
    .strict()
    .refine((e) => Buffer.byteLength(e.data, "base64") % (4 * e.dim) === 0, {
      message: "embedding data is not a whole number of rows",
      abort: true,
    }),
  z
    .object({
      dim: z.number().int().positive(),
      count: z.number().int().positive(),
      sample: z.array(z.array(z.number())).min(1).max(MAX_EMBEDDING_SAMPLE),
    })
    .strict(),
  {
    decode: ({ dim, count, data }) => {
      const flat = decodeFloat32(data);
      const sample: number[][] = [];
      for (let r = 0; r < flat.length; r += dim) sample.push(flat.slice(r, r + dim));
      return { dim, count, sample };
    },
    encode: ({ dim, count, sample }) => ({
      dim,
      count,
      encoding: "float32-le-base64" as const,
      data: encodeFloat32(sample.flat()),
    }),
  },
);

export const ReferenceProfileSchema = z
  .object({
    schema: z.literal(PROFILE_SCHEMA),
    /** Images the profile was built from. */
    count: z.number().int().positive(),
    seed: z.number().int(),
    quantileLevels: z.array(z.number().min(0).max(1)).min(1),
    /** Image features by name (core/imaging FEATURE_NAMES), in that order. */
    features: z.record(z.string().min(1), NumericSummarySchema),
    /** Predicted-class distribution: counts[i] images predicted as classes[i]. */
    predictions: z.object({ classes: z.array(z.string()).min(1), counts: z.array(Count) }).strict(),
    /** Top-class confidence; its histogram has DEFAULT_HISTOGRAM_BINS equal bins over [0, 1], for every profile. */
    confidence: NumericSummarySchema,
    /** Penultimate-layer embeddings; absent for a model without an embedding output. */
    embeddings: EmbeddingSampleSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    // Cross-field checks only once every field is valid on its own (zod runs refinements after non-fatal issues).
    if (ctx.issues.length > 0) return;
    const issue = (message: string, path: (string | number)[]): void => ctx.addIssue({ code: "custom", message, path });
    const summaries: [string[], z.output<typeof NumericSummarySchema>][] = [
      ...Object.entries(p.features).map(([name, s]): [string[], z.output<typeof NumericSummarySchema>] => [
        ["features", name],
        s,
      ]),
      [["confidence"], p.confidence],
    ];
    const sampleSizes = new Set<number>();
    for (const [path, s] of summaries) {
      if (s.count !== p.count) issue(`count ${s.count} differs from the profile's ${p.count}`, [...path, "count"]);
      if (s.quantiles.length !== p.quantileLevels.length)
        issue(`${s.quantiles.length} quantiles for ${p.quantileLevels.length} levels`, [...path, "quantiles"]);
      if (s.histogram.counts.reduce((a, b) => a + b, 0) !== s.count)
        issue("histogram counts do not add up to count", [...path, "histogram"]);
      if (s.sample.length > s.count) issue("sample larger than count", [...path, "sample"]);
      sampleSizes.add(s.sample.length);
    }
    if (sampleSizes.size > 1)
      issue("scalar samples must all have the same length (one shared sample of rows)", ["features"]);
    if (new Set(p.predictions.classes).size !== p.predictions.classes.length)
      issue("class names must be unique", ["predictions", "classes"]);
    if (p.predictions.counts.length !== p.predictions.classes.length)
      issue("one count per class", ["predictions", "counts"]);
    else if (p.predictions.counts.reduce((a, b) => a + b, 0) !== p.count)
      issue("class counts do not add up to count", ["predictions", "counts"]);
    if (p.embeddings && p.embeddings.count !== p.count)
      issue(`embedding count ${p.embeddings.count} differs from the profile's ${p.count}`, ["embeddings", "count"]);
    if (p.embeddings && p.embeddings.sample.length > p.count)
      issue("embedding sample larger than count", ["embeddings", "sample"]);
  });

/** A profile in memory (samples decoded). */
export type ReferenceProfile = z.output<typeof ReferenceProfileSchema>;
/** A profile as stored (JSON; samples base64). */
export type StoredReferenceProfile = z.input<typeof ReferenceProfileSchema>;
export type NumericSummary = z.output<typeof NumericSummarySchema>;

export class ProfileInputError extends SightlineError {
  constructor(message: string) {
    super("invalid", "profile_input_invalid", message);
  }
}

/** Reads a stored profile (JSON text, bytes, or an already-parsed object) and validates it. */
export function parseProfile(json: string | Uint8Array | unknown): ReferenceProfile {
  const value: unknown =
    typeof json === "string"
      ? JSON.parse(json)
      : json instanceof Uint8Array
        ? JSON.parse(Buffer.from(json).toString("utf8"))
        : json;
  return ReferenceProfileSchema.parse(value);
}

/**
 * The stored form (JSON text) of a profile, samples base64-encoded. Write profiles with this, not with
 * `JSON.stringify(profile)`: that would store the samples as decimal arrays, which `parseProfile` refuses.
 */
export function serializeProfile(profile: ReferenceProfile): string {
  return JSON.stringify(z.encode(ReferenceProfileSchema, profile));
}

// ---------------------------------------------------------------------------------------------------------------
// Builder

export interface BuildProfileInput {
  /** Feature name → one value per image (all the same length N). */
  features: Readonly<Record<string, readonly number[] | Float64Array | Float32Array>>;
  /** Predicted class index per image. */
  predictedIndex: readonly number[] | Int32Array;
  /** Top-class probability per image, in [0, 1]. */
  confidence: readonly number[] | Float32Array | Float64Array;
  /** N × embeddingDim, row-major, or N rows; omitted (with embeddingDim) for a model without an embedding. */
  embeddings?: Float32Array | readonly (readonly number[])[];
  embeddingDim?: number;
  classes: readonly string[];
  seed: number;
  /** Rows in the shared scalar sample (default and maximum MAX_SAMPLE). */
  sampleSize?: number;
  /** Rows in the embedding sample (default and maximum MAX_EMBEDDING_SAMPLE). */
  embeddingSampleSize?: number;
  /** Bins of the feature histograms (equal width between min and max; default 20). */
  histogramBins?: number;
}

export function buildProfile(input: BuildProfileInput): ReferenceProfile {
  const { features, predictedIndex, confidence, embeddings, embeddingDim: dim, classes, seed } = input;
  const n = predictedIndex.length;
  const sampleSize = Math.min(input.sampleSize ?? MAX_SAMPLE, MAX_SAMPLE);
  const embeddingSampleSize = Math.min(
    input.embeddingSampleSize ?? MAX_EMBEDDING_SAMPLE,
    MAX_EMBEDDING_SAMPLE,
    sampleSize,
  );
  const bins = input.histogramBins ?? DEFAULT_HISTOGRAM_BINS;

  if (n === 0) throw new ProfileInputError("no images to profile");
  if (!Number.isInteger(seed)) throw new ProfileInputError(`seed must be an integer, got ${seed}`);
  if (!(Number.isInteger(sampleSize) && sampleSize >= 1))
    throw new ProfileInputError(`sampleSize must be a positive integer`);
  if (!(Number.isInteger(embeddingSampleSize) && embeddingSampleSize >= 1))
    throw new ProfileInputError(`embeddingSampleSize must be a positive integer`);
  if (!(Number.isInteger(bins) && bins >= 1)) throw new ProfileInputError(`histogramBins must be a positive integer`);
  if (classes.length === 0 || new Set(classes).size !== classes.length)
    throw new ProfileInputError("classes must be non-empty and unique");
  if (embeddings !== undefined && !(dim !== undefined && Number.isInteger(dim) && dim >= 1))
    throw new ProfileInputError(`embeddingDim must be a positive integer, got ${dim}`);
  const names = Object.keys(features);
  if (names.length === 0) throw new ProfileInputError("no features");
  for (const name of names) checkValues(`feature ${name}`, features[name]!, n);
  checkValues("confidence", confidence, n);
  if (confidence.some((c) => c < 0 || c > 1)) throw new ProfileInputError("confidence values must lie in [0, 1]");
  const counts = new Array<number>(classes.length).fill(0);
  for (let i = 0; i < n; i++) {
    const c = predictedIndex[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= classes.length)
      throw new ProfileInputError(`predicted index ${c} of image ${i} is not a class index in [0, ${classes.length})`);
    counts[c]! += 1;
  }
  const row = embeddings === undefined ? undefined : embeddingRows(embeddings, dim!, n);

  const random = seededRandom(seed);
  const rows = reservoir(n, sampleSize, random);
  const embeddingPick = [...rows];
  shuffle(embeddingPick, random);
  const embeddingRowsPicked = embeddingPick.slice(0, embeddingSampleSize).sort((a, b) => a - b);

  const summaries: Record<string, NumericSummary> = {};
  for (const name of names) summaries[name] = summarise(features[name]!, rows, rangeEdges(features[name]!, bins));
  return {
    schema: PROFILE_SCHEMA,
    count: n,
    seed,
    quantileLevels: [...PROFILE_QUANTILES],
    features: summaries,
    predictions: { classes: [...classes], counts },
    confidence: summarise(confidence, rows, linspace(0, 1, DEFAULT_HISTOGRAM_BINS)),
    ...(row
      ? { embeddings: { dim: dim!, count: n, sample: embeddingRowsPicked.map((r) => Array.from(row(r), Math.fround)) } }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers for consumers

/** The scalar samples by feature name, as `compareFeatures` (core/drift/compare.ts) takes its reference. */
export function referenceSamples(profile: ReferenceProfile): Record<string, number[]> {
  return Object.fromEntries(Object.entries(profile.features).map(([name, s]) => [name, s.sample]));
}

/** Predicted-class counts by class name, as `compareClassCounts` (core/drift/stats/chi2.ts) takes them. */
export function classCounts(profile: ReferenceProfile): Record<string, number> {
  return Object.fromEntries(profile.predictions.classes.map((c, i) => [c, profile.predictions.counts[i]!]));
}

// ---------------------------------------------------------------------------------------------------------------

function checkValues(what: string, values: ArrayLike<number>, n: number): void {
  if (values.length !== n) throw new ProfileInputError(`${what}: ${values.length} values for ${n} images`);
  for (let i = 0; i < n; i++)
    if (!Number.isFinite(values[i]!)) throw new ProfileInputError(`${what}: value ${i} is not finite`);
}

function embeddingRows(
  embeddings: Float32Array | readonly (readonly number[])[],
  dim: number,
  n: number,
): (r: number) => ArrayLike<number> {
  if (embeddings instanceof Float32Array) {
    if (embeddings.length !== n * dim)
      throw new ProfileInputError(`embeddings: ${embeddings.length} values for ${n} images × ${dim}`);
    if (!embeddings.every(Number.isFinite)) throw new ProfileInputError("embeddings: a value is not finite");
    return (r) => embeddings.subarray(r * dim, (r + 1) * dim);
  }
  if (embeddings.length !== n) throw new ProfileInputError(`embeddings: ${embeddings.length} rows for ${n} images`);
  embeddings.forEach((v, i) => {
    if (v.length !== dim) throw new ProfileInputError(`embeddings: row ${i} has ${v.length} values, expected ${dim}`);
    if (!v.every(Number.isFinite)) throw new ProfileInputError(`embeddings: row ${i} holds a non-finite value`);
  });
  return (r) => embeddings[r]!;
}

/** Algorithm R: a uniform sample of min(k, n) indices of 0…n−1, returned ascending. */
function reservoir(n: number, k: number, random: () => number): number[] {
  const size = Math.min(n, k);
  const picked = Array.from({ length: size }, (_, i) => i);
  for (let i = size; i < n; i++) {
    const j = Math.floor(random() * (i + 1));
    if (j < size) picked[j] = i;
  }
  return picked.sort((a, b) => a - b);
}

function summarise(values: ArrayLike<number>, rows: readonly number[], edges: number[]): NumericSummary {
  const n = values.length;
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (sorted[i]! - mean) ** 2;
  return {
    count: n,
    mean,
    std: Math.sqrt(ss / n),
    quantiles: PROFILE_QUANTILES.map((q) => quantileSorted(sorted, q)),
    histogram: { edges, counts: histogramCounts(sorted, edges) },
    sample: rows.map((r) => Math.fround(values[r]!)),
  };
}

/** numpy.linspace(lo, hi, bins + 1). */
function linspace(lo: number, hi: number, bins: number): number[] {
  const step = (hi - lo) / bins;
  return Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * step));
}

/** numpy.histogram's default range: [min, max], widened by ±0.5 when all values are equal. */
function rangeEdges(values: ArrayLike<number>, bins: number): number[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]!);
    hi = Math.max(hi, values[i]!);
  }
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  return linspace(lo, hi, bins);
}

/** Counts of ascending values in [e_i, e_i+1), the last bin closed; values outside the edges are not counted. */
function histogramCounts(sorted: Float64Array, edges: number[]): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0);
  let b = 0;
  const last = edges.length - 2;
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i]!;
    if (v < edges[0]! || v > edges[last + 1]!) continue;
    while (b < last && v >= edges[b + 1]!) b++;
    counts[b]! += 1;
  }
  return counts;
}
