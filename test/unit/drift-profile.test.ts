import { readdirSync, readFileSync } from "node:fs";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { compareClassCounts } from "../../core/drift/stats/chi2.ts";
import { compareFeatures } from "../../core/drift/compare.ts";
import { mmdTest } from "../../core/drift/stats/mmd.ts";
import {
  buildProfile,
  classCounts,
  MAX_EMBEDDING_SAMPLE,
  MAX_SAMPLE,
  parseProfile,
  PROFILE_QUANTILES,
  ProfileInputError,
  referenceSamples,
  ReferenceProfileSchema,
  serializeProfile,
} from "../../core/drift/profile.ts";
import type { BuildProfileInput } from "../../core/drift/profile.ts";
import { seededRandom } from "../../core/util/random.ts";
import { FEATURE_NAMES, imageFeatures } from "../../core/imaging/features.ts";

const CLASSES = ["a", "b", "c", "d"];

function normal(random: () => number, mean = 0, sd = 1): number {
  return mean + sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** N synthetic images: two features, predictions, confidences and D-dimensional embeddings. */
function synthetic(n: number, dim: number, seed = 1, shift = 0): BuildProfileInput {
  const random = seededRandom(seed);
  const embeddings = new Float32Array(n * dim);
  for (let i = 0; i < embeddings.length; i++) embeddings[i] = normal(random, shift);
  return {
    features: {
      brightness: Array.from({ length: n }, () => normal(random, 0.3 + shift, 0.05)),
      width: Array.from({ length: n }, () => 28),
    },
    predictedIndex: Array.from({ length: n }, () => Math.floor(random() * CLASSES.length)),
    confidence: Array.from({ length: n }, () => 0.25 + 0.75 * random()),
    embeddings,
    embeddingDim: dim,
    classes: CLASSES,
    seed: 42,
  };
}

describe("buildProfile", () => {
  it("is deterministic for a seed and samples differently for another seed", () => {
    const input = synthetic(3000, 8);
    const a = serializeProfile(buildProfile(input));
    expect(serializeProfile(buildProfile(input))).toBe(a);
    const other = buildProfile({ ...input, seed: 43 });
    expect(other.features.brightness!.sample).not.toEqual(buildProfile(input).features.brightness!.sample);
    // The summary statistics use every value, so they do not depend on the seed.
    expect(other.features.brightness!.quantiles).toEqual(buildProfile(input).features.brightness!.quantiles);
  });

  it("computes count, mean, std, quantiles and histogram exactly on known data", () => {
    // 0, 1, …, 100: mean 50, population std √850, quantile q = 100 q.
    const values = Array.from({ length: 101 }, (_, i) => 100 - i);
    const p = buildProfile({
      features: { x: values },
      predictedIndex: values.map((v) => v % 2),
      confidence: values.map((v) => v / 100),
      embeddings: values.map((v) => [v, -v]),
      embeddingDim: 2,
      classes: ["even", "odd"],
      seed: 1,
      histogramBins: 4,
    });
    const x = p.features.x!;
    expect(x.count).toBe(101);
    expect(x.mean).toBe(50);
    expect(x.std).toBeCloseTo(Math.sqrt(850), 12);
    expect(p.quantileLevels).toEqual(PROFILE_QUANTILES);
    x.quantiles.forEach((v, i) => expect(v).toBeCloseTo(100 * PROFILE_QUANTILES[i]!, 10));
    expect(x.histogram).toEqual({ edges: [0, 25, 50, 75, 100], counts: [25, 25, 25, 26] });
    expect(p.predictions).toEqual({ classes: ["even", "odd"], counts: [51, 50] });
    expect(p.confidence.histogram.edges).toHaveLength(21);
    expect(p.confidence.histogram.counts.reduce((s, c) => s + c, 0)).toBe(101);
    // Edges as numpy.linspace: 19 × 0.05 = 0.9500000000000001, so 0.95 falls in the bin below; the last holds 0.96 … 1.
    expect(p.confidence.histogram.counts[19]).toBe(5);
    expect(p.confidence.histogram.counts[0]).toBe(5); // 0 … 0.04
    // Fewer images than the sample size: every row is sampled, in input order.
    expect(x.sample).toEqual(values);
    expect(p.embeddings!.sample).toHaveLength(101);
    expect(p.embeddings!.sample[0]).toEqual([100, -100]);
  });

  it("gives a constant feature one widened histogram bin range, like numpy", () => {
    const p = buildProfile({ ...synthetic(50, 2), histogramBins: 2 });
    expect(p.features.width!.histogram).toEqual({ edges: [27.5, 28, 28.5], counts: [0, 50] });
    expect(p.features.width!.std).toBe(0);
  });

  it("keeps reservoir samples within their size limits, drawn from the data, aligned across features", () => {
    const input = synthetic(10_000, 16);
    const p = buildProfile(input);
    const brightness = p.features.brightness!.sample;
    expect(brightness).toHaveLength(MAX_SAMPLE);
    expect(p.confidence.sample).toHaveLength(MAX_SAMPLE);
    expect(p.embeddings!.sample).toHaveLength(MAX_EMBEDDING_SAMPLE);
    // Membership (samples are float32-rounded) and alignment: sample position i is the same image for every scalar.
    const source = input.features.brightness as number[];
    const confidence = input.confidence as number[];
    const rowOf = new Map(source.map((v, i) => [Math.fround(v), i]));
    brightness.forEach((v, i) => {
      const row = rowOf.get(v);
      expect(row, `sample value ${v}`).toBeDefined();
      expect(p.confidence.sample[i]).toBe(Math.fround(confidence[row!]!));
    });
    // Rows are distinct and in input order.
    const rows = brightness.map((v) => rowOf.get(v)!);
    expect(new Set(rows).size).toBe(rows.length);
    expect(rows).toEqual([...rows].sort((a, b) => a - b));
    // Each embedding row is a row of the input.
    const emb = input.embeddings as Float32Array;
    for (const r of p.embeddings!.sample.slice(0, 20)) {
      const i = (emb as Float32Array).indexOf(r[0]!) / 16;
      expect(Array.from(emb.subarray(i * 16, i * 16 + 16))).toEqual(r);
    }
    // A uniform sample: its mean is close to the population mean.
    expect(brightness.reduce((s, v) => s + v, 0) / brightness.length).toBeCloseTo(p.features.brightness!.mean, 2);
    // Smaller samples on request.
    const small = buildProfile({ ...input, sampleSize: 100, embeddingSampleSize: 30 });
    expect(small.features.width!.sample).toHaveLength(100);
    expect(small.embeddings!.sample).toHaveLength(30);
  });

  it("rejects inconsistent input", () => {
    const ok = synthetic(10, 3);
    expect(() => buildProfile({ ...ok, predictedIndex: [] })).toThrow(ProfileInputError);
    expect(() => buildProfile({ ...ok, features: { x: [1, 2] } })).toThrow(/2 values for 10 images/);
    expect(() => buildProfile({ ...ok, predictedIndex: ok.predictedIndex.map(() => 4) })).toThrow(/not a class index/);
    expect(() => buildProfile({ ...ok, confidence: ok.confidence.map(() => 1.5) })).toThrow(/\[0, 1\]/);
    expect(() => buildProfile({ ...ok, embeddings: new Float32Array(29) })).toThrow(/embeddings/);
    expect(() => buildProfile({ ...ok, features: { x: Array.from({ length: 10 }, () => NaN) } })).toThrow(/not finite/);
  });
});

describe("stored form", () => {
  it("round-trips through JSON and zod, and stays small (10,000 images, D = 128)", () => {
    const p = buildProfile(synthetic(10_000, 128));
    const json = serializeProfile(p);
    expect(parseProfile(json)).toEqual(p);
    expect(parseProfile(new TextEncoder().encode(json))).toEqual(p);
    const stored = JSON.parse(json) as {
      embeddings: { encoding: string; data: string };
      features: Record<string, { sample: unknown }>;
    };
    expect(stored.embeddings.encoding).toBe("float32-le-base64");
    expect(typeof stored.features.brightness!.sample).toBe("string");
    // ~2 kB of summaries, 2 × 5.3 kB of scalar samples, 500 × 128 float32 = 341 kB of embeddings in base64.
    expect(json.length).toBeLessThan(360_000);
  });

  it("refuses a profile that does not hold together", () => {
    const stored = JSON.parse(serializeProfile(buildProfile(synthetic(200, 4)))) as Record<string, unknown> & {
      predictions: { counts: number[] };
      embeddings: { data: string };
      features: Record<string, { quantiles: number[] }>;
    };
    expect(() => parseProfile({ ...stored, schema: "sightline.profile/v2" })).toThrow();
    expect(() => parseProfile({ ...stored, extra: 1 })).toThrow();
    expect(() =>
      parseProfile({
        ...stored,
        predictions: { ...stored.predictions, counts: stored.predictions.counts.map(() => 0) },
      }),
    ).toThrow(/add up/);
    expect(() =>
      parseProfile({ ...stored, embeddings: { ...stored.embeddings, data: stored.embeddings.data.slice(8) } }),
    ).toThrow(/whole number/);
    expect(() =>
      parseProfile({
        ...stored,
        features: { ...stored.features, brightness: { ...stored.features.brightness!, quantiles: [1] } },
      }),
    ).toThrow(/quantiles/);
    expect(() => parseProfile("{")).toThrow();
    expect(ReferenceProfileSchema.safeParse(stored).success).toBe(true);
  });
});

describe("use for drift detection (issue 6)", () => {
  const SAMPLE = new URL("../../data/sample/", import.meta.url);
  function images(split: string, perClass: number): Buffer[] {
    const out: Buffer[] = [];
    for (const cls of readdirSync(new URL(`${split}/`, SAMPLE)).sort()) {
      const dir = new URL(`${split}/${cls}/`, SAMPLE);
      for (const f of readdirSync(dir).sort().slice(0, perClass)) out.push(readFileSync(new URL(f, dir)));
    }
    return out;
  }
  async function featureTable(data: Buffer[]): Promise<Record<string, number[]>> {
    const table: Record<string, number[]> = Object.fromEntries(FEATURE_NAMES.map((f) => [f, []]));
    for (const d of data) {
      const f = await imageFeatures(d);
      for (const name of FEATURE_NAMES) table[name]!.push(f[name]);
    }
    return table;
  }

  it("compareFeatures on profile samples of real images: no drift on held-out images, drift on brightened ones", async () => {
    const train = images("train", 60); // 600 reference images
    const n = train.length;
    const features = await featureTable(train);
    const random = seededRandom(9);
    const p = parseProfile(
      serializeProfile(
        buildProfile({
          features,
          predictedIndex: Array.from({ length: n }, (_, i) => i % 10),
          confidence: Array.from({ length: n }, () => random()),
          embeddings: Array.from({ length: n }, () => [random(), random()]),
          embeddingDim: 2,
          classes: Array.from({ length: 10 }, (_, i) => `c${i}`),
          seed: 7,
        }),
      ),
    );
    const test = images("test", 20); // 200 current images
    const same = compareFeatures(referenceSamples(p), await featureTable(test));
    expect(same.dataset.drifted).toBe(false);
    expect(same.features.find((f) => f.feature === "brightness")!.drifted).toBe(false);

    const brighter = await Promise.all(test.map((d) => sharp(d).linear(1.3, 0).png().toBuffer()));
    const shifted = compareFeatures(referenceSamples(p), await featureTable(brighter));
    const brightness = shifted.features.find((f) => f.feature === "brightness")!;
    expect(brightness.test).toBe("ks");
    expect(brightness.drifted).toBe(true);
    expect(brightness.referenceSize).toBe(600);
    expect(shifted.dataset.drifted).toBe(true);
    // Size features are constant (28): tested as categorical, not drifted.
    expect(shifted.features.find((f) => f.feature === "width")).toMatchObject({ test: "chi2", drifted: false });
  });

  it("class counts feed chi-squared and the embedding sample feeds MMD", () => {
    const p = parseProfile(serializeProfile(buildProfile({ ...synthetic(2000, 4), embeddingSampleSize: 100 })));
    const current = synthetic(100, 4, 5, 1);
    const rows = Array.from({ length: 100 }, (_, i) =>
      Array.from((current.embeddings as Float32Array).subarray(i * 4, i * 4 + 4)),
    );
    expect(mmdTest(p.embeddings!.sample, rows, { permutations: 50, seed: 1 }).pValue).toBeLessThan(0.05);
    const skewed = { a: 500, b: 20, c: 20, d: 20 };
    expect(compareClassCounts(classCounts(p), skewed).pValue).toBeLessThan(0.05);
  });
});
