import { z } from "zod";

/** The node and record shapes of the lineage graph (type aliases, so they are JSON documents), and their schemas. */
export type Metrics = Record<string, number>;

export type DatasetNode = {
  kind: "dataset";
  datasetId: string;
  manifestDigest: string;
  name: string | null;
  source: string;
  classes: string[];
  files: number;
  bytes: number;
  splits: Record<string, number>;
  validation: string;
  time: string;
};

export type RequestNode = {
  kind: "request";
  requestId: string;
  model: string;
  datasetId: string;
  trigger: string;
  reason: string | null;
  configDigest: string | null;
  driftReportId: string | null;
  time: string;
};

export type RunNode = {
  kind: "run";
  runId: string;
  requestId: string;
  model: string;
  datasetId: string;
  status: "completed" | "failed";
  version: number | null;
  configHash: string | null;
  gitCommit: string | null;
  /** The repository the run's code came from, when the run recorded one. */
  gitRepo?: string;
  image: string | null;
  metrics: Metrics;
  modelDigest: string | null;
  cardDigest: string | null;
  reason: string | null;
  time: string;
};

export type ModelNode = {
  kind: "model";
  name: string;
  version: number;
  runId: string;
  requestId: string;
  datasetId: string;
  modelDigest: string;
  cardDigest: string;
  profileDigest: string | null;
  configHash: string;
  gitCommit: string | null;
  image: string | null;
  metrics: Metrics;
  /** The version whose weights this one was fine-tuned from. */
  parentVersion?: number;
  time: string;
};

export type AliasMoveNode = {
  kind: "alias_move";
  eventId: string;
  action: "promoted" | "rolled_back";
  model: string;
  alias: string;
  from: number | null;
  to: number;
  actor: string;
  reason: string;
  decisionId: string | null;
  time: string;
};

export type WindowNode = {
  kind: "window";
  eventId: string;
  model: string;
  version: number;
  count: number;
  dropped: number;
  from: string;
  to: string;
  time: string;
};

export type DriftNode = {
  kind: "drift";
  reportId: string;
  model: string;
  version: number;
  reportDigest: string;
  drift: boolean;
  severity: number;
  driftedFeatures: string[];
  windowFrom: string;
  windowTo: string;
  windowCount: number;
  time: string;
};

export type PredictionEntry = {
  /** The key of this record: serving's own id (the request id when serving chose it). */
  predictionId: string;
  /** The request id the caller saw, possibly its own and shared by several predictions. */
  requestId: string;
  model: string;
  version: number;
  /** The id of the `predictions.logged` event (the window) that carried it. */
  window: string;
  time: string;
  label: string;
  confidence: number;
};

export type LineageNode = DatasetNode | RequestNode | RunNode | ModelNode | AliasMoveNode | WindowNode | DriftNode;

// The stored forms, checked against the types above. Loose objects: a field this code does not know (written by a
// newer release) is kept, so equal graphs stay byte-equal.
const str = z.string();
const int = z.number().int();
const MetricsSchema = z.record(z.string(), z.number());

const DatasetNodeSchema = z.looseObject({
  kind: z.literal("dataset"),
  datasetId: str,
  manifestDigest: str,
  name: str.nullable(),
  source: str,
  classes: z.array(str),
  files: int,
  bytes: z.number(),
  splits: z.record(z.string(), z.number()),
  validation: str,
  time: str,
});

const RequestNodeSchema = z.looseObject({
  kind: z.literal("request"),
  requestId: str,
  model: str,
  datasetId: str,
  trigger: str,
  reason: str.nullable(),
  configDigest: str.nullable(),
  driftReportId: str.nullable(),
  time: str,
});

const RunNodeSchema = z.looseObject({
  kind: z.literal("run"),
  runId: str,
  requestId: str,
  model: str,
  datasetId: str,
  status: z.enum(["completed", "failed"]),
  version: int.nullable(),
  configHash: str.nullable(),
  gitCommit: str.nullable(),
  gitRepo: str.optional(),
  image: str.nullable(),
  metrics: MetricsSchema,
  modelDigest: str.nullable(),
  cardDigest: str.nullable(),
  reason: str.nullable(),
  time: str,
});

const ModelNodeSchema = z.looseObject({
  kind: z.literal("model"),
  name: str,
  version: int,
  runId: str,
  requestId: str,
  datasetId: str,
  modelDigest: str,
  cardDigest: str,
  profileDigest: str.nullable(),
  configHash: str,
  gitCommit: str.nullable(),
  image: str.nullable(),
  metrics: MetricsSchema,
  parentVersion: int.optional(),
  time: str,
});

const AliasMoveNodeSchema = z.looseObject({
  kind: z.literal("alias_move"),
  eventId: str,
  action: z.enum(["promoted", "rolled_back"]),
  model: str,
  alias: str,
  from: int.nullable(),
  to: int,
  actor: str,
  reason: str,
  decisionId: str.nullable(),
  time: str,
});

const WindowNodeSchema = z.looseObject({
  kind: z.literal("window"),
  eventId: str,
  model: str,
  version: int,
  count: int,
  dropped: int,
  from: str,
  to: str,
  time: str,
});

const DriftNodeSchema = z.looseObject({
  kind: z.literal("drift"),
  reportId: str,
  model: str,
  version: int,
  reportDigest: str,
  drift: z.boolean(),
  severity: z.number(),
  driftedFeatures: z.array(str),
  windowFrom: str,
  windowTo: str,
  windowCount: int,
  time: str,
});

/** A node as stored: its data and its node id (`kind:key`). */
export type StoredNode = LineageNode & { id: string };

export const StoredNodeSchema: z.ZodType<StoredNode> = z
  .discriminatedUnion("kind", [
    DatasetNodeSchema,
    RequestNodeSchema,
    RunNodeSchema,
    ModelNodeSchema,
    AliasMoveNodeSchema,
    WindowNodeSchema,
    DriftNodeSchema,
  ])
  .and(z.looseObject({ id: str }));

/** A prediction as stored: records written before predictions had their own id carry none (their key is the request id). */
export type StoredPrediction = Omit<PredictionEntry, "predictionId"> & { predictionId?: string; expireAt?: string };

export const StoredPredictionSchema: z.ZodType<StoredPrediction> = z.looseObject({
  predictionId: str.optional(),
  requestId: str,
  model: str,
  version: int,
  window: str,
  time: str,
  label: str,
  confidence: z.number(),
  expireAt: str.optional(),
});
