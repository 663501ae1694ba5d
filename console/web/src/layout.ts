import dagre from "@dagrejs/dagre";
import type { LineageGraph } from "../../api/schemas.ts";

export type Placed = { id: string; x: number; y: number; width: number; height: number };
export type Routed = { from: string; to: string; rel: string; points: { x: number; y: number }[] };
export type Layout = { width: number; height: number; nodes: Map<string, Placed>; edges: Routed[] };

export const NODE_HEIGHT = 54;
const CHAR = 7.4;

/** Lays the graph out (prediction → model → run → dataset → commit/image) with dagre, left to right or top down. */
export function layoutGraph(
  graph: LineageGraph,
  shortDetail: (d: string) => string,
  direction: "LR" | "TB" = "LR",
): Layout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: direction, nodesep: 24, ranksep: direction === "LR" ? 56 : 36, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of graph.nodes) {
    const width = Math.max(n.label.length, shortDetail(n.detail).length) * CHAR + 28;
    g.setNode(n.id, { width, height: NODE_HEIGHT });
  }
  for (const e of graph.edges) g.setEdge(e.from, e.to);
  dagre.layout(g);
  const nodes = new Map<string, Placed>();
  for (const id of g.nodes()) {
    const n = g.node(id);
    nodes.set(id, { id, x: n.x, y: n.y, width: n.width, height: n.height });
  }
  const edges = graph.edges.map((e) => ({ ...e, points: g.edge(e.from, e.to)?.points ?? [] }));
  const { width = 0, height = 0 } = g.graph();
  return { width, height, nodes, edges };
}
