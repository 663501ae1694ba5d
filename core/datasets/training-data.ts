import type { BlobStore } from "../blobs/blob-store.ts";
import { loadDataset } from "./load.ts";
import type { ManifestFile } from "./manifest.ts";
import type { Split as SplitName } from "./split.ts";
import type { DatasetRecord } from "./version.ts";
import { FEATURE_NAMES } from "../imaging/features.ts";
import { forEachBatch, ImagePool } from "../imaging/image-pool.ts";
import { preparePlainPng, type PreparedImage, type PreprocessSpec } from "../imaging/preprocess.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { SightlineError } from "../errors.ts";

/** One split as model input: `n` images of `pixels` floats each (NHWC), their label indices and source files. */
export interface SplitData {
  n: number;
  pixels: number;
  x: Float32Array;
  y: Int32Array;
  files: ManifestFile[];
  /** Drift features by name (FEATURE_NAMES), one per image, when the split was loaded with them. */
  features?: Record<string, number[]>;
}

export interface TrainingData {
  record: DatasetRecord;
  classes: string[];
  train: SplitData;
  validation: SplitData;
  test: SplitData;
}

/**
 * Loads a registered dataset's splits from the blob store (each blob's bytes are checked against its digest) and
 * preprocesses every image in the image pool with the model's preprocessing spec. `limit` keeps that many training
 * images, chosen by content hash so the subset is stable and not ordered by class; `splits` loads only those named
 * (the others come back empty).
 */
export async function loadTrainingData(
  rt: { blobs: BlobStore; meta: MetadataStore },
  datasetId: string,
  spec: PreprocessSpec,
  /** `testFeatures`: also the test split's drift features, from the same decode (the reference profile needs them). */
  options: {
    limit?: number;
    onProgress?: (done: number, total: number) => void;
    splits?: SplitName[];
    testFeatures?: boolean;
  } = {},
): Promise<TrainingData> {
  const { record, manifest } = await loadDataset(rt, datasetId);
  const wanted = new Set<SplitName>(options.splits ?? ["train", "validation", "test"]);
  const bySplit = (name: SplitName): ManifestFile[] =>
    wanted.has(name) ? manifest.files.filter((f) => f.split === name) : [];
  let train = bySplit("train");
  if (options.limit) train = [...train].sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1)).slice(0, options.limit);
  const splits = { train, validation: bySplit("validation"), test: bySplit("test") };
  const total = splits.train.length + splits.validation.length + splits.test.length;
  if (wanted.has("train") && splits.train.length === 0)
    throw new SightlineError("invalid", "dataset_unusable", `dataset ${datasetId} has no training images`);
  if (splits.test.length === 0)
    throw new SightlineError("invalid", "dataset_unusable", `dataset ${datasetId} has no test images to evaluate on`);

  const classIndex = new Map(manifest.classes.map((c, i) => [c, i]));
  const pixels = spec.width * spec.height * spec.channels;
  const pool = new ImagePool();
  let done = 0;
  try {
    // Plain PNGs at the model's size are decoded here (tens of µs each, less than a trip to the pool); the rest in the pool.
    const prepare = async (images: Buffer[], withFeatures: boolean): Promise<(PreparedImage | { error: string })[]> => {
      const out: (PreparedImage | { error: string } | undefined)[] = images.map((data) => {
        try {
          return preparePlainPng(data, spec, { features: withFeatures });
        } catch (err) {
          return { error: (err as Error).message };
        }
      });
      const rest = out.flatMap((r, i) => (r === undefined ? [i] : []));
      if (rest.length > 0) {
        const restImages = rest.map((i) => images[i]!);
        const done = withFeatures
          ? await pool.prepareBatch(restImages, spec)
          : (await pool.preprocessBatch(restImages, spec)).map((r) => (r instanceof Float32Array ? { input: r } : r));
        rest.forEach((i, k) => (out[i] = done[k]));
      }
      return out as (PreparedImage | { error: string })[];
    };
    const load = async (files: ManifestFile[], withFeatures = false): Promise<SplitData> => {
      const x = new Float32Array(files.length * pixels);
      const y = new Int32Array(files.length);
      const features = withFeatures
        ? Object.fromEntries(FEATURE_NAMES.map((f) => [f, new Array<number>(files.length)]))
        : undefined;
      await forEachBatch(files.length, pool.processes * 3, async (indices) => {
        const images = await Promise.all(
          indices.map((i) => rt.blobs.get(`sha256:${(files[i] as ManifestFile).sha256}`)),
        );
        const inputs = await prepare(images, features !== undefined);
        inputs.forEach((prepared, k) => {
          const i = indices[k] as number;
          const file = files[i] as ManifestFile;
          if ("error" in prepared)
            throw new SightlineError(
              "invalid",
              "dataset_unusable",
              `${file.path} (${file.sha256.slice(0, 12)}…) cannot be preprocessed: ${prepared.error}`,
            );
          x.set(prepared.input, i * pixels);
          if (features) for (const f of FEATURE_NAMES) features[f]![i] = prepared.features![f];
          const label = classIndex.get(file.label);
          if (label === undefined)
            throw new SightlineError(
              "invalid",
              "dataset_unusable",
              `${file.path} has label ${file.label}, not one of the dataset's classes`,
            );
          y[i] = label;
        });
        options.onProgress?.((done += indices.length), total);
      });
      return { n: files.length, pixels, x, y, files, ...(features ? { features } : {}) };
    };
    return {
      record,
      classes: manifest.classes,
      train: await load(splits.train),
      validation: await load(splits.validation),
      test: await load(splits.test, options.testFeatures),
    };
  } finally {
    await pool.close();
  }
}
