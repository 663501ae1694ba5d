import type { MetadataStore } from "../meta/metadata-store.ts";
import type { AliasMoveNode, DatasetNode, DriftNode, LineageNode, ModelNode, PredictionEntry, RequestNode, RunNode, WindowNode } from "./nodes.ts";
import { docKey, EDGES, type Edge, modelNodeId, nodeId, NODES, PREDICTIONS } from "./store.ts";
import { SightlineError } from "../errors.ts";

export class LineageNotFoundError extends SightlineError {
  constructor(what: string, code = "lineage_not_found") {
    super("not_found", code, `${what} has no lineage record (has its event been published?)`);
  }
}

/** A request id several predictions share (callers choose their own): the caller picks one by its prediction id. */
export class AmbiguousPredictionError extends LineageNotFoundError {
  readonly candidates: PredictionEntry[];
  constructor(requestId: string, candidates: PredictionEntry[]) {
    // Still "not found" to a caller asking for one prediction: none is the one, until it names which.
    super(`prediction request ${requestId}`, "prediction_ambiguous");
    this.candidates = candidates;
    const list = candidates.map((c) => `${c.predictionId} (${c.time}, ${c.model}:${c.version}, ${c.label})`).join(", ");
    this.message = `request id ${requestId} was sent with ${candidates.length} predictions; name one by its prediction id (x-prediction-id): ${list}`;
  }
}

/** A dataset as lineage knows it; `record` is null when only its id is known (its versioned event not seen). */
export type DatasetRef = { datasetId: string; manifestDigest: string | null; record: DatasetNode | null };

export type ModelLineage = {
  model: ModelNode;
  dataset: DatasetRef;
  request: RequestNode | null;
  run: RunNode | null;
  /** Promotions and rollbacks that moved an alias to or from this version, oldest first. */
  aliasMoves: AliasMoveNode[];
  driftReports: DriftNode[];
  /** Prediction windows served by this version, oldest first. */
  windows: WindowNode[];
};

export type PredictionLineage = { prediction: PredictionEntry; window: WindowNode | null; lineage: ModelLineage };

export type DatasetLineage = {
  dataset: DatasetRef;
  requests: RequestNode[];
  runs: RunNode[];
  models: ModelNode[];
};

export async function getNode<T extends LineageNode>(meta: MetadataStore, id: string): Promise<T | null> {
  const doc = await meta.get(NODES, docKey(id));
  return doc ? (doc.data as T) : null;
}

async function edgesTo(meta: MetadataStore, to: string, rel?: Edge["rel"]): Promise<Edge[]> {
  const docs = await meta.query(EDGES, { where: [{ field: "to", op: "==", value: to }, ...(rel ? [{ field: "rel", op: "==" as const, value: rel }] : [])] });
  return docs.map((d) => d.data as Edge);
}

async function nodesFrom<T extends LineageNode>(meta: MetadataStore, edges: Edge[]): Promise<T[]> {
  const ids = [...new Set(edges.map((e) => e.from))];
  const nodes = await Promise.all(ids.map((id) => getNode<T>(meta, id)));
  return nodes.filter((n): n is Awaited<T> => n !== null);
}

const byTime = <T extends { time: string }>(a: T, b: T): number => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0);

export async function datasetRef(meta: MetadataStore, datasetId: string): Promise<DatasetRef> {
  const record = await getNode<DatasetNode>(meta, nodeId("dataset", datasetId));
  return { datasetId, manifestDigest: record?.manifestDigest ?? null, record };
}

/** Model `name:version` → its dataset, request, run (config, commit, image, metrics), alias moves, drift reports. */
export async function modelLineage(meta: MetadataStore, name: string, version: number): Promise<ModelLineage> {
  const id = modelNodeId(name, version);
  const model = await getNode<ModelNode>(meta, id);
  if (!model) throw new LineageNotFoundError(`model ${name}:${version}`);
  const [dataset, request, run, moves, drift, windows] = await Promise.all([
    datasetRef(meta, model.datasetId),
    getNode<RequestNode>(meta, nodeId("request", model.requestId)),
    getNode<RunNode>(meta, nodeId("run", model.runId)),
    edgesTo(meta, id).then((edges) => nodesFrom<AliasMoveNode>(meta, edges.filter((e) => e.rel === "moved_to" || e.rel === "moved_from"))),
    edgesTo(meta, id, "about").then((edges) => nodesFrom<DriftNode>(meta, edges)),
    edgesTo(meta, id, "served_by").then((edges) => nodesFrom<WindowNode>(meta, edges)),
  ]);
  return { model, dataset, request, run, aliasMoves: moves.sort(byTime), driftReports: drift.sort(byTime), windows: windows.sort(byTime) };
}

/**
 * A prediction id, or the request id a caller sent → the model version that answered it → its run → its dataset.
 * Our own id names one record; a caller's id may name several, and then the error lists them.
 */
export async function predictionLineage(meta: MetadataStore, id: string): Promise<PredictionLineage> {
  const prediction = await findPrediction(meta, id);
  const [window, lineage] = await Promise.all([
    getNode<WindowNode>(meta, nodeId("window", prediction.window)),
    modelLineage(meta, prediction.model, prediction.version),
  ]);
  return { prediction, window, lineage };
}

async function findPrediction(meta: MetadataStore, id: string): Promise<PredictionEntry> {
  const doc = await meta.get(PREDICTIONS, docKey(id));
  // Records written before predictions had their own id carry none: their key is their request id.
  if (doc) return { ...(doc.data as PredictionEntry), predictionId: String(doc.data.predictionId ?? doc.data.requestId) };
  const shared = (await meta.query(PREDICTIONS, { where: [{ field: "requestId", op: "==", value: id }] })).map((d) => d.data as PredictionEntry).sort(byTime);
  if (shared.length === 0) throw new LineageNotFoundError(`prediction request ${id}`);
  if (shared.length > 1) throw new AmbiguousPredictionError(id, shared);
  return shared[0]!;
}

/** Dataset `id` → every training request, run and model version trained on it. */
export async function datasetLineage(meta: MetadataStore, datasetId: string): Promise<DatasetLineage> {
  const [dataset, edges] = await Promise.all([datasetRef(meta, datasetId), edgesTo(meta, nodeId("dataset", datasetId), "trained_on")]);
  const nodes = await nodesFrom<LineageNode>(meta, edges);
  if (!dataset.record && nodes.length === 0) throw new LineageNotFoundError(`dataset ${datasetId}`);
  const pick = <K extends LineageNode["kind"]>(kind: K): Extract<LineageNode, { kind: K }>[] =>
    nodes.filter((n): n is Extract<LineageNode, { kind: K }> => n.kind === kind);
  return {
    dataset,
    requests: pick("request").sort(byTime),
    runs: pick("run").sort(byTime),
    models: pick("model").sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version),
  };
}
