import { digestOf } from "../../core/util/digest.ts";
import type { MetadataStore } from "../../core/meta/metadata-store.ts";
import { DATASETS, type DatasetRecord } from "../../core/datasets/version.ts";
import { registerVersion, type Metrics, type ModelVersion } from "../../core/registry/model-version.ts";

/** Records a dataset as `data version` would, with the validation outcome given. */
export async function putDataset(
  meta: MetadataStore,
  id: string,
  validation: DatasetRecord["validation"] = "passed",
): Promise<void> {
  const record: DatasetRecord = {
    id,
    name: "test",
    manifestDigest: `sha256:${id}`,
    classes: ["a", "b"],
    files: 10,
    bytes: 100,
    splits: { train: 8, test: 2 },
    source: "/tmp/test",
    createdAt: new Date().toISOString(),
    validation,
    validationReportDigest: null,
  };
  await meta.put(DATASETS, id, record);
}

/** Registers a version as the trainer will, with the metrics given. */
export async function registerTestVersion(
  meta: MetadataStore,
  name: string,
  datasetId: string,
  metrics: Metrics,
): Promise<ModelVersion> {
  const run = `run-${Math.random().toString(36).slice(2, 10)}`;
  return registerVersion(meta, {
    name,
    datasetId,
    requestId: `req-${run}`,
    runId: run,
    modelDigest: digestOf(`model ${run}`),
    cardDigest: digestOf(`card ${run}`),
    profileDigest: null,
    configHash: "cfg",
    gitCommit: null,
    image: null,
    metrics,
  });
}

export const GOOD: Metrics = { accuracy: 0.9, macro_f1: 0.88, "recall/a": 0.9, "recall/b": 0.86 };
