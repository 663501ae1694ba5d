import { createHash } from "node:crypto";
import { z } from "zod";
import { Datasets } from "../datasets/version.ts";
import { makeEvent, type CloudEvent } from "../events/envelope.ts";
import type { EventBus } from "../events/event-bus.ts";
import type { BlobStore } from "../blobs/blob-store.ts";
import { jobNameFor, type JobRunner, type SubmitResult } from "../jobs/job-runner.ts";
import { loadTrainers, type TrainerDefinition } from "../jobs/trainers.ts";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { getAlias, PRODUCTION } from "../registry/aliases.ts";
import { getVersion } from "../registry/model-version.ts";
import type { Logger } from "../telemetry/logger.ts";
import { retrainJob } from "./plan.ts";
import type { RetrainPolicy } from "./policy.ts";
import { SightlineError } from "../errors.ts";

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

/** Per model: the open drift episode (if any), when retrainings started, and the backoff after failed ones. */
type RetrainState = {
  model: string;
  /** `priorRequestedAt`: lastRequestedAt before this episode claimed it (restored if the claim is given back). */
  episode: {
    version: number;
    reportId: string;
    requestId: string;
    startedAt: string;
    priorRequestedAt: string | null;
  } | null;
  lastRequestedAt: string | null;
  /** Retrainings started within the last day (the budget counts them; older ones are dropped). */
  starts?: { at: string; requestId: string }[];
  /** Consecutive retrainings that could not be submitted or failed, and when the next may start. */
  failures?: number;
  retryAfter?: string | null;
};

const RetrainStateSchema: z.ZodType<RetrainState> = z.looseObject({
  model: z.string(),
  episode: z
    .looseObject({
      version: z.number().int(),
      reportId: z.string(),
      requestId: z.string(),
      startedAt: z.string(),
      priorRequestedAt: z.string().nullable(),
    })
    .nullable(),
  lastRequestedAt: z.string().nullable(),
  starts: z.array(z.looseObject({ at: z.string(), requestId: z.string() })).optional(),
  failures: z.number().int().optional(),
  retryAfter: z.string().nullable().optional(),
});

/** Retrain state, one document per model name. */
export const RetrainStates = defineCollection({ name: RETRAIN_STATE, schema: RetrainStateSchema });

/** What the retrain function did with one drift report (its id is the document's). */
export type RetrainDecision = {
  reportId: string;
  model: string;
  outcome: "skipped" | "failed" | "started";
  reason?: string;
  requestId?: string;
  job?: string;
  datasetId?: string;
  retryAfter?: string;
  time: string;
};

const RetrainDecisionSchema: z.ZodType<RetrainDecision> = z.looseObject({
  reportId: z.string(),
  model: z.string(),
  outcome: z.enum(["skipped", "failed", "started"]),
  reason: z.string().optional(),
  requestId: z.string().optional(),
  job: z.string().optional(),
  datasetId: z.string().optional(),
  retryAfter: z.string().optional(),
  time: z.string(),
});

export const RetrainDecisions = defineCollection({ name: RETRAIN_DECISIONS, schema: RetrainDecisionSchema });

const DAY_MS = 24 * 60 * 60 * 1000;

export type RetrainOutcome =
  | { action: "started"; requestId: string; jobName: string; datasetId: string; created: boolean }
  | { action: "skipped"; reason: string }
  | { action: "failed"; reason: string; retryAfter: string }
  | { action: "episode-ended" };

/**
 * The retrain function's work for one `drift.reported` event. The decision is claimed in one transaction on the
 * model's state, so duplicate and concurrent deliveries of the same report start one job: the claim's request id
 * is derived from the report id, the job's name from the request id (a resubmission is recognised), and the
 * `training.requested` event id from both.
 */
export async function onDriftReported(
  deps: RetrainDeps,
  event: CloudEvent<"sightline.drift.reported">,
): Promise<RetrainOutcome> {
  const report = event.data;
  const now = (deps.now ?? (() => new Date()))();
  const stateId = report.model;
  if (!report.drift) {
    // No drift also ends the backoff: whatever made retrainings fail is for the next episode to find out anew.
    const ended = await deps.meta.transaction(async (tx) => {
      const state = await RetrainStates.in(tx).get(stateId);
      if (!state) return false;
      const ends = state.episode?.version === report.version;
      if (ends || (state.failures ?? 0) > 0)
        RetrainStates.in(tx).set(stateId, {
          ...state,
          ...(ends ? { episode: null } : {}),
          failures: 0,
          retryAfter: null,
        });
      return ends;
    });
    return ended ? { action: "episode-ended" } : { action: "skipped", reason: "no drift" };
  }
  const skip = async (reason: string): Promise<RetrainOutcome> => {
    await RetrainDecisions.put(deps.meta, report.reportId, {
      reportId: report.reportId,
      model: report.model,
      outcome: "skipped",
      reason,
      time: now.toISOString(),
    });
    deps.log.info("retraining not started", { reportId: report.reportId, reason });
    return { action: "skipped", reason };
  };
  if (report.severity < deps.policy.minSeverity)
    return skip(`severity ${report.severity.toFixed(2)} is below ${deps.policy.minSeverity}`);
  if (report.window.count < deps.policy.minWindowSize)
    return skip(`window of ${report.window.count} predictions is below ${deps.policy.minWindowSize}`);

  const requestId = `retrain-${createHash("sha256").update(report.reportId).digest("hex").slice(0, 16)}`;
  await releaseIfJobFailed(deps, stateId, report.reportId, now);
  const claim = await deps.meta.transaction(async (tx): Promise<{ ok: true } | { ok: false; reason: string }> => {
    const state = (await RetrainStates.in(tx).get(stateId)) ?? {
      model: report.model,
      episode: null,
      lastRequestedAt: null,
    };
    // This report's own claim: a redelivery after a crash resumes it (the submission is idempotent).
    if (state.episode?.reportId === report.reportId) return { ok: true };
    if (state.episode?.version === report.version)
      return {
        ok: false,
        reason: `drift episode of ${report.model}:${report.version} already retraining (${state.episode.requestId})`,
      };
    if (state.retryAfter && Date.parse(state.retryAfter) > now.getTime()) {
      return {
        ok: false,
        reason: `backing off after ${state.failures ?? 0} failed retraining(s) of ${report.model}: next attempt after ${state.retryAfter}`,
      };
    }
    if (state.lastRequestedAt !== null) {
      const minutes = (now.getTime() - Date.parse(state.lastRequestedAt)) / 60_000;
      if (minutes < deps.policy.cooldownMinutes)
        return {
          ok: false,
          reason: `cooldown: last retraining of ${report.model} started ${minutes.toFixed(1)} min ago (policy: ${deps.policy.cooldownMinutes})`,
        };
    }
    const starts = (state.starts ?? []).filter((s) => now.getTime() - Date.parse(s.at) < DAY_MS);
    const budget = deps.policy.models[report.model]?.maxRetrainsPerDay ?? deps.policy.maxRetrainsPerDay;
    if (starts.length >= budget) {
      const oldest = starts.map((s) => s.at).sort()[0];
      const until = oldest ? `; the next is allowed after ${new Date(Date.parse(oldest) + DAY_MS).toISOString()}` : "";
      return {
        ok: false,
        reason: `retrain budget: ${starts.length} retraining(s) of ${report.model} started in the last 24 h (policy: maxRetrainsPerDay ${budget})${until}`,
      };
    }
    const next: RetrainState = {
      ...state,
      model: report.model,
      episode: {
        version: report.version,
        reportId: report.reportId,
        requestId,
        startedAt: now.toISOString(),
        priorRequestedAt: state.lastRequestedAt,
      },
      lastRequestedAt: now.toISOString(),
      starts: [...starts, { at: now.toISOString(), requestId }],
    };
    RetrainStates.in(tx).set(stateId, next);
    return { ok: true };
  });
  if (!claim.ok) return skip(claim.reason);

  const reason = `drift report ${report.reportId}: severity ${report.severity.toFixed(2)}, drifted ${report.driftedFeatures.join(", ") || "—"}`;
  let datasetId: string;
  let submitted: SubmitResult;
  try {
    // Checked after the claim so a duplicate never counts its own job; across models the limit is best-effort.
    const active = (await deps.jobs.active()).filter((j) => j.requestId !== requestId);
    if (active.length >= deps.policy.maxConcurrentJobs) {
      await release(deps.meta, stateId, report.reportId);
      return skip(`${active.length} training job(s) running; the policy allows ${deps.policy.maxConcurrentJobs}`);
    }
    datasetId = await chooseDataset(deps, report.model, report.version);
    const trainer = await retrainJob(
      { ...deps, trainers: deps.trainers ?? (await loadTrainers(undefined)) },
      report.model,
      datasetId,
    );
    submitted = await deps.jobs.submit({
      requestId,
      model: report.model,
      datasetId,
      reason,
      trigger: "retrain",
      driftReportId: report.reportId,
      ...trainer,
    });
  } catch (err) {
    // Nothing runs for this claim: give it back with a backoff, so the next drift report tries again later
    // instead of finding the episode "already retraining" until the drift goes away.
    const why = `submitting the retraining failed: ${err instanceof Error ? err.message : String(err)}`;
    // null: the claim was no longer ours (released meanwhile), so nothing holds the next report back.
    const retryAfter =
      (await releaseFailed(deps, stateId, (s) => s.episode?.reportId === report.reportId, now, {
        dropStart: requestId,
      })) ?? now.toISOString();
    await RetrainDecisions.put(deps.meta, report.reportId, {
      reportId: report.reportId,
      model: report.model,
      outcome: "failed",
      reason: why,
      requestId,
      retryAfter,
      time: now.toISOString(),
    });
    deps.log.error("retraining could not be submitted", {
      reportId: report.reportId,
      requestId,
      retryAfter,
      reason: why,
    });
    return { action: "failed", reason: why, retryAfter };
  }
  await deps.bus.publish(
    makeEvent(
      "sightline.training.requested",
      { requestId, model: report.model, datasetId, trigger: "retrain", reason, driftReportId: report.reportId },
      { id: `training.requested:${requestId}`, subject: report.model },
    ),
  );
  await RetrainDecisions.put(deps.meta, report.reportId, {
    reportId: report.reportId,
    model: report.model,
    outcome: "started",
    requestId,
    job: submitted.name,
    datasetId,
    time: now.toISOString(),
  });
  deps.log.info("retraining started", {
    reportId: report.reportId,
    requestId,
    job: submitted.name,
    created: submitted.created,
    datasetId,
  });
  return { action: "started", requestId, jobName: submitted.name, datasetId, created: submitted.created };
}

/**
 * The retrain function's work for one `training.failed` event: when the failed job is the open episode's, the
 * episode is released with a backoff (doubling per consecutive failure), so a later drift report retrains again.
 * The failed run still counts against the day's budget. Idempotent: a redelivery finds the episode gone.
 */
export async function onTrainingFailed(
  deps: Pick<RetrainDeps, "meta" | "log" | "policy" | "now">,
  event: CloudEvent<"sightline.training.failed">,
): Promise<{ released: boolean; retryAfter?: string }> {
  const now = (deps.now ?? (() => new Date()))();
  const { requestId, model, reason } = event.data;
  const retryAfter = await releaseFailed(deps, model, (s) => s.episode?.requestId === requestId, now, {});
  if (retryAfter === null) return { released: false };
  deps.log.warn("retraining failed; episode released with backoff", { model, requestId, retryAfter, reason });
  return { released: true, retryAfter };
}

/**
 * A job can fail without publishing `training.failed` (its pod killed before the trainer could say so): when the
 * runner reports the open episode's job failed, the episode is released with a backoff as if it had. A runner that
 * cannot be asked changes nothing here (the submission path handles it).
 */
async function releaseIfJobFailed(deps: RetrainDeps, stateId: string, reportId: string, now: Date): Promise<void> {
  const episode = (await RetrainStates.get(deps.meta, stateId))?.episode;
  if (!episode || episode.reportId === reportId) return;
  const status = await deps.jobs.status(jobNameFor(episode.requestId)).catch(() => undefined);
  if (status?.state !== "failed") return;
  const retryAfter = await releaseFailed(deps, stateId, (s) => s.episode?.requestId === episode.requestId, now, {});
  if (retryAfter)
    deps.log.warn("retraining job failed; episode released with backoff", {
      model: stateId,
      requestId: episode.requestId,
      job: status.name,
      retryAfter,
      reason: status.message ?? "failed",
    });
}

/**
 * Ends the episode `owns` recognises, counts a failure and sets when the next retraining may start. Returns that
 * time, or null when the episode was not (or no longer) the one.
 */
async function releaseFailed(
  deps: Pick<RetrainDeps, "meta" | "policy">,
  stateId: string,
  owns: (state: RetrainState) => boolean,
  now: Date,
  options: { dropStart?: string },
): Promise<string | null> {
  return deps.meta.transaction(async (tx) => {
    const state = await RetrainStates.in(tx).get(stateId);
    if (!state?.episode || !owns(state)) return null;
    const failures = (state.failures ?? 0) + 1;
    const minutes = Math.min(
      deps.policy.maxFailureBackoffMinutes,
      deps.policy.failureBackoffMinutes * 2 ** (failures - 1),
    );
    const retryAfter = new Date(now.getTime() + minutes * 60_000).toISOString();
    const drop = options.dropStart;
    RetrainStates.in(tx).set(stateId, {
      ...state,
      episode: null,
      // A job that never ran neither counts against the budget nor starts a cooldown.
      ...(drop
        ? {
            lastRequestedAt: state.episode.priorRequestedAt,
            starts: (state.starts ?? []).filter((s) => s.requestId !== drop),
          }
        : {}),
      failures,
      retryAfter,
    });
    return retryAfter;
  });
}

/** Gives back a claim that could not be acted on, so a later report can try again. */
async function release(meta: MetadataStore, stateId: string, reportId: string): Promise<void> {
  await meta.transaction(async (tx) => {
    const state = await RetrainStates.in(tx).get(stateId);
    if (state?.episode?.reportId === reportId) {
      const requestId = state.episode.requestId;
      RetrainStates.in(tx).set(stateId, {
        ...state,
        episode: null,
        lastRequestedAt: state.episode.priorRequestedAt,
        starts: (state.starts ?? []).filter((s) => s.requestId !== requestId),
      });
    }
  });
}

async function chooseDataset(deps: RetrainDeps, model: string, version: number): Promise<string> {
  const choice = deps.policy.dataset;
  if (choice === "production") {
    const production = await getAlias(deps.meta, model, PRODUCTION);
    return (await getVersion(deps.meta, model, production?.version ?? version)).datasetId;
  }
  if (choice !== "latest") return choice;
  const recent = await Datasets.query(deps.meta, { orderBy: { field: "createdAt", direction: "desc" }, limit: 50 });
  const newest = recent.map((d) => d.data).find((d) => d.validation !== "failed");
  if (!newest)
    throw new SightlineError(
      "not_found",
      "dataset_not_found",
      "retrain policy says dataset: latest, but no dataset version is registered",
    );
  return newest.id;
}
