import type { KubeConfig } from "@kubernetes/client-node";
import type { JobsTarget } from "../config/config.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import type { JobReader } from "./job-runner.ts";

/**
 * The configured runner's jobs for a process that only reads them (the console): the local records, or the Jobs in
 * SIGHTLINE_JOBS=k8s://NAMESPACE (no trainer image needed to read them).
 */
export async function openJobReader(
  target: JobsTarget,
  deps: { meta: MetadataStore; kubeConfig?: KubeConfig },
): Promise<JobReader> {
  if (target.kind === "local") {
    const { localJobReader } = await import("./local-runner.ts");
    return localJobReader(deps.meta);
  }
  const { GkeJobReader } = await import("./gke-reader.ts");
  return new GkeJobReader({ namespace: target.namespace, ...(deps.kubeConfig ? { kubeConfig: deps.kubeConfig } : {}) });
}
