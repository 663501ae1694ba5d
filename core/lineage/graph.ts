import { SightlineError } from "../errors.ts";
import { isDatasetId } from "../ids.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { resolveAlias } from "../registry/aliases.ts";
import { parseModelRef } from "../registry/model-version.ts";
import type { RunNode } from "./nodes.ts";
import {
  datasetLineage,
  getNode,
  modelLineage,
  predictionLineage,
  type DatasetLineage,
  type DatasetRef,
  type ModelLineage,
} from "./queries.ts";
import { nodeId } from "./store.ts";

/**
 * The lineage of one id as a drawable graph: prediction → model → run → dataset, and the run's commit and image.
 * Built from the same queries as `sightline lineage …`; node ids are lineage node ids (`kind:key`).
 */
export type GraphNodeKind = "prediction" | "model" | "request" | "drift" | "run" | "dataset" | "commit" | "image";
export type GraphNode = {
  id: string;
  kind: GraphNodeKind;
  label: string;
  detail: string;
  /** On a drift report: the model version it judged (where its history is). */
  /** What a drift node is about: the model version, and the window's number when the report id carries it. */
  about?: { model: string; version: number; seq?: number };
};
export type GraphEdge = { from: string; to: string; rel: string };
export type LineageGraph = {
  query: string;
  found: "prediction" | "model" | "run" | "dataset";
  nodes: GraphNode[];
  edges: GraphEdge[];
};

class GraphBuilder {
  readonly nodes = new Map<string, GraphNode>();
  readonly edges: GraphEdge[] = [];
  /** Request node id → the drift report that started it, drawn once the graph is built (it needs a read). */
  readonly driftReports = new Map<string, string>();
  node(n: GraphNode): string {
    if (!this.nodes.has(n.id)) this.nodes.set(n.id, n);
    return n.id;
  }
  edge(from: string, rel: string, to: string): void {
    if (!this.edges.some((e) => e.from === from && e.to === to && e.rel === rel)) this.edges.push({ from, rel, to });
  }
}

function addDataset(g: GraphBuilder, d: DatasetRef): string {
  const name = d.record?.name ?? "dataset";
  return g.node({
    id: nodeId("dataset", d.datasetId),
    kind: "dataset",
    label: `${name} (${d.record ? `${d.record.files} files` : "not recorded"})`,
    detail: d.datasetId,
  });
}

function addRun(g: GraphBuilder, run: RunNode, dataset: string): string {
  const id = g.node({ id: nodeId("run", run.runId), kind: "run", label: `run ${run.status}`, detail: run.runId });
  g.edge(id, "trained_on", dataset);
  if (run.gitCommit)
    g.edge(
      id,
      "built_from",
      g.node({ id: `commit:${run.gitCommit}`, kind: "commit", label: "commit", detail: run.gitCommit }),
    );
  if (run.image)
    g.edge(id, "ran_in", g.node({ id: `image:${run.image}`, kind: "image", label: "image", detail: run.image }));
  return id;
}

function addModel(g: GraphBuilder, l: ModelLineage): string {
  const m = l.model;
  const id = g.node({
    id: nodeId("model", `${m.name}:${m.version}`),
    kind: "model",
    label: `model ${m.name}:${m.version}`,
    detail: m.modelDigest,
  });
  const dataset = addDataset(g, l.dataset);
  // Why the model was trained: a person, CI, or a retrain that a drift report started.
  if (l.request) {
    const r = l.request;
    const why = r.driftReportId ? `retrain on drift ${r.driftReportId}` : `trigger ${r.trigger}`;
    const request = g.node({
      id: nodeId("request", r.requestId),
      kind: "request",
      label: `request (${why})`,
      detail: r.requestId,
    });
    g.edge(id, "requested_by", request);
    if (r.driftReportId) g.driftReports.set(request, r.driftReportId);
  }
  if (l.run) g.edge(id, "produced_by", addRun(g, l.run, dataset));
  else {
    g.edge(id, "produced_by", g.node({ id: nodeId("run", m.runId), kind: "run", label: "run", detail: m.runId }));
    g.edge(nodeId("run", m.runId), "trained_on", dataset);
  }
  return id;
}

function fromDataset(g: GraphBuilder, d: DatasetLineage): void {
  const dataset = addDataset(g, d.dataset);
  for (const run of d.runs) addRun(g, run, dataset);
  for (const m of d.models) {
    const id = g.node({
      id: nodeId("model", `${m.name}:${m.version}`),
      kind: "model",
      label: `model ${m.name}:${m.version}`,
      detail: m.modelDigest,
    });
    g.edge(id, "produced_by", nodeId("run", m.runId));
    if (!g.nodes.has(nodeId("run", m.runId)))
      g.edge(g.node({ id: nodeId("run", m.runId), kind: "run", label: "run", detail: m.runId }), "trained_on", dataset);
  }
}

/** The drift reports that started retrains: model ← request ← drift report says why the model exists. */
async function addDriftReports(meta: MetadataStore, g: GraphBuilder): Promise<void> {
  for (const [request, reportId] of g.driftReports) {
    const d = await getNode(meta, nodeId("drift", reportId), "drift");
    const node = g.node({
      id: nodeId("drift", reportId),
      kind: "drift",
      label: d ? `drift report ${reportId} (severity ${Math.round(d.severity * 100)} %)` : `drift report ${reportId}`,
      detail: d?.reportDigest ?? reportId,
      ...(d ? { about: { model: d.model, version: d.version, ...windowOf(reportId) } } : {}),
    });
    g.edge(request, "triggered_by", node);
  }
}

/** A report id is `MODEL:VERSION:SEQ`: its window's number, for a link to that window's report. */
function windowOf(reportId: string): { seq?: number } {
  const seq = Number(/:(\d+)$/.exec(reportId)?.[1]);
  return Number.isSafeInteger(seq) && seq > 0 ? { seq } : {};
}

const MODEL_REF = /^[^@:\s]+(?::\d+|@[^@:\s]+)$/;

/** Any id a person holds (prediction or request id, NAME:VERSION or NAME@ALIAS, run id, dataset id) → its graph. */
export async function lineageGraph(meta: MetadataStore, query: string): Promise<LineageGraph> {
  const q = query.trim();
  const g = new GraphBuilder();
  const done = async (found: LineageGraph["found"]): Promise<LineageGraph> => {
    await addDriftReports(meta, g);
    return { query: q, found, nodes: [...g.nodes.values()], edges: g.edges };
  };
  if (isDatasetId(q)) {
    fromDataset(g, await datasetLineage(meta, q));
    return done("dataset");
  }
  if (MODEL_REF.test(q)) {
    const ref = parseModelRef(q);
    const version = ref.version ?? (await resolveAlias(meta, ref.name, ref.alias as string));
    addModel(g, await modelLineage(meta, ref.name, version));
    return done("model");
  }
  if (q.length === 0)
    throw new SightlineError(
      "invalid",
      "lineage_query_missing",
      "give an id to search: a prediction request id, NAME:VERSION, NAME@ALIAS, a run id or a dataset id",
    );
  const run = await getNode(meta, nodeId("run", q), "run");
  if (run) {
    if (run.version === null) addRun(g, run, addDataset(g, (await datasetLineage(meta, run.datasetId)).dataset));
    else addModel(g, await modelLineage(meta, run.model, run.version));
    return done("run");
  }
  const p = await predictionLineage(meta, q);
  const prediction = g.node({
    id: `prediction:${p.prediction.predictionId}`,
    kind: "prediction",
    label: `prediction ${p.prediction.label} (${p.prediction.confidence.toFixed(3)})`,
    detail: p.prediction.requestId,
  });
  g.edge(prediction, "served_by", addModel(g, p.lineage));
  return done("prediction");
}
