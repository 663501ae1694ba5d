/** The node and record shapes of the lineage graph (type aliases, so they are JSON documents). */
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
