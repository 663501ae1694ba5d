import { flattenParams, getRun, putRun, versionArtefacts, type RunRecord } from "../../core/jobs/run-record.ts";
import type { MetricsLine } from "../../core/jobs/trainer-contract.ts";
import type { ContractJob } from "../../core/jobs/trainers.ts";
import type { ModelCard } from "../../core/registry/model-card.ts";
import type { ModelVersion } from "../../core/registry/model-version.ts";
import type { Logger } from "../../core/telemetry/logger.ts";
import type { RunRequest, Runtime } from "../register-run.ts";

/** A Job's request, with the tags its runner handed over (the trigger). */
type TaggedRequest = RunRequest & { tags?: Record<string, string> };

/*
 * The run record of an image trainer on GKE, whose pod runs three containers: the stage container starts the
 * record (running), the trainer's own image knows nothing of Sightline, and the ingest container finishes it with
 * the metrics.jsonl lines, the outcome and what was registered. Tracking here is best effort: a store that refuses
 * the record is logged, and never fails the staging or the registration.
 */

function startRecord(job: ContractJob, request: TaggedRequest, gitCommit: string | null, startedAt: string): RunRecord {
  return {
    runId: job.runId,
    requestId: request.requestId,
    model: request.model,
    datasetId: request.datasetId,
    trainer: {
      kind: "image",
      ...(job.trainerName ? { name: job.trainerName } : {}),
      ...(job.trainer.image ? { image: job.trainer.image } : {}),
      args: job.args,
    },
    status: "running",
    startedAt,
    metrics: [],
    invalidMetricLines: 0,
    params: flattenParams(job.args),
    tags: {
      trainer: job.trainerName ?? "image",
      actor: request.actor,
      ...(job.trainer.image ? { image: job.trainer.image } : {}),
      ...(gitCommit ? { git_commit: gitCommit } : {}),
      ...(job.fineTune ? { fine_tune: "true" } : {}),
      ...request.tags,
    },
  };
}

/** The stage container: the run has started. */
export async function recordStaged(
  rt: Runtime,
  job: ContractJob,
  request: TaggedRequest,
  gitCommit: string | null,
  log: Logger,
): Promise<void> {
  await putRun(rt.meta, startRecord(job, request, gitCommit, new Date().toISOString())).catch((err: unknown) =>
    log.warn("cannot record the run", { err }),
  );
}

/** The ingest container: how the run ended (registered, or the reason it did not). */
export async function recordIngested(
  rt: Runtime,
  job: ContractJob,
  request: TaggedRequest,
  outcome: { gitCommit: string | null; history: MetricsLine[]; trainingSeconds: number; evaluateSeconds: number } & (
    { version: ModelVersion; card: ModelCard } | { err: unknown }
  ),
  log: Logger,
): Promise<void> {
  try {
    const staged = await getRun(rt.meta, job.runId).catch(() => undefined);
    const base =
      staged ??
      startRecord(job, request, outcome.gitCommit, new Date(Date.now() - outcome.trainingSeconds * 1000).toISOString());
    const ended = {
      ...base,
      metrics: outcome.history,
      phases: { ...base.phases, train: outcome.trainingSeconds, evaluate: outcome.evaluateSeconds },
      finishedAt: new Date().toISOString(),
    };
    if ("err" in outcome) {
      const reason = outcome.err instanceof Error ? outcome.err.message : String(outcome.err);
      await putRun(rt.meta, { ...ended, status: "failed", reason: reason.slice(0, 2000) });
    } else {
      const { version, card } = outcome;
      await putRun(rt.meta, {
        ...ended,
        status: "succeeded",
        version: version.version,
        imagesPerSecond: card.imagesPerSecond,
        heldOut: version.metrics,
        artefacts: versionArtefacts(version),
      });
    }
  } catch (err) {
    log.warn("cannot record the run", { err });
  }
}
