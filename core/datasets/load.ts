import type { BlobStore } from "../blobs/blob-store.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { datasetIdOf, ManifestSchema, type Manifest } from "./manifest.ts";
import { Datasets, type DatasetRecord } from "./version.ts";
import { SightlineError } from "../errors.ts";

export class DatasetNotFoundError extends SightlineError {
  readonly datasetId: string;
  constructor(id: string) {
    super(
      "not_found",
      "dataset_not_found",
      `dataset ${id} is not registered (run \`sightline data version DIR\` first)`,
    );
    this.datasetId = id;
  }
}

/** Loads a registered dataset's record and manifest, checking the manifest still hashes to the dataset id. */
export async function loadDataset(
  rt: { blobs: BlobStore; meta: MetadataStore },
  id: string,
): Promise<{ record: DatasetRecord; manifest: Manifest }> {
  const record = await Datasets.get(rt.meta, id);
  if (!record) throw new DatasetNotFoundError(id);
  const parsed = ManifestSchema.safeParse(JSON.parse((await rt.blobs.get(record.manifestDigest)).toString("utf8")));
  if (!parsed.success)
    throw new SightlineError(
      "corrupt",
      "manifest_corrupt",
      `manifest ${record.manifestDigest} of dataset ${id} is malformed: ${parsed.error.message}`,
    );
  const actual = datasetIdOf(parsed.data);
  if (actual !== id)
    throw new SightlineError(
      "corrupt",
      "manifest_corrupt",
      `manifest of dataset ${id} hashes to ${actual}: the record no longer matches its data`,
    );
  return { record, manifest: parsed.data };
}
