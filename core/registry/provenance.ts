import { Reports, type DriftReportRecord } from "../drift/detect.ts";
import { Runs, type RunRecord } from "../jobs/run-record.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { RetrainDecisions, type RetrainDecision } from "../retrain/trigger.ts";
import { listAudit, type AuditRecord } from "./audit.ts";
import { listVersions, ModelNotFoundError, type ModelVersion } from "./model-version.ts";
import type { Decision } from "./promote.ts";
import { listDecisions } from "./queries.ts";

/**
 * Why a version exists, from the records each step left: the drift report that started its retraining (when one
 * did), the retrain function's decision on it (the retrain request), the training run, the gate's decisions on
 * the version and the alias moves that put it in place. A step with no record is null (a version trained by hand
 * has no drift report; one not yet gated has no decision).
 */
export type VersionProvenance = {
  model: string;
  version: number;
  requestId: string;
  /** The run's `trigger` tag (retrain, demo, ci, cli…), when the run was recorded with one. */
  trigger: string | null;
  drift: Pick<
    DriftReportRecord,
    "reportId" | "version" | "seq" | "drift" | "severity" | "driftedTests" | "window" | "createdAt"
  > | null;
  retrain: Pick<RetrainDecision, "reportId" | "requestId" | "job" | "datasetId" | "time" | "outcome"> | null;
  run: Pick<RunRecord, "runId" | "status" | "startedAt" | "finishedAt" | "datasetId"> | null;
  /** The newest decision taken on this version (what put it in production, or kept it out). */
  gate: Decision | null;
  /** Every decision taken on this version, newest first (a blocked one, then an approval…). */
  decisions: Decision[];
  /** Audit records that moved an alias to this version, oldest first. */
  audit: AuditRecord[];
};

export type ModelProvenance = { model: string; versions: VersionProvenance[] };

/** Each version's provenance, oldest first; throws ModelNotFoundError when the model has no version. */
export async function modelProvenance(meta: MetadataStore, model: string): Promise<ModelProvenance> {
  const [versions, retrains, decisions, audit] = await Promise.all([
    listVersions(meta, model),
    RetrainDecisions.query(meta, { where: [{ field: "model", op: "==", value: model }] }),
    listDecisions(meta, model),
    listAudit(meta, model),
  ]);
  if (versions.length === 0) throw new ModelNotFoundError(model);
  // A retrain request is started once per report; its id names the training request the version was registered by.
  const byRequest = new Map<string, RetrainDecision>();
  for (const d of retrains.map((r) => r.data))
    if (d.outcome === "started" && d.requestId) byRequest.set(d.requestId, d);
  return {
    model,
    versions: await Promise.all(versions.map((v) => provenanceOf(meta, v, byRequest, decisions, audit))),
  };
}

/** One version's provenance (the `models show NAME:VERSION` view and the console's "Why this version?"). */
export async function versionProvenance(
  meta: MetadataStore,
  model: string,
  version: number,
): Promise<VersionProvenance> {
  const found = (await modelProvenance(meta, model)).versions.find((v) => v.version === version);
  if (!found) throw new ModelNotFoundError(`${model}:${version}`);
  return found;
}

async function provenanceOf(
  meta: MetadataStore,
  v: ModelVersion,
  byRequest: ReadonlyMap<string, RetrainDecision>,
  decisions: readonly Decision[],
  audit: readonly AuditRecord[],
): Promise<VersionProvenance> {
  const retrain = byRequest.get(v.requestId);
  const [run, report] = await Promise.all([
    Runs.get(meta, v.runId),
    retrain ? Reports.get(meta, retrain.reportId) : Promise.resolve(undefined),
  ]);
  const mine = decisions.filter((d) => d.version === v.version && d.outcome !== "deciding");
  return {
    model: v.name,
    version: v.version,
    requestId: v.requestId,
    trigger: run?.tags?.trigger ?? (retrain ? "retrain" : null),
    drift: report
      ? {
          reportId: report.reportId,
          version: report.version,
          seq: report.seq,
          drift: report.drift,
          severity: report.severity,
          driftedTests: report.driftedTests,
          window: report.window,
          createdAt: report.createdAt,
        }
      : null,
    retrain: retrain
      ? {
          reportId: retrain.reportId,
          outcome: retrain.outcome,
          time: retrain.time,
          ...(retrain.requestId ? { requestId: retrain.requestId } : {}),
          ...(retrain.job ? { job: retrain.job } : {}),
          ...(retrain.datasetId ? { datasetId: retrain.datasetId } : {}),
        }
      : null,
    run: run
      ? {
          runId: run.runId,
          status: run.status,
          startedAt: run.startedAt,
          datasetId: run.datasetId,
          ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
        }
      : null,
    gate: mine[0] ?? null,
    decisions: mine,
    audit: audit.filter((a) => a.to === v.version && a.outcome === "applied"),
  };
}

/** One line: "drift report R → retrain request Q → run X → gate D: promoted" (the steps that have records). */
export function provenanceLine(p: VersionProvenance): string {
  const steps = [
    p.drift
      ? `drift report ${p.drift.reportId} (severity ${p.drift.severity.toFixed(2)})`
      : `request ${p.requestId}${p.trigger ? ` (trigger ${p.trigger})` : ""}`,
    ...(p.retrain ? [`retrain request ${p.retrain.requestId ?? p.requestId}`] : []),
    p.run ? `run ${p.run.runId}` : "run not recorded",
    p.gate ? `gate decision ${p.gate.id}: ${p.gate.outcome.replace("_", " ")}` : "not gated",
  ];
  return steps.join(" → ");
}
