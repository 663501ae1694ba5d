import type { MetadataStore } from "../meta/metadata-store.ts";
import { listAliases, type Alias } from "./aliases.ts";
import { listAudit, type AuditRecord } from "./audit.ts";
import { listVersions, listModels, type ModelVersion } from "./model-version.ts";
import { Decisions, type Decision } from "./promote.ts";

/** The registry as the CLI's `models list` and the console's model list show it. */
export type ModelSummary = { name: string; latestVersion: number; updatedAt: string; aliases: Record<string, number> };

export async function modelSummaries(meta: MetadataStore): Promise<ModelSummary[]> {
  return Promise.all(
    (await listModels(meta)).map(async (m) => ({
      ...m,
      aliases: Object.fromEntries((await listAliases(meta, m.name)).map((a) => [a.alias, a.version])),
    })),
  );
}

/** One model: its versions (oldest first), aliases and audit trail; versions is empty when it is not registered. */
export type ModelDetail = { name: string; versions: ModelVersion[]; aliases: Alias[]; audit: AuditRecord[] };

export async function modelDetail(meta: MetadataStore, name: string): Promise<ModelDetail> {
  const [versions, aliases, audit] = await Promise.all([
    listVersions(meta, name),
    listAliases(meta, name),
    listAudit(meta, name),
  ]);
  return { name, versions, aliases, audit };
}

/** A model's promotion decisions, newest first (claims still being decided included, as `deciding`). */
export async function listDecisions(meta: MetadataStore, model: string): Promise<Decision[]> {
  const docs = await Decisions.query(meta, { where: [{ field: "model", op: "==", value: model }] });
  return docs.map((d) => d.data).sort((a, b) => b.time.localeCompare(a.time) || b.version - a.version);
}
