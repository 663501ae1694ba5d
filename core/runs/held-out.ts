import type { RunRecord } from "../jobs/run-record.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { getVersion } from "../registry/model-version.ts";

/**
 * Runs recorded before records held their version's metrics: read from the registered version (a version that is
 * gone leaves the run without held-out metrics rather than failing the read).
 */
export async function withHeldOut(meta: MetadataStore, runs: RunRecord[]): Promise<RunRecord[]> {
  const missing = runs.filter((r) => r.version !== undefined && r.heldOut === undefined);
  if (missing.length === 0) return runs;
  const found = new Map<string, Record<string, number>>();
  for (const r of missing) {
    const key = `${r.model}:${r.version}`;
    if (found.has(key)) continue;
    found.set(
      key,
      await getVersion(meta, r.model, r.version!).then(
        (v) => v.metrics,
        () => ({}),
      ),
    );
  }
  return runs.map((r) =>
    r.version !== undefined && r.heldOut === undefined ? { ...r, heldOut: found.get(`${r.model}:${r.version}`)! } : r,
  );
}
