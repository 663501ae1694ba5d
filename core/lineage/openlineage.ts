import { createHash } from "node:crypto";
import type { JsonObject, MetadataStore } from "../meta/metadata-store.ts";
import type { RequestNode, RunNode } from "./nodes.ts";
import { getNode, datasetRef } from "./queries.ts";
import { EDGES, type Edge, nodeId } from "./store.ts";

/** OpenLineage core spec 2-0-2: https://openlineage.io/spec/2-0-2/OpenLineage.json */
export const OPENLINEAGE_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
/** Who produced the events: a URN, because Sightline has no canonical URL of its own. */
export const PRODUCER = "urn:sightline:lineage";
export const NAMESPACE = "sightline";

const DATASET_VERSION_FACET = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet";
const ERROR_MESSAGE_FACET = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
/** Our own facets are named by URN: they are identifiers, not documents anyone can fetch. */
const REQUEST_FACET = "urn:sightline:facets:TrainingRequestRunFacet:1";
const TRAINING_FACET = "urn:sightline:facets:TrainingRunFacet:1";

export type OpenLineageDataset = { namespace: string; name: string; facets?: Record<string, JsonObject> };

export type RunEvent = {
  eventType: "START" | "COMPLETE" | "FAIL";
  eventTime: string;
  producer: string;
  schemaURL: string;
  run: { runId: string; facets: Record<string, JsonObject> };
  job: { namespace: string; name: string };
  inputs: OpenLineageDataset[];
  outputs: OpenLineageDataset[];
};

/** RFC 4122 URL namespace, the namespace of our name-based UUIDs. */
const URL_NAMESPACE = "6ba7b811-9dad-11d1-80b4-00c04fd430c8";

/**
 * A UUID version 5 (SHA-1, name-based, RFC 4122 §4.3): the same name always gives the same UUID, on any machine.
 * OpenLineage wants a UUID as run id; ours are free text.
 */
export function uuidV5(name: string, namespace = URL_NAMESPACE): string {
  const ns = Buffer.from(namespace.replaceAll("-", ""), "hex");
  const hash = createHash("sha1").update(ns).update(name, "utf8").digest();
  const b = hash.subarray(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The OpenLineage run id of a training request: UUIDv5 of `urn:sightline:training-request:<requestId>`. It is
 * keyed on the request, not the trainer's run id, because START is emitted from `training.requested`, before any
 * run id exists, and START and COMPLETE/FAIL must carry the same run id.
 */
export const openLineageRunId = (requestId: string): string => uuidV5(`urn:sightline:training-request:${requestId}`);

const facet = (schemaURL: string, body: JsonObject): JsonObject => ({ _producer: PRODUCER, _schemaURL: schemaURL, ...body });
const jobName = (model: string): string => `train.${model}`;

function input(datasetId: string, manifestDigest: string | null): OpenLineageDataset {
  return {
    namespace: NAMESPACE,
    name: datasetId,
    ...(manifestDigest ? { facets: { version: facet(DATASET_VERSION_FACET, { datasetVersion: manifestDigest }) } } : {}),
  };
}

export function startEvent(request: RequestNode, manifestDigest: string | null): RunEvent {
  return {
    eventType: "START",
    eventTime: request.time,
    producer: PRODUCER,
    schemaURL: OPENLINEAGE_SCHEMA_URL,
    run: {
      runId: openLineageRunId(request.requestId),
      facets: {
        sightline_request: facet(REQUEST_FACET, {
          requestId: request.requestId,
          trigger: request.trigger,
          reason: request.reason,
          configDigest: request.configDigest,
          driftReportId: request.driftReportId,
        }),
      },
    },
    job: { namespace: NAMESPACE, name: jobName(request.model) },
    inputs: [input(request.datasetId, manifestDigest)],
    outputs: [],
  };
}

export function endEvent(run: RunNode, manifestDigest: string | null): RunEvent {
  const completed = run.status === "completed";
  const training = facet(TRAINING_FACET, {
    runId: run.runId,
    requestId: run.requestId,
    configHash: run.configHash,
    gitCommit: run.gitCommit,
    image: run.image,
    metrics: run.metrics,
  });
  return {
    eventType: completed ? "COMPLETE" : "FAIL",
    eventTime: run.time,
    producer: PRODUCER,
    schemaURL: OPENLINEAGE_SCHEMA_URL,
    run: {
      runId: openLineageRunId(run.requestId),
      facets: completed
        ? { sightline_training: training }
        : { sightline_training: training, errorMessage: facet(ERROR_MESSAGE_FACET, { message: run.reason ?? "failed", programmingLanguage: "TypeScript" }) },
    },
    job: { namespace: NAMESPACE, name: jobName(run.model) },
    inputs: [input(run.datasetId, manifestDigest)],
    outputs:
      completed && run.version !== null
        ? [
            {
              namespace: NAMESPACE,
              name: `${run.model}:${run.version}`,
              ...(run.modelDigest ? { facets: { version: facet(DATASET_VERSION_FACET, { datasetVersion: run.modelDigest }) } } : {}),
            },
          ]
        : [],
  };
}

/** The RunEvents of the given training requests: START from each request, COMPLETE or FAIL from each of its runs. */
export async function runEventsFor(meta: MetadataStore, requestIds: readonly string[]): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  const digests = new Map<string, string | null>();
  const manifestOf = async (datasetId: string): Promise<string | null> => {
    if (!digests.has(datasetId)) digests.set(datasetId, (await datasetRef(meta, datasetId)).manifestDigest);
    return digests.get(datasetId) ?? null;
  };
  for (const requestId of [...new Set(requestIds)].sort()) {
    const request = await getNode<RequestNode>(meta, nodeId("request", requestId));
    if (request) events.push(startEvent(request, await manifestOf(request.datasetId)));
    const edges = await meta.query(EDGES, { where: [{ field: "to", op: "==", value: nodeId("request", requestId) }, { field: "rel", op: "==", value: "for_request" }] });
    const runs = await Promise.all(edges.map((d) => getNode<RunNode>(meta, (d.data as Edge).from)));
    for (const run of runs.filter((r): r is RunNode => r !== null).sort((a, b) => (a.time < b.time ? -1 : 1))) {
      events.push(endEvent(run, await manifestOf(run.datasetId)));
    }
  }
  return events;
}

