import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { BlobStore } from "../blobs/blob-store.ts";
import { makeEvent } from "../events/envelope.ts";
import { forEachBatch, ImagePool, type ProbeResult } from "../imaging/image-pool.ts";
import type { EventBus } from "../events/event-bus.ts";
import { z } from "zod";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { sha256Hex } from "../util/digest.ts";
import { canonicalManifest, datasetIdOf, type Manifest, type ManifestFile } from "./manifest.ts";
import { scanDataset } from "./scan.ts";
import { readSpec } from "./spec.ts";
import { assignSplit, type Split } from "./split.ts";
import { evaluateRules, type ValidationReport } from "./validate.ts";
import { SightlineError } from "../errors.ts";

export const DATASETS = "datasets";

export type DatasetRecord = {
  id: string;
  name: string | null;
  manifestDigest: string;
  classes: string[];
  files: number;
  bytes: number;
  splits: Record<string, number>;
  source: string;
  createdAt: string;
  validation: "passed" | "failed" | "skipped";
  validationReportDigest: string | null;
};

const DatasetRecordSchema: z.ZodType<DatasetRecord> = z.looseObject({
  id: z.string(),
  name: z.string().nullable(),
  manifestDigest: z.string(),
  classes: z.array(z.string()),
  files: z.number().int(),
  bytes: z.number(),
  splits: z.record(z.string(), z.number()),
  source: z.string(),
  createdAt: z.string(),
  validation: z.enum(["passed", "failed", "skipped"]),
  validationReportDigest: z.string().nullable(),
});

/** Registered dataset versions, keyed by dataset id. */
export const Datasets = defineCollection({ name: DATASETS, schema: DatasetRecordSchema });

export interface VersionResult {
  record: DatasetRecord;
  /** False when the same dataset was already registered (same bytes, same id). */
  created: boolean;
  report?: ValidationReport;
}

export type Progress = (phase: "hash" | "version", done: number, total: number) => void;

export class DatasetInvalidError extends SightlineError {
  readonly dir: string;
  readonly report: ValidationReport;
  constructor(dir: string, report: ValidationReport) {
    const failed = report.rules.filter((r) => !r.ok).map((r) => `${r.rule} (${r.violations.length})`);
    super("invalid", "dataset_invalid", `dataset ${dir} failed validation: ${failed.join(", ")}`);
    this.dir = dir;
    this.report = report;
  }
}

/** One file as read: its manifest entry, its bytes and its position in the manifest. */
interface ReadFile {
  index: number;
  file: ManifestFile;
  data: Buffer;
}

/**
 * Reads every image of a dataset folder once, in batches, handing each batch (bytes included) to `each`, and
 * builds the manifest from what it read.
 */
async function readDataset(
  dir: string,
  each: ((batch: ReadFile[]) => Promise<void>) | undefined,
  onProgress: ((done: number, total: number) => void) | undefined,
): Promise<{ manifest: Manifest; id: string; bytes: number }> {
  const root = resolve(dir);
  const spec = await readSpec(root);
  const { files: scanned } = await scanDataset(root);
  if (scanned.length === 0)
    throw new SightlineError(
      "invalid",
      "dataset_empty",
      `${root} holds no images (expected CLASS/IMAGE or SPLIT/CLASS/IMAGE with .png, .jpg or .webp)`,
    );
  const files: ManifestFile[] = new Array<ManifestFile>(scanned.length);
  let done = 0;
  let bytes = 0;
  await forEachBatch(scanned.length, 6, async (indices) => {
    const batch = await Promise.all(
      indices.map(async (index): Promise<ReadFile> => {
        const f = scanned[index] as (typeof scanned)[number];
        const data = await readFile(join(root, f.path));
        const sha256 = sha256Hex(data);
        const file = {
          path: f.path,
          label: f.label,
          split: assignSplit(sha256, f.declaredSplit, spec.splits),
          sha256,
          size: data.length,
        };
        files[index] = file;
        bytes += data.length;
        return { index, file, data };
      }),
    );
    await each?.(batch);
    onProgress?.((done += batch.length), scanned.length);
  });
  const classes = spec.classes ?? [...new Set(files.map((f) => f.label))].sort();
  const manifest: Manifest = { schema: "sightline.dataset/v1", classes, spec, files };
  return { manifest, id: datasetIdOf(manifest), bytes };
}

/** Hashes a dataset folder into its manifest without storing anything. */
export async function buildManifest(
  dir: string,
  onProgress?: Progress,
): Promise<{ manifest: Manifest; id: string; bytes: number }> {
  return readDataset(dir, undefined, (d, t) => onProgress?.("hash", d, t));
}

/**
 * Versions a dataset folder: reads every file once, storing it as a blob and probing it (decode, shape) in child
 * processes as it goes; then checks the validation rules (unless told not to), stores the manifest, records the
 * dataset and publishes `sightline.dataset.versioned`.
 * An invalid dataset throws DatasetInvalidError and registers nothing: the files stored meanwhile are unreferenced
 * content-addressed blobs that no manifest, record or event points at. Versioning the same bytes again is a no-op
 * that returns the existing record (and republishes the event under the same id, which consumers deduplicate).
 */
export async function versionDataset(
  rt: { blobs: BlobStore; meta: MetadataStore; bus: EventBus },
  dir: string,
  options: { validate?: boolean; onProgress?: Progress } = {},
): Promise<VersionResult> {
  const root = resolve(dir);
  const pool = options.validate === false ? undefined : new ImagePool();
  const probes: ProbeResult[] = [];
  let read: Awaited<ReturnType<typeof readDataset>>;
  try {
    read = await readDataset(
      root,
      async (batch) => {
        // Storing (I/O, here) and probing (CPU, in the pool's processes) overlap.
        const [, results] = await Promise.all([
          Promise.all(batch.map((b) => rt.blobs.put(b.data))),
          pool?.probeBatch(batch.map((b) => b.data)),
        ]);
        results?.forEach((r, k) => (probes[(batch[k] as ReadFile).index] = r));
      },
      (d, t) => options.onProgress?.("version", d, t),
    );
  } finally {
    await pool?.close();
  }
  const { manifest, id, bytes } = read;
  const report = pool
    ? evaluateRules({ classes: manifest.classes, spec: manifest.spec, files: manifest.files, probes })
    : undefined;
  if (report && !report.ok) throw new DatasetInvalidError(root, report);

  const manifestRef = await rt.blobs.put(Buffer.from(canonicalManifest(manifest)));
  const reportRef = report ? await rt.blobs.put(Buffer.from(JSON.stringify(report))) : undefined;

  const splits = countSplits(manifest.files);
  const record: DatasetRecord = {
    id,
    name: manifest.spec.name ?? null,
    manifestDigest: manifestRef.digest,
    classes: manifest.classes,
    files: manifest.files.length,
    bytes,
    splits,
    source: root,
    createdAt: new Date().toISOString(),
    validation: report ? "passed" : "skipped",
    validationReportDigest: reportRef?.digest ?? null,
  };
  const created = await Datasets.create(rt.meta, id, record);
  const current = created ? record : ((await Datasets.get(rt.meta, id)) ?? record);

  await rt.bus.publish(
    makeEvent(
      "sightline.dataset.versioned",
      {
        datasetId: id,
        manifestDigest: current.manifestDigest,
        ...(current.name === null ? {} : { name: current.name }),
        source: current.source,
        classes: current.classes,
        files: current.files,
        bytes: current.bytes,
        splits: current.splits,
        validation: current.validation,
      },
      { id: `dataset.versioned:${id}`, subject: id },
    ),
  );
  return { record: current, created, ...(report ? { report } : {}) };
}

export function countSplits(files: { split: Split }[]): Record<string, number> {
  const splits: Record<string, number> = {};
  for (const f of files) splits[f.split] = (splits[f.split] ?? 0) + 1;
  return splits;
}
