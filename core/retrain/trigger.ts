import { createHash } from "node:crypto";
import { DATASETS, type DatasetRecord } from "../datasets/version.ts";
import { makeEvent, type CloudEvent } from "../events/envelope.ts";
import type { EventBus } from "../events/event-bus.ts";
import type { BlobStore } from "../blobs/blob-store.ts";
import type { JobRunner } from "../jobs/job-runner.ts";
import { loadTrainers, type TrainerDefinition } from "../jobs/trainers.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { getAlias, PRODUCTION } from "../registry/aliases.ts";
import { getVersion } from "../registry/model-version.ts";
import type { Logger } from "../telemetry/logger.ts";
import { retrainJob } from "./plan.ts";
import type { RetrainPolicy } from "./policy.ts";

export const RETRAIN_STATE = "retrain_state";
export const RETRAIN_DECISIONS = "retrain_decisions";

export interface RetrainDeps {
  meta: MetadataStore;
  bus: EventBus;
  jobs: JobRunner;
  log: Logger;
  policy: RetrainPolicy;
  /** Production's card names the trainer that made it (the default trainer for its retraining). */
  blobs?: BlobStore;
  /** The trainers file's trainers; only the built-in one when not given. */
  trainers?: Record<string, TrainerDefinition>;
  now?: () => Date;
}

/** Per model: the open drift episode (if any) and when a retraining last started. */
type RetrainState = {
  model: string;
  /** `priorRequestedAt`: lastRequestedAt before this episode claimed it (restored if the claim is given back). */
  episode: { version: number; reportId: string; requestId: string; startedAt: string; priorRequestedAt: string | null } | null;
  lastRequestedAt: string | null;
};

export type RetrainOutcome =
  | { action: "started"; requestId: string; jobName: string; datasetId: string; created: boolean }
  | { action: "skipped"; reason: string }
  | { action: "episode-ended" };

/**
 * The retrain function's work for one `drift.reported` event. The decision is claimed in one transaction on the
 * model's state, so duplicate and concurrent deliveries of the same report start one job: the claim's request id
 * is derived from the report id, the job's name from the request id (a resubmission is recognised), and the
 * `training.requested` event id from both.
 */
export async function onDriftReported(deps: RetrainDeps, event: CloudEvent<"sightline.drift.reported">): Promise<RetrainOutcome> {
  const report = event.data;
  const now = (deps.now ?? (() => new Date()))();
  const stateId = report.model;
  if (!report.drift) {
    const ended = await deps.meta.transaction(async (tx) => {
      const state = (await tx.get(RETRAIN_STATE, stateId))?.data as RetrainState | undefined;
      if (state?.episode?.version !== report.version) return false;
      tx.set(RETRAIN_STATE, stateId, { ...state, episode: null });
      return true;
    });
    return ended ? { action: "episode-ended" } : { action: "skipped", reason: "no drift" };
  }
  const skip = async (reason: string): Promise<RetrainOutcome> => {
    await deps.meta.put(RETRAIN_DECISIONS, report.reportId, { reportId: report.reportId, model: report.model, outcome: "skipped", reason, time: now.toISOString() });
    deps.log.info("retraining not started", { reportId: report.reportId, reason });
    return { action: "skipped", reason };
  };
  if (report.severity < deps.policy.minSeverity) return skip(`severity ${report.severity.toFixed(2)} is below ${deps.policy.minSeverity}`);
  if (report.window.count < deps.policy.minWindowSize) return skip(`window of ${report.window.count} predictions is below ${deps.policy.minWindowSize}`);

  const requestId = `retrain-${createHash("sha256").update(report.reportId).digest("hex").slice(0, 16)}`;
  const claim = await deps.meta.transaction(async (tx): Promise<{ ok: true } | { ok: false; reason: string }> => {
    const state = ((await tx.get(RETRAIN_STATE, stateId))?.data as RetrainState | undefined) ?? { model: report.model, episode: null, lastRequestedAt: null };
    // This report's own claim: a redelivery after a crash resumes it (the submission is idempotent).
    if (state.episode?.reportId === report.reportId) return { ok: true };
    if (state.episode?.version === report.version) return { ok: false, reason: `drift episode of ${report.model}:${report.version} already retraining (${state.episode.requestId})` };
    if (state.lastRequestedAt !== null) {
      const minutes = (now.getTime() - Date.parse(state.lastRequestedAt)) / 60_000;
      if (minutes < deps.policy.cooldownMinutes) return { ok: false, reason: `cooldown: last retraining of ${report.model} started ${minutes.toFixed(1)} min ago (policy: ${deps.policy.cooldownMinutes})` };
    }
    const next: RetrainState = { model: report.model, episode: { version: report.version, reportId: report.reportId, requestId, startedAt: now.toISOString(), priorRequestedAt: state.lastRequestedAt }, lastRequestedAt: now.toISOString() };
    tx.set(RETRAIN_STATE, stateId, next);
    return { ok: true };
  });
  if (!claim.ok) return skip(claim.reason);

  // Checked after the claim so a duplicate never counts its own job; across models the limit is best-effort.
  const active = (await deps.jobs.active()).filter((j) => j.requestId !== requestId);
  if (active.length >= deps.policy.maxConcurrentJobs) {
    await release(deps.meta, stateId, report.reportId);
    return skip(`${active.length} training job(s) running; the policy allows ${deps.policy.maxConcurrentJobs}`);
  }
  const datasetId = await chooseDataset(deps, report.model, report.version);
  const reason = `drift report ${report.reportId}: severity ${report.severity.toFixed(2)}, drifted ${report.driftedFeatures.join(", ") || "—"}`;
  const trainer = await retrainJob({ ...deps, trainers: deps.trainers ?? (await loadTrainers(undefined)) }, report.model, datasetId);
  const submitted = await deps.jobs.submit({ requestId, model: report.model, datasetId, reason, ...trainer });
  await deps.bus.publish(
    makeEvent(
      "sightline.training.requested",
      { requestId, model: report.model, datasetId, trigger: "retrain", reason, driftReportId: report.reportId },
      { id: `training.requested:${requestId}`, subject: report.model },
    ),
  );
  await deps.meta.put(RETRAIN_DECISIONS, report.reportId, {
    reportId: report.reportId,
    model: report.model,
    outcome: "started",
    requestId,
    job: submitted.name,
    datasetId,
    time: now.toISOString(),
  });
  deps.log.info("retraining started", { reportId: report.reportId, requestId, job: submitted.name, created: submitted.created, datasetId });
  return { action: "started", requestId, jobName: submitted.name, datasetId, created: submitted.created };
}

/** Gives back a claim that could not be acted on, so a later report can try again. */
async function release(meta: MetadataStore, stateId: string, reportId: string): Promise<void> {
  await meta.transaction(async (tx) => {
    const state = (await tx.get(RETRAIN_STATE, stateId))?.data as RetrainState | undefined;
    if (state?.episode?.reportId === reportId) tx.set(RETRAIN_STATE, stateId, { ...state, episode: null, lastRequestedAt: state.episode.priorRequestedAt });
  });
}

async function chooseDataset(deps: RetrainDeps, model: string, version: number): Promise<string> {
  const choice = deps.policy.dataset;
  if (choice === "production") {
    const production = await getAlias(deps.meta, model, PRODUCTION);
    return (await getVersion(deps.meta, model, production?.version ?? version)).datasetId;
  }
  if (choice !== "latest") return choice;
  const recent = await deps.meta.query(DATASETS, { orderBy: { field: "createdAt", direction: "desc" }, limit: 50 });
  const newest = recent.map((d) => d.data as DatasetRecord).find((d) => d.validation !== "failed");
  if (!newest) throw new Error("retrain policy says dataset: latest, but no dataset version is registered");
  return newest.id;
}
