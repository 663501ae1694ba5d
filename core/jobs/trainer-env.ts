import type { BlobsTarget, BusTarget, MetaTarget } from "../config/config.ts";
import type { TrainingJobSpec } from "./job-runner.ts";

/** The stores a trainer must write to: the same ones as the process that submits the job. */
export interface StoreTargets {
  blobs: BlobsTarget;
  meta: MetaTarget;
  bus: BusTarget;
}

/** The variables trainer/main.ts reads for one job; unset optional fields are left out. */
export function specEnv(spec: TrainingJobSpec): Record<string, string> {
  const env: Record<string, string> = {
    SIGHTLINE_DATASET: spec.datasetId,
    SIGHTLINE_MODEL: spec.model,
    SIGHTLINE_REQUEST_ID: spec.requestId,
  };
  if (spec.configPath !== undefined) env.SIGHTLINE_TRAIN_CONFIG = spec.configPath;
  if (spec.epochs !== undefined) env.SIGHTLINE_EPOCHS = String(spec.epochs);
  if (spec.limit !== undefined) env.SIGHTLINE_LIMIT = String(spec.limit);
  if (spec.fineTune) env.SIGHTLINE_FINE_TUNE = "true";
  if (spec.contract !== undefined) env.SIGHTLINE_CONTRACT_JOB = JSON.stringify(spec.contract);
  return env;
}

/** Every per-job variable, so an inherited value (e.g. SIGHTLINE_EPOCHS in the parent's shell) can be dropped. */
export const SPEC_ENV_NAMES = [
  "SIGHTLINE_DATASET",
  "SIGHTLINE_MODEL",
  "SIGHTLINE_REQUEST_ID",
  "SIGHTLINE_TRAIN_CONFIG",
  "SIGHTLINE_EPOCHS",
  "SIGHTLINE_LIMIT",
  "SIGHTLINE_FINE_TUNE",
  "SIGHTLINE_CONTRACT_JOB",
] as const;

/** The resolved targets written back as the URIs core/config/config.ts parses, so the trainer opens the same stores. */
export function storesEnv(stores: StoreTargets): Record<string, string> {
  return {
    SIGHTLINE_BLOBS: stores.blobs.kind === "file" ? `file://${stores.blobs.dir}` : `gs://${[stores.blobs.bucket, stores.blobs.prefix].filter(Boolean).join("/")}`,
    SIGHTLINE_META: stores.meta.kind === "sqlite" ? `sqlite://${stores.meta.path}` : `firestore://${stores.meta.project}/${stores.meta.database}`,
    SIGHTLINE_BUS: stores.bus.kind === "local" ? `local://${stores.bus.path}` : `pubsub://${stores.bus.project}`,
  };
}
