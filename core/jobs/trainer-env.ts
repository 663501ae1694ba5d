import type { BlobsTarget, BusTarget, MetaTarget } from "../config/config.ts";
import { JOB_SPEC_VARIABLES } from "../config/settings/trainer-job.ts";
import { SIGHTLINE_BLOBS, SIGHTLINE_BUS, SIGHTLINE_META } from "../config/settings/stores.ts";
import type { TrainingJobSpec } from "./job-runner.ts";

/** The stores a trainer must write to: the same ones as the process that submits the job. */
export interface StoreTargets {
  blobs: BlobsTarget;
  meta: MetaTarget;
  bus: BusTarget;
}

/** The variables trainer/main.ts reads for one job (core/config/settings/trainer-job.ts); unset fields are left out. */
export function specEnv(spec: TrainingJobSpec): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { variable, encode } of JOB_SPEC_VARIABLES) {
    const value = encode(spec);
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

/** Every per-job variable and its old names, so an inherited value (e.g. SIGHTLINE_EPOCHS in the parent's shell) can be dropped. */
export const SPEC_ENV_NAMES: readonly string[] = JOB_SPEC_VARIABLES.flatMap(({ variable }) => [
  variable.name,
  ...(variable.deprecatedAliases ?? []),
]);

/** The resolved targets written back as the URIs core/config/config.ts parses, so the trainer opens the same stores. */
export function storesEnv(stores: StoreTargets): Record<string, string> {
  return {
    [SIGHTLINE_BLOBS.name]:
      stores.blobs.kind === "file"
        ? `file://${stores.blobs.dir}`
        : `gs://${[stores.blobs.bucket, stores.blobs.prefix].filter(Boolean).join("/")}`,
    [SIGHTLINE_META.name]:
      stores.meta.kind === "sqlite"
        ? `sqlite://${stores.meta.path}`
        : `firestore://${stores.meta.project}/${stores.meta.database}`,
    [SIGHTLINE_BUS.name]: stores.bus.kind === "local" ? `local://${stores.bus.path}` : `pubsub://${stores.bus.project}`,
  };
}
