import { hostname } from "node:os";
import { basename } from "node:path";
import type { BlobsTarget } from "../config/config.ts";
import type { DatasetNode } from "./nodes.ts";

/**
 * How Sightline's datasets and models are named in OpenLineage, after its naming spec
 * (https://openlineage.io/docs/spec/naming/): the namespace is the store's (`gs://BUCKET` for Cloud Storage,
 * `file://HOST` for a local directory: the spec's remote-file-system form, because the events leave the machine
 * and two machines' `/home/…` must not merge), the name is a path in it that stays the same from version to version,
 * and the content hash goes in the DatasetVersion facet. The paths are logical (`<root>/datasets/<name>`,
 * `<root>/models/<name>`): the bytes themselves live content-addressed under `<root>/sha256/`.
 */
export interface LineageNaming {
  datasetNamespace: string;
  /** The blob store's root as an OpenLineage name prefix: the object prefix in the bucket, or the directory. */
  root: string;
  jobNamespace: string;
  /** The repository of the trainers' code when a run recorded none (SIGHTLINE_GIT_REPO_URL). */
  gitRepoUrl: string | null;
}

export function lineageNaming(
  blobs: BlobsTarget,
  options: { jobNamespace: string; gitRepoUrl: string | null; host?: string },
): LineageNaming {
  const common = { jobNamespace: options.jobNamespace, gitRepoUrl: options.gitRepoUrl };
  if (blobs.kind === "gcs")
    return { datasetNamespace: `gs://${blobs.bucket}`, root: blobs.prefix.replace(/^\/+|\/+$/g, ""), ...common };
  return { datasetNamespace: `file://${options.host ?? hostname()}`, root: blobs.dir.replace(/\/+$/, ""), ...common };
}

const under = (naming: LineageNaming, ...parts: string[]): string =>
  [naming.root, ...parts].filter((p) => p !== "").join("/");

/**
 * A dataset's stable name: its declared name (dataset.yaml), else the folder it was imported from; a dataset whose
 * versioned event lineage has not seen is named by its id (nothing better is known).
 */
export function datasetName(naming: LineageNaming, datasetId: string, record: DatasetNode | null): string {
  const declared = record?.name?.trim() || (record ? basename(record.source.replace(/[/\\]+$/, "")) : "");
  return under(naming, "datasets", declared || datasetId);
}

export const modelName = (naming: LineageNaming, model: string): string => under(naming, "models", model);
