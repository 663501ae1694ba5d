import { z } from "zod";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { TrainerIdentitySchema } from "../registry/model-card.ts";
import { ParamValueSchema, RunSummaries, summaryOf, type ParamValue } from "./run-summary.ts";
import { MetricsLineSchema } from "./trainer-contract.ts";

export { ParamValueSchema, type ParamValue } from "./run-summary.ts";

export const RUNS = "runs";

/** A run id that sorts by start time. */
export function newRunId(): string {
  return `run-${new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, "")
    .slice(0, 14)}-${crypto.randomUUID().slice(0, 8)}`;
}
/** Metric lines kept per run record; a longer stream keeps its newest lines (the record is one document). */
export const MAX_METRIC_LINES = 5000;

export const RunArtefactSchema = z.object({
  kind: z.enum(["onnx", "card", "profile", "confusion_matrix"]),
  digest: z.string(),
  /** A JSON pointer into the blob when the artefact is part of it (the confusion matrix is in the card). */
  pointer: z.string().optional(),
});
export type RunArtefact = z.infer<typeof RunArtefactSchema>;

/** A training run as it happens (experiment tracking): who trains what, its metric stream and how it ended. */
export const RunRecordSchema = z.object({
  runId: z.string(),
  requestId: z.string(),
  model: z.string(),
  datasetId: z.string(),
  trainer: TrainerIdentitySchema,
  /** `killed`: the trainer's process ended by a signal before it finished the run (recorded by its job runner). */
  status: z.enum(["running", "succeeded", "failed", "killed"]),
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
  // Added later: optional, so records written before them still parse.
  /** What the run was given: the built-in trainer's resolved config (nested keys dotted), a contract trainer's args. */
  params: z.record(z.string(), ParamValueSchema).optional(),
  /** Where the run came from, where known: trigger, actor, git_commit, git_dirty, image, trainer, backend. */
  tags: z.record(z.string(), z.string()).optional(),
  /** Training images per second over the training phase. */
  imagesPerSecond: z.number().nonnegative().optional(),
  /** Seconds spent in each phase (load, train, evaluate, export, register; a contract run: stage, train, evaluate). */
  phases: z.record(z.string(), z.number().nonnegative()).optional(),
  /** What the run produced, by digest: the ONNX model, the card, the drift profile and the confusion matrix (in the card). */
  artefacts: z.array(RunArtefactSchema).optional(),
  /** When the record was last written: a `running` run not heard from for long has likely died unrecorded. */
  updatedAt: z.string().optional(),
  /**
   * How often the writer promised to write the record while running (RunRecorder's heartbeat): a `running` run not
   * written for many of these is shown `lost`. Absent (image trainers on GKE, older records): never seen as lost.
   */
  heartbeatSeconds: z.number().positive().optional(),
  /** Where a running trainer is, when it says (the built-in trainer does, every few seconds). */
  progress: z
    .object({
      epoch: z.number().int(),
      epochs: z.number().int(),
      batch: z.number().int(),
      batches: z.number().int(),
      etaSeconds: z.number().nonnegative().optional(),
    })
    .optional(),
  /** The registered version's held-out metrics (the platform's own evaluation), when the run registered one. */
  heldOut: z.record(z.string(), z.number()).optional(),
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

/** Training runs keyed by run id. */
export const Runs = defineCollection({ name: RUNS, schema: RunRecordSchema });

/**
 * Writes a run's record and its summary (run-summary.ts) in one transaction: both or neither land, so a process
 * that dies between them cannot leave a list showing another state than `runs show`.
 */
export async function putRun(meta: MetadataStore, run: RunRecord): Promise<void> {
  const record = storable(run);
  await meta.transaction(async (tx) => {
    Runs.in(tx).set(record.runId, record);
    RunSummaries.in(tx).set(record.runId, summaryOf(record));
  });
}

/** The record as putRun stores it: stamped, its stream capped, through JSON (no `undefined` reaches an adapter). */
export function storable(run: RunRecord): RunRecord {
  const stamped = { ...run, updatedAt: new Date().toISOString() };
  const kept =
    stamped.metrics.length > MAX_METRIC_LINES
      ? { ...stamped, metrics: stamped.metrics.slice(-MAX_METRIC_LINES) }
      : stamped;
  return JSON.parse(JSON.stringify(kept)) as RunRecord;
}

export async function getRun(meta: MetadataStore, runId: string): Promise<RunRecord | undefined> {
  return Runs.get(meta, runId);
}

/** A nested config as flat params: `{ a: { b: 1 } }` → `{ "a.b": 1 }`; arrays are kept as their JSON text. */
export function flattenParams(value: Record<string, unknown>, prefix = ""): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v))
      Object.assign(out, flattenParams(v as Record<string, unknown>, key));
    else if (
      v === null ||
      typeof v === "string" ||
      typeof v === "boolean" ||
      (typeof v === "number" && Number.isFinite(v))
    )
      out[key] = v;
    else if (v !== undefined) out[key] = JSON.stringify(v);
  }
  return out;
}

/** The artefacts of a registered version, from its digests. */
export function versionArtefacts(d: {
  modelDigest: string;
  cardDigest: string;
  profileDigest?: string | null;
}): RunArtefact[] {
  return [
    { kind: "onnx", digest: d.modelDigest },
    { kind: "card", digest: d.cardDigest },
    ...(d.profileDigest ? [{ kind: "profile" as const, digest: d.profileDigest }] : []),
    { kind: "confusion_matrix", digest: d.cardDigest, pointer: "/evaluation/confusion" },
  ];
}
