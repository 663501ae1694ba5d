import { CorruptRecordError } from "../meta/collection.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import type {
  AliasMoveNode,
  DatasetNode,
  DriftNode,
  LineageNode,
  ModelNode,
  PredictionEntry,
  RequestNode,
  RunNode,
  StoredPrediction,
  WindowNode,
} from "./nodes.ts";
import { docKey, type Edge, Edges, modelNodeId, nodeId, type NodeKind, Nodes, Predictions } from "./store.ts";
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

export type NodeOf<K extends NodeKind> = Extract<LineageNode, { kind: K }>;

/** The node `id` (of `kind`, when given: its id says so, so another kind means a corrupt record), or null. */
export async function getNode(meta: MetadataStore, id: string): Promise<LineageNode | null>;
export async function getNode<K extends NodeKind>(meta: MetadataStore, id: string, kind: K): Promise<NodeOf<K> | null>;
export async function getNode(meta: MetadataStore, id: string, kind?: NodeKind): Promise<LineageNode | null> {
  const node = (await Nodes.get(meta, docKey(id))) ?? null;
  if (node === null || kind === undefined) return node;
  if (node.kind !== kind) {
    throw new CorruptRecordError(Nodes.name, docKey(id), [
      {
        code: "custom",
        path: ["kind"],
        message: `node ${id} should be a ${kind} node, not ${node.kind}`,
        input: node.kind,
      },
    ]);
  }
  return node;
}

async function edgesTo(meta: MetadataStore, to: string, rel?: Edge["rel"]): Promise<Edge[]> {
  const docs = await Edges.query(meta, {
    where: [{ field: "to", op: "==", value: to }, ...(rel ? [{ field: "rel", op: "==" as const, value: rel }] : [])],
  });
  return docs.map((d) => d.data);
}

async function nodesFrom<K extends NodeKind>(meta: MetadataStore, edges: Edge[], kind: K): Promise<NodeOf<K>[]> {
  const ids = [...new Set(edges.map((e) => e.from))];
  const nodes = await Promise.all(ids.map((id) => getNode(meta, id, kind)));
  return nodes.filter((n) => n !== null);
}

const byTime = <T extends { time: string }>(a: T, b: T): number => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0);

export async function datasetRef(meta: MetadataStore, datasetId: string): Promise<DatasetRef> {
  const record = await getNode(meta, nodeId("dataset", datasetId), "dataset");
  return { datasetId, manifestDigest: record?.manifestDigest ?? null, record };
}

/** Model `name:version` → its dataset, request, run (config, commit, image, metrics), alias moves, drift reports. */
export async function modelLineage(meta: MetadataStore, name: string, version: number): Promise<ModelLineage> {
  const id = modelNodeId(name, version);
  const model = await getNode(meta, id, "model");
  if (!model) throw new LineageNotFoundError(`model ${name}:${version}`);
  const [dataset, request, run, moves, drift, windows] = await Promise.all([
    datasetRef(meta, model.datasetId),
    getNode(meta, nodeId("request", model.requestId), "request"),
    getNode(meta, nodeId("run", model.runId), "run"),
    edgesTo(meta, id).then((edges) =>
      nodesFrom(
        meta,
        edges.filter((e) => e.rel === "moved_to" || e.rel === "moved_from"),
        "alias_move",
      ),
    ),
    edgesTo(meta, id, "about").then((edges) => nodesFrom(meta, edges, "drift")),
    edgesTo(meta, id, "served_by").then((edges) => nodesFrom(meta, edges, "window")),
  ]);
  return {
    model,
    dataset,
    request,
    run,
    aliasMoves: moves.sort(byTime),
    driftReports: drift.sort(byTime),
    windows: windows.sort(byTime),
  };
}

/**
 * A prediction id, or the request id a caller sent → the model version that answered it → its run → its dataset.
 * Our own id names one record; a caller's id may name several, and then the error lists them.
 */
export async function predictionLineage(meta: MetadataStore, id: string): Promise<PredictionLineage> {
  const prediction = await findPrediction(meta, id);
  const [window, lineage] = await Promise.all([
    getNode(meta, nodeId("window", prediction.window), "window"),
    modelLineage(meta, prediction.model, prediction.version),
  ]);
  return { prediction, window, lineage };
}

async function findPrediction(meta: MetadataStore, id: string): Promise<PredictionEntry> {
  const found = await Predictions.get(meta, docKey(id));
  if (found) return withId(found);
  const shared = (await Predictions.query(meta, { where: [{ field: "requestId", op: "==", value: id }] }))
    .map((d) => withId(d.data))
    .sort(byTime);
  if (shared.length === 0) throw new LineageNotFoundError(`prediction request ${id}`);
  if (shared.length > 1) throw new AmbiguousPredictionError(id, shared);
  return shared[0]!;
}

// Records written before predictions had their own id carry none: their key is their request id.
const withId = (p: StoredPrediction): PredictionEntry => ({ ...p, predictionId: p.predictionId ?? p.requestId });

/** Dataset `id` → every training request, run and model version trained on it. */
export async function datasetLineage(meta: MetadataStore, datasetId: string): Promise<DatasetLineage> {
  const [dataset, edges] = await Promise.all([
    datasetRef(meta, datasetId),
    edgesTo(meta, nodeId("dataset", datasetId), "trained_on"),
  ]);
  const nodes = (await Promise.all([...new Set(edges.map((e) => e.from))].map((id) => getNode(meta, id)))).filter(
    (n) => n !== null,
  );
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
