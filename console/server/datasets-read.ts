import sharp from "sharp";
import { SightlineError } from "../../core/errors.ts";
import { loadDataset } from "../../core/datasets/load.ts";
import type { Manifest, ManifestFile } from "../../core/datasets/manifest.ts";
import type { ValidationReport } from "../../core/datasets/validate.ts";
import { Datasets, type DatasetRecord } from "../../core/datasets/version.ts";
import { DatasetDetail, DatasetDiff, DatasetList, Thumbnails } from "../api/schemas.ts";
import type { ReadDeps } from "./read-model.ts";

/** Sample images shown per class, and the largest side of each (pixels). */
export const THUMBNAILS_PER_CLASS = 8;
const THUMBNAIL_SIDE = 96;
/** A stored image larger than this is not decoded for a thumbnail (a decompression bomb stays a 4xx). */
const MAX_INPUT_PIXELS = 4096 * 4096;
const EXAMPLES = 5;

/**
 * Manifests recently read, per store: a dataset id is its manifest's digest, so a cached one never goes stale, and a
 * page of thumbnails (one request per image) reads and checks a large manifest once rather than 24 times.
 */
const manifests = new WeakMap<object, Map<string, Promise<Manifest>>>();
const CACHED_MANIFESTS = 4;

function manifestOf(deps: ReadDeps, id: string): Promise<Manifest> {
  const cache = manifests.get(deps.meta) ?? new Map<string, Promise<Manifest>>();
  manifests.set(deps.meta, cache);
  let loaded = cache.get(id);
  if (!loaded) {
    loaded = loadDataset(deps, id).then((d) => d.manifest);
    // A failed read is not kept: the next request tries again.
    loaded.catch(() => cache.delete(id));
    cache.set(id, loaded);
    if (cache.size > CACHED_MANIFESTS) cache.delete(cache.keys().next().value!);
  }
  return loaded;
}

const row = (r: DatasetRecord) => ({
  id: r.id,
  name: r.name,
  classes: r.classes,
  files: r.files,
  bytes: r.bytes,
  splits: r.splits,
  source: r.source,
  createdAt: r.createdAt,
  validation: r.validation,
});

export async function datasetList(deps: ReadDeps): Promise<DatasetList> {
  const docs = await Datasets.query(deps.meta, { orderBy: { field: "createdAt", direction: "desc" } });
  return DatasetList.parse({ datasets: docs.map((d) => row(d.data)) });
}

export async function datasetPage(deps: ReadDeps, id: string): Promise<DatasetDetail> {
  const { record, manifest } = await loadDataset(deps, id);
  const counts = new Map(manifest.classes.map((c) => [c, {} as Record<string, number>]));
  for (const f of manifest.files) {
    const splits = counts.get(f.label) ?? {};
    counts.set(f.label, splits);
    splits[f.split] = (splits[f.split] ?? 0) + 1;
  }
  let validation = null;
  if (record.validationReportDigest) {
    const report = JSON.parse(
      (await deps.blobs.get(record.validationReportDigest)).toString("utf8"),
    ) as ValidationReport;
    validation = {
      ok: report.ok,
      rules: report.rules.map((r) => ({ rule: r.rule, ok: r.ok, detail: r.detail, violations: r.violations.length })),
    };
  }
  return DatasetDetail.parse({
    dataset: row(record),
    balance: [...counts].map(([c, splits]) => ({ class: c, splits })),
    validation,
  });
}

function classFiles(manifest: Manifest, id: string, label: string): ManifestFile[] {
  if (!manifest.classes.includes(label))
    throw new SightlineError("not_found", "class_not_found", `dataset ${id} has no class ${JSON.stringify(label)}`);
  return manifest.files
    .filter((f) => f.label === label)
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const thumbnailUrl = (id: string, label: string, n: number): string =>
  `/api/datasets/${encodeURIComponent(id)}/thumbnails/${encodeURIComponent(label)}/${n}`;

export async function thumbnailList(deps: ReadDeps, id: string, label: string): Promise<Thumbnails> {
  const manifest = await manifestOf(deps, id);
  const files = classFiles(manifest, id, label);
  return Thumbnails.parse({
    class: label,
    total: files.length,
    images: files.slice(0, THUMBNAILS_PER_CLASS).map((f, n) => ({ path: f.path, url: thumbnailUrl(id, label, n) })),
  });
}

/**
 * One sample image, decoded and re-encoded here as a small PNG: the stored bytes (whatever a dataset folder held)
 * never reach the browser as they are.
 */
export async function thumbnail(deps: ReadDeps, id: string, label: string, n: number): Promise<Buffer> {
  const manifest = await manifestOf(deps, id);
  const file = classFiles(manifest, id, label)[n];
  if (!Number.isInteger(n) || n < 0 || n >= THUMBNAILS_PER_CLASS || !file)
    throw new SightlineError("not_found", "thumbnail_not_found", `no thumbnail ${n} of class ${label}`);
  const bytes = await deps.blobs.get(`sha256:${file.sha256}`);
  return sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" })
    .resize(THUMBNAIL_SIDE, THUMBNAIL_SIDE, { fit: "inside", withoutEnlargement: true })
    .png()
    .toBuffer()
    .catch((err: unknown) => {
      throw new SightlineError("invalid", "thumbnail_undecodable", `${file.path} cannot be decoded`, { cause: err });
    });
}

/** What changed from dataset a to dataset b, per class: files are the same file when their path is. */
export async function datasetDiff(deps: ReadDeps, a: string, b: string): Promise<DatasetDiff> {
  if (!a || !b) throw new SightlineError("invalid", "diff_needs_two", "give two dataset ids: ?a=ID&b=ID");
  const [from, to] = await Promise.all([loadDataset(deps, a), loadDataset(deps, b)]);
  const before = new Map(from.manifest.files.map((f) => [f.path, f]));
  const after = new Map(to.manifest.files.map((f) => [f.path, f]));
  type Counts = { added: string[]; removed: string[]; changed: string[] };
  const per = new Map<string, Counts>();
  const of = (label: string): Counts => {
    const c = per.get(label) ?? { added: [], removed: [], changed: [] };
    per.set(label, c);
    return c;
  };
  for (const label of [...new Set([...from.manifest.classes, ...to.manifest.classes])]) of(label);
  for (const [path, f] of after) {
    const old = before.get(path);
    if (!old) of(f.label).added.push(path);
    else if (old.sha256 !== f.sha256 || old.label !== f.label || old.split !== f.split) of(f.label).changed.push(path);
  }
  for (const [path, f] of before) if (!after.has(path)) of(f.label).removed.push(path);
  const classes = [...per].map(([label, c]) => ({
    class: label,
    added: c.added.length,
    removed: c.removed.length,
    changed: c.changed.length,
    examples: {
      added: c.added.sort().slice(0, EXAMPLES),
      removed: c.removed.sort().slice(0, EXAMPLES),
      changed: c.changed.sort().slice(0, EXAMPLES),
    },
  }));
  const sum = (k: "added" | "removed" | "changed") => classes.reduce((s, c) => s + c[k], 0);
  return DatasetDiff.parse({
    a,
    b,
    classes,
    totals: { added: sum("added"), removed: sum("removed"), changed: sum("changed") },
  });
}
