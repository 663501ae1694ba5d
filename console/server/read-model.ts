import type { BlobStore } from "../../core/blobs/blob-store.ts";
import { listReports, readReport } from "../../core/drift/detect.ts";
import { testStrength, windowReport } from "../../core/drift/queries.ts";
import { lineageGraph } from "../../core/lineage/graph.ts";
import type { JobReader } from "../../core/jobs/job-runner.ts";
import type { MetadataStore } from "../../core/meta/metadata-store.ts";
import { listVersions, ModelNotFoundError } from "../../core/registry/model-version.ts";
import { listDecisions, modelDetail, modelSummaries } from "../../core/registry/queries.ts";
import { DriftHistory, DriftWindowReport, LineageGraph, ModelDetail, ModelList } from "../api/schemas.ts";

/**
 * Each endpoint's answer, composed from core's read models (the ones the CLI prints) and parsed with its response
 * schema, so what leaves the server is exactly what the schema promises (unknown fields are dropped).
 */
export interface ReadDeps {
  meta: MetadataStore;
  blobs: BlobStore;
  /** Where the Jobs page reads training jobs (the configured runner's); default: the local records in `meta`. */
  jobs?: JobReader;
}

/** The most reports one drift page draws: a chart of a year of hourly windows stays one request. */
const MAX_REPORTS = 1000;

const tagsOf = (aliases: { alias: string; version: number }[], version: number): string[] =>
  aliases.filter((a) => a.version === version).map((a) => a.alias);

export async function modelList(deps: ReadDeps): Promise<ModelList> {
  const summaries = await modelSummaries(deps.meta);
  const models = await Promise.all(
    summaries.map(async (m) => {
      const aliases = Object.entries(m.aliases).map(([alias, version]) => ({ alias, version }));
      const versions = (await listVersions(deps.meta, m.name)).map((v) => ({
        version: v.version,
        createdAt: v.createdAt,
        aliases: tagsOf(aliases, v.version),
        metrics: v.metrics,
      }));
      return { ...m, versions };
    }),
  );
  return ModelList.parse({ models: models.sort((a, b) => a.name.localeCompare(b.name)) });
}

export async function modelPage(deps: ReadDeps, name: string): Promise<ModelDetail> {
  const [detail, decisions] = await Promise.all([modelDetail(deps.meta, name), listDecisions(deps.meta, name)]);
  if (detail.versions.length === 0) throw new ModelNotFoundError(name);
  return ModelDetail.parse({
    name,
    versions: detail.versions.map((v) => ({
      ...v,
      aliases: tagsOf(detail.aliases, v.version),
      gitCommit: v.gitCommit ?? null,
      image: v.image ?? null,
    })),
    aliases: detail.aliases,
    decisions: decisions.filter((d) => d.outcome !== "deciding"),
    // Newest first: what a person looks for is what happened last.
    audit: [...detail.audit].reverse(),
  });
}

export async function lineageSearch(deps: ReadDeps, query: string): Promise<LineageGraph> {
  return LineageGraph.parse(await lineageGraph(deps.meta, query));
}

export async function driftHistory(deps: ReadDeps, model: string, version: number): Promise<DriftHistory> {
  const records = (await listReports(deps.meta, model, version)).slice(0, MAX_REPORTS).reverse();
  const reports = await Promise.all(
    records.map(async (r) => {
      const full = await readReport(deps.blobs, r.digest);
      return { ...r, tests: full.verdict.tests.map((t) => ({ ...t, strength: testStrength(t) })) };
    }),
  );
  return DriftHistory.parse({ model, version, reports });
}

export async function driftWindowReport(
  deps: ReadDeps,
  model: string,
  version: number,
  seq: number,
): Promise<DriftWindowReport> {
  return DriftWindowReport.parse(await windowReport(deps, model, version, seq));
}
