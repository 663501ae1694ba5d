import type { AnyCloudEvent, CloudEvent } from "../events/envelope.ts";
import type { Collection } from "../meta/collection.ts";
import { EXPIRES_AT, expiresAfter, type MetadataStore, type Transaction } from "../meta/metadata-store.ts";
import type {
  AliasMoveNode,
  DatasetNode,
  DriftNode,
  LineageNode,
  ModelNode,
  PredictionEntry,
  RequestNode,
  RunNode,
  WindowNode,
} from "./nodes.ts";
import { docKey, edgeKey, Edges, EventMarkers, modelNodeId, nodeId, Nodes, Predictions, type Edge } from "./store.ts";

/** A prediction's lineage entry is kept this long after the prediction, then deleted (one document per request). */
export const PREDICTION_LINEAGE_DAYS = 90;

/** Firestore allows 500 writes per transaction; larger prediction windows are written in chunks first. */
const MAX_WRITES_PER_TX = 400;

/** One document write, typed by its collection when it is made. */
type Write = (tx: Transaction) => void;

/**
 * Records one event in the lineage graph, idempotently by event id: in one transaction it checks the event's
 * marker and, if absent, writes the event's nodes, edges and the marker. Every node is written by exactly one kind
 * of event and every id and value derives from the event alone (times are the event's, never the clock's), so
 * events arriving in any order, or twice, give the same graph byte for byte.
 * Returns false when the event had already been recorded.
 */
export async function recordLineage(meta: MetadataStore, event: AnyCloudEvent): Promise<boolean> {
  const marker = docKey(event.id);
  const writes = writesFor(event);
  // Big prediction windows: everything but the marker goes in chunks beforehand. Each write is an idempotent upsert
  // of fixed content, so a crash between chunks is repaired by the redelivery, and the marker still comes last.
  if (writes.length > MAX_WRITES_PER_TX) {
    if (await EventMarkers.get(meta, marker)) return false;
    for (let i = 0; i < writes.length; i += MAX_WRITES_PER_TX) {
      const chunk = writes.slice(i, i + MAX_WRITES_PER_TX);
      await meta.transaction(async (tx) => chunk.forEach((w) => w(tx)));
    }
    return meta.transaction(async (tx) => mark(tx, marker, event, []));
  }
  return meta.transaction(async (tx) => mark(tx, marker, event, writes));
}

async function mark(tx: Transaction, marker: string, event: AnyCloudEvent, writes: Write[]): Promise<boolean> {
  const markers = EventMarkers.in(tx);
  if (await markers.get(marker)) return false;
  for (const w of writes) w(tx);
  markers.set(marker, { eventId: event.id, type: event.type, time: event.time });
  return true;
}

const write =
  <T>(collection: Collection<T>, id: string, data: T): Write =>
  (tx) =>
    collection.in(tx).set(id, data);
const node = (id: string, data: LineageNode): Write => write(Nodes, docKey(id), { id, ...data });
const edge = (from: string, rel: Edge["rel"], to: string): Write =>
  write(Edges, edgeKey({ from, rel, to }), { from, rel, to });

/** The documents an event contributes to the graph. */
export function writesFor(event: AnyCloudEvent): Write[] {
  switch (event.type) {
    case "sightline.dataset.versioned":
      return datasetWrites(event);
    case "sightline.training.requested":
      return requestWrites(event);
    case "sightline.training.completed":
      return completedRunWrites(event);
    case "sightline.training.failed":
      return failedRunWrites(event);
    case "sightline.model.promoted":
    case "sightline.model.rolled_back":
      return aliasMoveWrites(event);
    case "sightline.predictions.logged":
      return predictionWrites(event);
    case "sightline.drift.reported":
      return driftWrites(event);
  }
}

function datasetWrites(event: CloudEvent<"sightline.dataset.versioned">): Write[] {
  const d = event.data;
  const data: DatasetNode = {
    kind: "dataset",
    datasetId: d.datasetId,
    manifestDigest: d.manifestDigest,
    name: d.name ?? null,
    source: d.source,
    classes: d.classes,
    files: d.files,
    bytes: d.bytes,
    splits: d.splits,
    validation: d.validation,
    time: event.time,
  };
  return [node(nodeId("dataset", d.datasetId), data)];
}

function requestWrites(event: CloudEvent<"sightline.training.requested">): Write[] {
  const d = event.data;
  const id = nodeId("request", d.requestId);
  const data: RequestNode = {
    kind: "request",
    requestId: d.requestId,
    model: d.model,
    datasetId: d.datasetId,
    trigger: d.trigger,
    reason: d.reason ?? null,
    configDigest: d.configDigest ?? null,
    driftReportId: d.driftReportId ?? null,
    time: event.time,
  };
  return [
    node(id, data),
    edge(id, "trained_on", nodeId("dataset", d.datasetId)),
    ...(d.driftReportId ? [edge(id, "triggered_by", nodeId("drift", d.driftReportId))] : []),
  ];
}

function completedRunWrites(event: CloudEvent<"sightline.training.completed">): Write[] {
  const d = event.data;
  const time = event.time;
  const run = nodeId("run", d.runId);
  const model = modelNodeId(d.model, d.version);
  const dataset = nodeId("dataset", d.datasetId);
  const runData: RunNode = {
    kind: "run",
    runId: d.runId,
    requestId: d.requestId,
    model: d.model,
    datasetId: d.datasetId,
    status: "completed",
    version: d.version,
    configHash: d.configHash,
    gitCommit: d.gitCommit ?? null,
    ...(d.gitRepo ? { gitRepo: d.gitRepo } : {}),
    image: d.image ?? null,
    metrics: d.metrics,
    modelDigest: d.modelDigest,
    cardDigest: d.cardDigest,
    reason: null,
    time,
  };
  const modelData: ModelNode = {
    kind: "model",
    name: d.model,
    version: d.version,
    runId: d.runId,
    requestId: d.requestId,
    datasetId: d.datasetId,
    modelDigest: d.modelDigest,
    cardDigest: d.cardDigest,
    profileDigest: d.profileDigest ?? null,
    configHash: d.configHash,
    gitCommit: d.gitCommit ?? null,
    image: d.image ?? null,
    metrics: d.metrics,
    ...(d.parentVersion !== undefined ? { parentVersion: d.parentVersion } : {}),
    time,
  };
  return [
    node(run, runData),
    node(model, modelData),
    edge(run, "for_request", nodeId("request", d.requestId)),
    edge(run, "trained_on", dataset),
    edge(model, "produced_by", run),
    edge(model, "trained_on", dataset),
    ...(d.parentVersion !== undefined ? [edge(model, "fine_tuned_from", modelNodeId(d.model, d.parentVersion))] : []),
  ];
}

function failedRunWrites(event: CloudEvent<"sightline.training.failed">): Write[] {
  const d = event.data;
  const run = nodeId("run", d.runId);
  const runData: RunNode = {
    kind: "run",
    runId: d.runId,
    requestId: d.requestId,
    model: d.model,
    datasetId: d.datasetId,
    status: "failed",
    version: null,
    configHash: null,
    gitCommit: null,
    image: null,
    metrics: {},
    modelDigest: null,
    cardDigest: null,
    reason: d.reason,
    time: event.time,
  };
  return [
    node(run, runData),
    edge(run, "for_request", nodeId("request", d.requestId)),
    edge(run, "trained_on", nodeId("dataset", d.datasetId)),
  ];
}

function aliasMoveWrites(
  event: CloudEvent<"sightline.model.promoted"> | CloudEvent<"sightline.model.rolled_back">,
): Write[] {
  const promoted = event.type === "sightline.model.promoted";
  const d = event.data;
  const move = nodeId("alias_move", event.id);
  const from = promoted ? (event.data.previousVersion ?? null) : event.data.fromVersion;
  const to = promoted ? event.data.version : event.data.toVersion;
  const data: AliasMoveNode = {
    kind: "alias_move",
    eventId: event.id,
    action: promoted ? "promoted" : "rolled_back",
    model: d.model,
    alias: d.alias,
    from,
    to,
    actor: d.actor,
    reason: d.reason,
    decisionId: promoted ? (event.data.decisionId ?? null) : null,
    time: event.time,
  };
  return [
    node(move, data),
    edge(move, "moved_to", modelNodeId(d.model, to)),
    ...(from === null ? [] : [edge(move, "moved_from", modelNodeId(d.model, from))]),
  ];
}

function predictionWrites(event: CloudEvent<"sightline.predictions.logged">): Write[] {
  const d = event.data;
  const time = event.time;
  const window = nodeId("window", event.id);
  const times = d.records.map((r) => r.time).sort();
  const data: WindowNode = {
    kind: "window",
    eventId: event.id,
    model: d.model,
    version: d.version,
    count: d.records.length,
    dropped: d.dropped,
    from: times[0] ?? time,
    to: times[times.length - 1] ?? time,
    time,
  };
  const predictions = d.records.map((r): Write => {
    // Keyed by serving's own id, never by one a caller chose: the caller's id is an attribute, and two requests
    // sending the same one keep two records. Only what lineage needs: features and embeddings stay with drift.
    const predictionId = r.predictionId ?? r.requestId;
    const entry: PredictionEntry = {
      predictionId,
      requestId: r.requestId,
      model: d.model,
      version: d.version,
      window: event.id,
      time: r.time,
      label: r.label,
      confidence: r.confidence,
    };
    return write(Predictions, docKey(predictionId), {
      ...entry,
      [EXPIRES_AT]: expiresAfter(r.time, PREDICTION_LINEAGE_DAYS),
    });
  });
  return [node(window, data), edge(window, "served_by", modelNodeId(d.model, d.version)), ...predictions];
}

function driftWrites(event: CloudEvent<"sightline.drift.reported">): Write[] {
  const d = event.data;
  const drift = nodeId("drift", d.reportId);
  const data: DriftNode = {
    kind: "drift",
    reportId: d.reportId,
    model: d.model,
    version: d.version,
    reportDigest: d.reportDigest,
    drift: d.drift,
    severity: d.severity,
    driftedFeatures: d.driftedFeatures,
    windowFrom: d.window.from,
    windowTo: d.window.to,
    windowCount: d.window.count,
    time: event.time,
  };
  return [node(drift, data), edge(drift, "about", modelNodeId(d.model, d.version))];
}
