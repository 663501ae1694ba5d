import { availableParallelism } from "node:os";
import pLimit, { type LimitFunction } from "p-limit";
import type { BlobStore } from "../core/blobs/blob-store.ts";
import { seededRandom, shuffle } from "../core/util/random.ts";
import { perturbBatch, PERTURBATIONS, type Perturbation } from "../core/imaging/perturb.ts";
import { preprocess, type PreprocessSpec } from "../core/imaging/preprocess.ts";
import type { Robustness } from "../core/registry/robustness.ts";
import { topClass } from "../core/registry/scores.ts";
import type { SplitData } from "../core/datasets/training-data.ts";

export const DEFAULT_ROBUSTNESS_IMAGES = 1000;
/**
 * Images classified together: up to 256, fewer for large inputs, so that two chunks' inputs under every
 * perturbation (one classified while the next is prepared) stay within about 256 MB of floats.
 */
const chunkSize = (pixels: number): number =>
  Math.max(16, Math.min(256, Math.floor(32_000_000 / (PERTURBATIONS.length * pixels))));
/** Images perturbed together: enough to share the blur's sharp call, few enough to bound decoded source images. */
const PERTURB_BATCH = 16;

export interface RobustnessInput {
  blobs: BlobStore;
  /** The held-out split as loaded for evaluation: its `x` are the clean inputs, `files` the source images. */
  test: SplitData;
  spec: PreprocessSpec;
  /** Accuracy of the same model on the whole test split, as the evaluation found it (a cross-check, see below). */
  cleanAccuracy: number;
  /** The model under evaluation: n preprocessed inputs (n × pixels floats) → n × classes probabilities. */
  classify: (x: Float32Array, n: number) => Promise<Float32Array>;
  classes: number;
  seed: number;
  /** At most this many test images (a seeded subset when the split is larger); default 1,000. */
  maxImages?: number;
}

/**
 * Scores a model on its held-out test images under each perturbation (core/imaging/perturb.ts): the source bytes
 * are perturbed, then preprocessed exactly as serving preprocesses a request, then classified. Clean accuracy is
 * measured on the same images with the same `classify`, so each drop compares like with like. Runs in-process:
 * perturbBatch calls sharp about once per image, and perturbed PNGs the spec does not resize take the in-process
 * decoder.
 */
export async function robustnessReport(input: RobustnessInput): Promise<Robustness> {
  const { test, spec, classes: k } = input;
  const pixels = spec.width * spec.height * spec.channels;
  if (test.pixels !== pixels)
    throw new Error(
      `the test split holds ${test.pixels} floats per image; the spec ${spec.width}×${spec.height}×${spec.channels} makes ${pixels}`,
    );
  const indices = pickImages(test.n, input.maxImages ?? DEFAULT_ROBUSTNESS_IMAGES, input.seed);
  if (indices.length === 0) throw new Error("robustness needs at least one test image");
  const n = indices.length;
  const chunks: number[][] = [];
  const size = chunkSize(pixels);
  for (let start = 0; start < n; start += size) chunks.push(indices.slice(start, start + size));
  const labelsOf = (chunk: number[]): number[] => chunk.map((i) => test.y[i]!);

  let cleanCorrect = 0;
  for (const chunk of chunks) {
    const x = new Float32Array(chunk.length * pixels);
    chunk.forEach((i, j) => x.set(test.x.subarray(i * pixels, (i + 1) * pixels), j * pixels));
    cleanCorrect += await countCorrect(input, x, labelsOf(chunk), k, "clean");
  }
  const clean = cleanCorrect / n;
  // On the whole split the clean accuracy must be the evaluation's: otherwise `classify` is not the evaluated
  // model, or feeds it differently, and every number here would be about something else. (A little slack for
  // near-ties that another batching can flip.) Checked before the costly part.
  if (n === test.n && Math.abs(clean - input.cleanAccuracy) > Math.max(0.005, 2 / n)) {
    throw new Error(
      `robustness: classify gives accuracy ${clean.toFixed(4)} on the clean test split, the evaluation ${input.cleanAccuracy.toFixed(4)}; it must run the evaluated model on the split's inputs as they are`,
    );
  }

  // A few batches in flight per core keep sharp's threads busy while this thread does the rest.
  const limit = pLimit(2 * availableParallelism());
  const correct = Object.fromEntries(PERTURBATIONS.map((p) => [p, 0])) as Record<Perturbation, number>;
  // The next chunk is perturbed while this one is classified (the model's threads and sharp's then overlap).
  let next = perturbChunk(input, chunks[0]!, limit);
  for (let c = 0; c < chunks.length; c++) {
    const inputs = await next;
    if (c + 1 < chunks.length) {
      next = perturbChunk(input, chunks[c + 1]!, limit);
      next.catch(() => undefined); // awaited on the next turn; until then its failure must not count as unhandled
    }
    for (const p of PERTURBATIONS) correct[p] += await countCorrect(input, inputs[p], labelsOf(chunks[c]!), k, p);
  }

  const perturbations = Object.fromEntries(
    PERTURBATIONS.map((p) => {
      const accuracy = correct[p] / n;
      return [p, { accuracy, drop: round(clean - accuracy) }];
    }),
  ) as Robustness["perturbations"];
  return { images: n, clean, perturbations };
}

/** The model inputs of a chunk of test images under each perturbation. */
async function perturbChunk(
  input: RobustnessInput,
  chunk: number[],
  limit: LimitFunction,
): Promise<Record<Perturbation, Float32Array>> {
  const { test, spec } = input;
  const pixels = test.pixels;
  const perturbed = Object.fromEntries(
    PERTURBATIONS.map((p) => [p, new Float32Array(chunk.length * pixels)]),
  ) as Record<Perturbation, Float32Array>;
  const batches: Promise<void>[] = [];
  for (let start = 0; start < chunk.length; start += PERTURB_BATCH) {
    const part = chunk.slice(start, start + PERTURB_BATCH);
    batches.push(
      limit(async () => {
        const files = part.map((i) => fileOf(test, i));
        const sources = await Promise.all(files.map((f) => input.blobs.get(`sha256:${f.sha256}`)));
        let variants;
        try {
          variants = await perturbBatch(
            sources.map((bytes, j) => ({ bytes, seed: imageSeed(input.seed, files[j]!.sha256) })),
          );
        } catch (err) {
          throw new Error(
            `robustness: perturbing test images ${files.map((f) => f.path).join(", ")}: ${(err as Error).message}`,
            { cause: err },
          );
        }
        await Promise.all(
          variants.flatMap((v, j) =>
            PERTURBATIONS.map(async (p) => {
              const x = await preprocess(v[p], spec).catch((err: unknown) => {
                throw new Error(
                  `robustness: ${files[j]!.path} (${files[j]!.sha256.slice(0, 12)}…) under ${p} cannot be preprocessed: ${(err as Error).message}`,
                  { cause: err },
                );
              });
              perturbed[p].set(x, (start + j) * pixels);
            }),
          ),
        );
      }),
    );
  }
  await Promise.all(batches);
  return perturbed;
}

function fileOf(test: SplitData, i: number): SplitData["files"][number] {
  const file = test.files[i];
  if (!file)
    throw new Error(
      `robustness: test image ${i} has no source file (the split has ${test.files.length} files for ${test.n} images)`,
    );
  return file;
}

/** All of [0, n), or a seeded subset of `max` of them, in ascending order. */
function pickImages(n: number, max: number, seed: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (n <= max) return all;
  shuffle(all, seededRandom(seed));
  return all.slice(0, max).sort((a, b) => a - b);
}

/** The noise seed of one image: from the run's seed and the image's content, so it does not depend on the subset. */
function imageSeed(seed: number, sha256: string): number {
  return (seed ^ Number.parseInt(sha256.slice(0, 8), 16)) >>> 0;
}

/** A classify callback from a function that scores a whole split (classifySplit, predictSplit). */
export function classifyWith(
  pixels: number,
  scoreSplit: (split: SplitData) => Promise<{ probabilities: Float32Array }>,
): RobustnessInput["classify"] {
  return async (x, n) => (await scoreSplit({ n, pixels, x, y: new Int32Array(n), files: [] })).probabilities;
}

async function countCorrect(
  input: RobustnessInput,
  x: Float32Array,
  labels: number[],
  k: number,
  what: string,
): Promise<number> {
  const n = labels.length;
  let probabilities: Float32Array;
  try {
    probabilities = await input.classify(x, n);
  } catch (err) {
    throw new Error(`robustness (${what}): classifying ${n} images failed: ${(err as Error).message}`, { cause: err });
  }
  if (probabilities.length !== n * k)
    throw new Error(
      `robustness (${what}): classify returned ${probabilities.length} values for ${n} images × ${k} classes`,
    );
  let correct = 0;
  for (let i = 0; i < n; i++) if (topClass(probabilities, k, i) === labels[i]) correct++;
  return correct;
}

/** Differences of two accuracies are exact in 1/n steps; rounding removes the float noise (0.1 − 0.09 ≠ 0.01). */
const round = (v: number): number => Number(v.toFixed(6));
