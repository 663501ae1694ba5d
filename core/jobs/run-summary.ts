import { z } from "zod";
import { defineCollection } from "../meta/collection.ts";
import type { RunRecord } from "./run-record.ts";

/*
 * A run's row in the runs table, stored beside its record (collection `run_summaries`, same id): what lists,
 * filters and sorts read, without the metric stream that makes a record large. It is derived from the record only
 * (summaryOf) and written in the same store transaction as the record (putRun), so the two cannot disagree.
 */

export const RUN_SUMMARIES = "run_summaries";

/** A param's value (here rather than in run-record.ts, which imports this module). */
export const ParamValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type ParamValue = z.infer<typeof ParamValueSchema>;

/** The prefix of the registered version's held-out metrics among a run's final metrics. */
export const HELD_OUT_PREFIX = "test_";
/** Stream keys that say when or where a line is, not how good the model is. */
const NOT_METRICS = new Set(["timestamp"]);

export const RunSummarySchema = z.object({
  runId: z.string(),
  requestId: z.string(),
  model: z.string(),
  datasetId: z.string(),
  /** `builtin`, or the contract trainer's name (else `command` / `image`). */
  trainer: z.string(),
  status: z.enum(["running", "succeeded", "failed", "killed"]),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  /** Wall-clock seconds from start to finish (absent while running). */
  seconds: z.number().optional(),
  version: z.number().int().positive().optional(),
  reason: z.string().optional(),
  params: z.record(z.string(), ParamValueSchema),
  tags: z.record(z.string(), z.string()),
  metrics: z.record(z.string(), z.number()),
  imagesPerSecond: z.number().optional(),
  /** The record's own `updatedAt`: a summary whose value differs from its record's is stale. */
  updatedAt: z.string().optional(),
  /** The record's `heartbeatSeconds`: only a run whose writer promised a heartbeat can be seen as lost. */
  heartbeatSeconds: z.number().positive().optional(),
});
/** A run's summary as stored. */
export type StoredRunSummary = z.infer<typeof RunSummarySchema>;

/** Run summaries keyed by run id. */
export const RunSummaries = defineCollection({ name: RUN_SUMMARIES, schema: RunSummarySchema });

/**
 * A run's final metrics: the last value of each key in its metric stream (so `epoch` is the last epoch reached),
 * then the registered version's held-out metrics as `test_KEY` (`test_accuracy`, `test_macro_f1`). The held-out
 * numbers are the platform's own evaluation on the test split, so they replace a trainer's self-reported
 * `test_*` of the same name (which stays in the stream, in `runs show`).
 */
export function finalMetrics(run: Pick<RunRecord, "metrics" | "heldOut">): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of run.metrics) for (const [k, v] of Object.entries(line)) if (!NOT_METRICS.has(k)) out[k] = v;
  for (const [k, v] of Object.entries(run.heldOut ?? {})) out[`${HELD_OUT_PREFIX}${k}`] = v;
  return out;
}

export function trainerLabel(run: Pick<RunRecord, "trainer">): string {
  return run.trainer.kind === "builtin" ? "builtin" : (run.trainer.name ?? run.trainer.kind);
}

export function secondsOf(run: Pick<RunRecord, "startedAt" | "finishedAt">): number | undefined {
  if (!run.finishedAt) return undefined;
  const s = (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000;
  return Number.isFinite(s) ? s : undefined;
}

/** The summary of a record, as stored (no `undefined` members: stores refuse or drop them). */
export function summaryOf(run: RunRecord): StoredRunSummary {
  const seconds = secondsOf(run);
  return {
    runId: run.runId,
    requestId: run.requestId,
    model: run.model,
    datasetId: run.datasetId,
    trainer: trainerLabel(run),
    status: run.status,
    startedAt: run.startedAt,
    ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
    ...(seconds !== undefined ? { seconds } : {}),
    ...(run.version !== undefined ? { version: run.version } : {}),
    ...(run.reason ? { reason: run.reason } : {}),
    params: run.params ?? {},
    tags: run.tags ?? {},
    metrics: finalMetrics(run),
    ...(run.imagesPerSecond !== undefined ? { imagesPerSecond: run.imagesPerSecond } : {}),
    ...(run.updatedAt !== undefined ? { updatedAt: run.updatedAt } : {}),
    ...(run.heartbeatSeconds !== undefined ? { heartbeatSeconds: run.heartbeatSeconds } : {}),
  };
}
