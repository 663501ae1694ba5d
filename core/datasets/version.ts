import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import pLimit from "p-limit";
import type { BlobStore } from "../blobs/blob-store.ts";
import { makeEvent } from "../events/envelope.ts";
import type { EventBus } from "../events/event-bus.ts";
import type { JsonObject, MetadataStore } from "../meta/metadata-store.ts";
import { sha256Hex } from "../util/digest.ts";
import { canonicalManifest, datasetIdOf, type Manifest, type ManifestFile } from "./manifest.ts";
import { scanDataset } from "./scan.ts";
import { readSpec } from "./spec.ts";
import { assignSplit, type Split } from "./split.ts";
import { validateDataset, type ValidationReport } from "./validate.ts";

export const DATASETS = "datasets";

export interface DatasetRecord extends JsonObject {
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
}

export interface VersionResult {
  record: DatasetRecord;
  /** False when the same dataset was already registered (same bytes, same id). */
  created: boolean;
  report?: ValidationReport;
}

export type Progress = (phase: "hash" | "validate" | "store", done: number, total: number) => void;

export class DatasetInvalidError extends Error {
  readonly report: ValidationReport;
  constructor(dir: string, report: ValidationReport) {
    const failed = report.rules.filter((r) => !r.ok).map((r) => `${r.rule} (${r.violations.length})`);
    super(`dataset ${dir} failed validation: ${failed.join(", ")}`);
    this.name = "DatasetInvalidError";
    this.report = report;
  }
}

/** Hashes a dataset folder into its manifest without storing anything. */
export async function buildManifest(dir: string, onProgress?: Progress): Promise<{ manifest: Manifest; id: string; bytes: number }> {
  const root = resolve(dir);
  const spec = await readSpec(root);
  const { files: scanned } = await scanDataset(root);
  if (scanned.length === 0) throw new Error(`${root} holds no images (expected CLASS/IMAGE or SPLIT/CLASS/IMAGE with .png, .jpg or .webp)`);
  const limit = pLimit(32);
  let done = 0;
  let bytes = 0;
  const files: ManifestFile[] = await Promise.all(
    scanned.map((f) =>
      limit(async () => {
        const data = await readFile(join(root, f.path));
        const sha256 = sha256Hex(data);
        bytes += data.length;
        onProgress?.("hash", ++done, scanned.length);
        return { path: f.path, label: f.label, split: assignSplit(sha256, f.declaredSplit, spec.splits), sha256, size: data.length };
      }),
    ),
  );
  const classes = spec.classes ?? [...new Set(files.map((f) => f.label))].sort();
  const manifest: Manifest = { schema: "sightline.dataset/v1", classes, spec, files };
  return { manifest, id: datasetIdOf(manifest), bytes };
}

/**
 * Versions a dataset folder: hashes every file, validates (unless told not to), and only then stores the
 * files and the manifest as blobs, records the dataset and publishes `sightline.dataset.versioned`.
 * An invalid dataset throws DatasetInvalidError and registers nothing. Versioning the same bytes again is a no-op
 * that returns the existing record (and republishes the event under the same id, which consumers deduplicate).
 */
export async function versionDataset(
  rt: { blobs: BlobStore; meta: MetadataStore; bus: EventBus },
  dir: string,
  options: { validate?: boolean; onProgress?: Progress } = {},
): Promise<VersionResult> {
  const root = resolve(dir);
  const { manifest, id, bytes } = await buildManifest(root, options.onProgress);

  let report: ValidationReport | undefined;
  if (options.validate !== false) {
    report = await validateDataset({
      classes: manifest.classes,
      spec: manifest.spec,
      files: manifest.files,
      read: (f) => readFile(join(root, f.path)),
      onProgress: (d, t) => options.onProgress?.("validate", d, t),
    });
    if (!report.ok) throw new DatasetInvalidError(root, report);
  }

  const limit = pLimit(32);
  let stored = 0;
  await Promise.all(
    manifest.files.map((f) =>
      limit(async () => {
        const ref = await rt.blobs.putFile(join(root, f.path));
        if (ref.digest !== `sha256:${f.sha256}`) throw new Error(`${f.path} changed while it was being versioned; run again`);
        options.onProgress?.("store", ++stored, manifest.files.length);
      }),
    ),
  );
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
  const created = await rt.meta.create(DATASETS, id, record);
  const current = created ? record : (((await rt.meta.get(DATASETS, id))?.data as DatasetRecord | undefined) ?? record);

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
