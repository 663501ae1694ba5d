import { createHash } from "node:crypto";
import { z } from "zod";
import { defineCollection } from "../meta/collection.ts";
import type { Json, JsonObject, MetadataStore } from "../meta/metadata-store.ts";
import { StoredNodeSchema, StoredPredictionSchema } from "./nodes.ts";

/**
 * Storage layout of the lineage graph in the MetadataStore. Every document is small (one node, one edge, one
 * prediction) and flat enough for Firestore (no arrays inside arrays), and every id is derived from the facts
 * themselves, so writing the same fact twice writes the same bytes.
 */
export const NODES = "lineage_nodes";
export const EDGES = "lineage_edges";
/** One marker per event id already recorded: a redelivered or replayed event changes nothing. */
export const EVENTS = "lineage_events";
/** One record per prediction request id, so a request id can be looked up directly. */
export const PREDICTIONS = "lineage_predictions";

export const LINEAGE_COLLECTIONS = [NODES, EDGES, EVENTS, PREDICTIONS] as const;

export type NodeKind = "dataset" | "request" | "run" | "model" | "alias_move" | "window" | "drift";

/** Node ids are `kind:key`, e.g. `model:fashion:3`, `dataset:<64 hex>`. */
export const nodeId = (kind: NodeKind, key: string): string => `${kind}:${key}`;
export const modelNodeId = (name: string, version: number): string => nodeId("model", `${name}:${version}`);

export type EdgeRel =
  | "trained_on"
  | "for_request"
  | "produced_by"
  | "triggered_by"
  | "moved_to"
  | "moved_from"
  | "served_by"
  | "about"
  | "fine_tuned_from";

export type Edge = { from: string; rel: EdgeRel; to: string };

const EdgeSchema: z.ZodType<Edge> = z.looseObject({
  from: z.string(),
  rel: z.enum([
    "trained_on",
    "for_request",
    "produced_by",
    "triggered_by",
    "moved_to",
    "moved_from",
    "served_by",
    "about",
    "fine_tuned_from",
  ]),
  to: z.string(),
});

export type EventMarker = { eventId: string; type: string; time: string };

const EventMarkerSchema: z.ZodType<EventMarker> = z.looseObject({
  eventId: z.string(),
  type: z.string(),
  time: z.string(),
});

/** Nodes keyed `docKey(node id)`. */
export const Nodes = defineCollection({ name: NODES, schema: StoredNodeSchema });
/** Edges keyed `edgeKey(edge)`. */
export const Edges = defineCollection({ name: EDGES, schema: EdgeSchema });
/** Event markers keyed `docKey(event id)`. */
export const EventMarkers = defineCollection({ name: EVENTS, schema: EventMarkerSchema });
/** Predictions keyed `docKey(prediction id)`. */
export const Predictions = defineCollection({ name: PREDICTIONS, schema: StoredPredictionSchema });

/**
 * A document id from free text (event ids, request ids are chosen by producers): readable when it is safe
 * (no `/`, not `__x__`, short), else a sha256 so any id maps to a valid, stable key.
 */
export function docKey(text: string): string {
  const safe =
    text.length > 0 &&
    text.length <= 500 &&
    !text.includes("/") &&
    text !== "." &&
    text !== ".." &&
    !/^__.*__$/.test(text);
  return safe ? text : `sha256-${createHash("sha256").update(text).digest("hex")}`;
}

export const edgeKey = (e: Edge): string => docKey(`${e.from}>${e.rel}>${e.to}`);

/** Node data without `undefined` members (JSON has none, and `put` of `undefined` would differ per adapter). */
export function clean(obj: Record<string, Json | undefined>): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out;
}

/** Every document of the lineage collections, sorted, as one string: equal dumps mean byte-equal graphs. */
export async function dumpLineage(meta: MetadataStore): Promise<string> {
  const parts: string[] = [];
  for (const c of LINEAGE_COLLECTIONS) {
    const docs = await meta.query(c);
    for (const d of docs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)))
      parts.push(`${c}/${d.id} ${JSON.stringify(d.data)}`);
  }
  return parts.join("\n");
}
