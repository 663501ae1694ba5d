import { z } from "zod";
import { DatasetId as datasetId, Digest as digest, ModelName as modelName } from "../ids.ts";

const version = z.number().int().positive();
const metrics = z.record(z.string(), z.number());

export const DatasetVersioned = z.object({
  datasetId,
  manifestDigest: digest,
  name: z.string().optional(),
  source: z.string(),
  classes: z.array(z.string()).min(1),
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  splits: z.record(z.string(), z.number().int().nonnegative()),
  validation: z.enum(["passed", "failed", "skipped"]),
});

export const TrainingRequested = z.object({
  requestId: z.string().min(1),
  model: modelName,
  datasetId,
  trigger: z.enum(["cli", "ci", "retrain", "demo"]),
  reason: z.string().optional(),
  configDigest: digest.optional(),
  driftReportId: z.string().optional(),
});

export const TrainingCompleted = z.object({
  requestId: z.string().min(1),
  runId: z.string().min(1),
  model: modelName,
  version,
  datasetId,
  modelDigest: digest,
  cardDigest: digest,
  profileDigest: digest.optional(),
  configHash: z.string(),
  gitCommit: z.string().optional(),
  /** The repository of that commit (SIGHTLINE_GIT_REPO_URL of the trainer), for OpenLineage's SourceCodeLocation. */
  gitRepo: z.string().optional(),
  image: z.string().optional(),
  metrics,
  /** The version whose weights the run started from (fine-tuning). */
  parentVersion: version.optional(),
});

export const TrainingFailed = z.object({
  requestId: z.string().min(1),
  runId: z.string().min(1),
  model: modelName,
  datasetId,
  reason: z.string().min(1),
});

export const ModelPromoted = z.object({
  model: modelName,
  version,
  alias: z.string().min(1),
  previousVersion: version.optional(),
  actor: z.string().min(1),
  reason: z.string(),
  decisionId: z.string().optional(),
});

export const ModelRolledBack = z.object({
  model: modelName,
  alias: z.string().min(1),
  fromVersion: version,
  toVersion: version,
  actor: z.string().min(1),
  reason: z.string().min(1),
});

export const PredictionRecord = z.object({
  /** The request id the caller saw (its own `x-request-id` when it sent one): an attribute, not a key. */
  requestId: z.string().min(1),
  /**
   * Serving's own id for this prediction, when the request id came from the caller: what lineage keys it by, so
   * two requests sending the same id keep two records. Absent when the request id is serving's own already.
   */
  predictionId: z.string().min(1).max(200).optional(),
  time: z.iso.datetime({ offset: true }),
  /** The protocol the request came in by (every one goes through the same data plane). */
  protocol: z.enum(["predict", "oip", "vertex"]).optional(),
  label: z.string(),
  index: z.number().int().nonnegative(),
  confidence: z.number().min(0).max(1),
  features: z.record(z.string(), z.number()),
  embedding: z.array(z.number()).optional(),
});

export const PredictionsLogged = z.object({
  model: modelName,
  version,
  records: z.array(PredictionRecord).min(1),
  dropped: z.number().int().nonnegative().default(0),
});

export const DriftReported = z.object({
  model: modelName,
  version,
  reportId: z.string().min(1),
  reportDigest: digest,
  drift: z.boolean(),
  severity: z.number().min(0).max(1),
  driftedFeatures: z.array(z.string()),
  window: z.object({
    from: z.iso.datetime({ offset: true }),
    to: z.iso.datetime({ offset: true }),
    count: z.number().int(),
  }),
});

/** Every event type in ARCHITECTURE.md and the schema of its `data`. */
export const EVENT_DATA = {
  "sightline.dataset.versioned": DatasetVersioned,
  "sightline.training.requested": TrainingRequested,
  "sightline.training.completed": TrainingCompleted,
  "sightline.training.failed": TrainingFailed,
  "sightline.model.promoted": ModelPromoted,
  "sightline.model.rolled_back": ModelRolledBack,
  "sightline.predictions.logged": PredictionsLogged,
  "sightline.drift.reported": DriftReported,
} as const;

export type EventType = keyof typeof EVENT_DATA;
export type EventData<T extends EventType> = z.infer<(typeof EVENT_DATA)[T]>;
export const EVENT_TYPES = Object.keys(EVENT_DATA) as EventType[];
