import pLimit from "p-limit";
import { BlobCorruptError, BlobNotFoundError, type BlobStore } from "../blobs/blob-store.ts";
import { datasetIdOf, ManifestSchema, type Manifest } from "../datasets/manifest.ts";
import { Datasets } from "../datasets/version.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { versionId, Versions, type ModelVersion } from "../registry/model-version.ts";
import { getNode } from "./queries.ts";
import { modelNodeId } from "./store.ts";
import { SightlineError } from "../errors.ts";

/** One comparison of a record with what the stored bytes say now. */
export type Check = { check: string; subject: string; expected: string; actual: string; ok: boolean; detail?: string };

export type VerifyResult = { model: string; datasetId: string; ok: boolean; checks: Check[] };

export class VerifyTargetNotFoundError extends SightlineError {
  constructor(what: string) {
    super("not_found", "verify_target_not_found", `${what} is neither registered nor in the lineage graph`);
  }
}

/** What a record says about a model version: the registry's, else the lineage graph's. */
type Claim = Pick<ModelVersion, "datasetId" | "modelDigest" | "cardDigest">;

/** Reads a blob through the store's own sha256 check; a failure becomes the `actual` of a check, not a throw. */
async function fetchBlob(
  blobs: BlobStore,
  digest: string,
): Promise<{ data?: Buffer; actual: string; detail?: string }> {
  try {
    return { data: await blobs.get(digest), actual: digest };
  } catch (err) {
    if (err instanceof BlobCorruptError) return { actual: err.actual, detail: err.message };
    if (err instanceof BlobNotFoundError) return { actual: "missing", detail: err.message };
    return { actual: "unreadable", detail: (err as Error).message };
  }
}

/**
 * Recomputes what a model version's lineage claims from the stored bytes: the dataset id from its manifest blob,
 * every file of the manifest from its blob (the store checks each sha256), and the model file and card from theirs.
 * Each check lists expected and actual; a single changed byte in any blob fails a check that names the blob (and
 * the dataset file, for dataset blobs).
 */
export async function verifyModelLineage(
  rt: { blobs: BlobStore; meta: MetadataStore },
  name: string,
  version: number,
): Promise<VerifyResult> {
  const label = `${name}:${version}`;
  const registered = await Versions.get(rt.meta, versionId(name, version));
  const node = await getNode(rt.meta, modelNodeId(name, version), "model");
  const claim: Claim | undefined = registered ?? node ?? undefined;
  if (!claim) throw new VerifyTargetNotFoundError(`model ${label}`);
  const checks: Check[] = [];

  // The lineage graph and the registry must tell the same story where both know the version.
  if (registered && node) {
    for (const field of ["datasetId", "modelDigest", "cardDigest"] as const) {
      checks.push({
        check: `lineage ${field}`,
        subject: label,
        expected: registered[field],
        actual: node[field],
        ok: registered[field] === node[field],
      });
    }
  }

  checks.push(...(await verifyDataset(rt, claim.datasetId)));

  for (const [check, digest] of [
    ["model file", claim.modelDigest],
    ["model card", claim.cardDigest],
  ] as const) {
    const blob = await fetchBlob(rt.blobs, digest);
    checks.push({
      check,
      subject: rt.blobs.uri(digest),
      expected: digest,
      actual: blob.actual,
      ok: blob.actual === digest,
      ...(blob.detail ? { detail: blob.detail } : {}),
    });
  }
  return { model: label, datasetId: claim.datasetId, ok: checks.every((c) => c.ok), checks };
}

async function verifyDataset(rt: { blobs: BlobStore; meta: MetadataStore }, datasetId: string): Promise<Check[]> {
  const record = await Datasets.get(rt.meta, datasetId);
  if (!record)
    return [
      {
        check: "dataset record",
        subject: `dataset ${datasetId}`,
        expected: "registered",
        actual: "missing",
        ok: false,
      },
    ];
  const checks: Check[] = [];
  const blob = await fetchBlob(rt.blobs, record.manifestDigest);
  checks.push({
    check: "manifest blob",
    subject: rt.blobs.uri(record.manifestDigest),
    expected: record.manifestDigest,
    actual: blob.actual,
    ok: blob.actual === record.manifestDigest,
    ...(blob.detail ? { detail: blob.detail } : {}),
  });
  if (!blob.data) return checks;

  let manifest: Manifest;
  try {
    manifest = ManifestSchema.parse(JSON.parse(blob.data.toString("utf8")));
  } catch (err) {
    checks.push({
      check: "dataset id",
      subject: `dataset ${datasetId}`,
      expected: datasetId,
      actual: "unparseable manifest",
      ok: false,
      detail: (err as Error).message,
    });
    return checks;
  }
  const recomputed = datasetIdOf(manifest);
  checks.push({
    check: "dataset id",
    subject: `manifest ${record.manifestDigest}`,
    expected: datasetId,
    actual: recomputed,
    ok: recomputed === datasetId,
  });

  // Every file: one summary check, plus one check per file that no longer matches, naming it.
  const limit = pLimit(16);
  const failures: Check[] = [];
  await Promise.all(
    manifest.files.map((f) =>
      limit(async () => {
        const digest = `sha256:${f.sha256}`;
        const got = await fetchBlob(rt.blobs, digest);
        const sizeOk = got.data === undefined || got.data.length === f.size;
        if (got.actual !== digest || !sizeOk) {
          failures.push({
            check: "dataset file",
            subject: `${f.path} (${rt.blobs.uri(digest)})`,
            expected: `${digest} (${f.size} bytes)`,
            actual: got.data ? `${got.actual} (${got.data.length} bytes)` : got.actual,
            ok: false,
            ...(got.detail ? { detail: got.detail } : {}),
          });
        }
      }),
    ),
  );
  failures.sort((a, b) => a.subject.localeCompare(b.subject));
  const total = manifest.files.length;
  checks.push({
    check: "dataset files",
    subject: `dataset ${datasetId}`,
    expected: `${total} files intact`,
    actual: `${total - failures.length} files intact`,
    ok: failures.length === 0,
  });
  checks.push(...failures);
  return checks;
}
