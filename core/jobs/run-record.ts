import { z } from "zod";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { TrainerIdentitySchema } from "../registry/model-card.ts";
import { MetricsLineSchema } from "./trainer-contract.ts";

export const RUNS = "runs";

/** A run id that sorts by start time. */
export function newRunId(): string {
  return `run-${new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}-${crypto.randomUUID().slice(0, 8)}`;
}
/** Metric lines kept per run record; a longer stream keeps its newest lines (the record is one document). */
export const MAX_METRIC_LINES = 5000;

/** A training run as it happens (experiment tracking): who trains what, its metric stream and how it ended. */
export const RunRecordSchema = z.object({
  runId: z.string(),
  requestId: z.string(),
  model: z.string(),
  datasetId: z.string(),
  trainer: TrainerIdentitySchema,
  status: z.enum(["running", "succeeded", "failed"]),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  /** The trainer's own numbers from metrics.jsonl, as written; the registry never uses them. */
  metrics: z.array(MetricsLineSchema),
  /** Lines of metrics.jsonl that were not valid metrics, skipped. */
  invalidMetricLines: z.number().int().nonnegative(),
  reason: z.string().optional(),
  version: z.number().int().positive().optional(),
  parentVersion: z.number().int().positive().optional(),
  log: z.string().optional(),
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

/** Training runs keyed by run id. */
export const Runs = defineCollection({ name: RUNS, schema: RunRecordSchema });

export async function putRun(meta: MetadataStore, run: RunRecord): Promise<void> {
  const kept = run.metrics.length > MAX_METRIC_LINES ? { ...run, metrics: run.metrics.slice(-MAX_METRIC_LINES) } : run;
  // Through JSON: no `undefined` members reach the adapter (JSON has none, and adapters would differ).
  await Runs.put(meta, run.runId, JSON.parse(JSON.stringify(kept)) as RunRecord);
}

export async function getRun(meta: MetadataStore, runId: string): Promise<RunRecord | undefined> {
  return Runs.get(meta, runId);
}
