import { createHash } from "node:crypto";
import pkg from "../../package.json" with { type: "json" };
import type { JsonObject, MetadataStore } from "../meta/metadata-store.ts";
import { datasetName, modelName, type LineageNaming } from "./naming.ts";
import type { RequestNode, RunNode } from "./nodes.ts";
import { getNode, datasetRef, type DatasetRef } from "./queries.ts";
import { Edges, nodeId } from "./store.ts";

/** OpenLineage core spec 2-0-2: https://openlineage.io/spec/2-0-2/OpenLineage.json */
export const OPENLINEAGE_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
/**
 * Who produced the events: OpenLineage wants a URI naming the producing code at its version, like
 * `https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/airflow`. This is the source tree of this
 * package's version (package.json), tagged `v<version>`.
 */
export const PRODUCER_REPOSITORY = "https://github.com/sightline-mlops/sightline";
export const PRODUCER = `${PRODUCER_REPOSITORY}/tree/v${pkg.version}`;

/** The facets' published schemas, by the `$id` of the copies vendored in test/fixtures/openlineage/facets/. */
export const FACET_SCHEMAS = {
  datasetVersion:
    "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
  errorMessage: "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
  jobType: "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
  sourceCodeLocation:
    "https://openlineage.io/spec/facets/1-1-0/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet",
} as const;
/** Our own facets are named by URN: they are identifiers, not documents anyone can fetch. */
const REQUEST_FACET = "urn:sightline:facets:TrainingRequestRunFacet:1";
const TRAINING_FACET = "urn:sightline:facets:TrainingRunFacet:1";
const DATASET_FACET = "urn:sightline:facets:DatasetDatasetFacet:1";
const MODEL_FACET = "urn:sightline:facets:ModelDatasetFacet:1";

/** What the JobType facet says of every Sightline job: the integration's name and the kind of job. */
export const INTEGRATION = "SIGHTLINE";
export const TRAINING_JOB_TYPE = "TRAINING";

export type OpenLineageDataset = { namespace: string; name: string; facets?: Record<string, JsonObject> };

export type RunEvent = {
  eventType: "START" | "COMPLETE" | "FAIL";
  eventTime: string;
  producer: string;
  schemaURL: string;
  run: { runId: string; facets: Record<string, JsonObject> };
  job: { namespace: string; name: string; facets: Record<string, JsonObject> };
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

const facet = (schemaURL: string, body: JsonObject): JsonObject => ({
  _producer: PRODUCER,
  _schemaURL: schemaURL,
  ...body,
});
const jobName = (model: string): string => `train.${model}`;

/** A web page of the source at a commit where the host has one (GitHub, GitLab, Gitea: `/tree/<sha>`), else the repository. */
function sourceUrl(repo: string, commit: string | null): string {
  const web = /^https?:\/\//.test(repo) ? repo.replace(/\.git$/, "").replace(/\/+$/, "") : null;
  return web && commit ? `${web}/tree/${commit}` : repo;
}

function job(naming: LineageNaming, model: string, repo: string | null, commit: string | null): RunEvent["job"] {
  const facets: Record<string, JsonObject> = {
    jobType: facet(FACET_SCHEMAS.jobType, {
      processingType: "BATCH",
      integration: INTEGRATION,
      jobType: TRAINING_JOB_TYPE,
    }),
  };
  // The run's own repository first; one that is not a URL (the facet's url must be a URI) gives way to the setting.
  const repoUrl = [repo, naming.gitRepoUrl].find((r): r is string => typeof r === "string" && URL.canParse(r));
  if (repoUrl) {
    facets.sourceCodeLocation = facet(FACET_SCHEMAS.sourceCodeLocation, {
      type: "git",
      url: sourceUrl(repoUrl, commit),
      repoUrl,
      ...(commit ? { version: commit } : {}),
    });
  }
  return { namespace: naming.jobNamespace, name: jobName(model), facets };
}

/** The dataset as one OpenLineage dataset across its versions; the version facet says which content this run read. */
function input(naming: LineageNaming, dataset: DatasetRef): OpenLineageDataset {
  const facets: Record<string, JsonObject> = {
    sightline_dataset: facet(DATASET_FACET, { datasetId: dataset.datasetId }),
  };
  if (dataset.manifestDigest)
    facets.version = facet(FACET_SCHEMAS.datasetVersion, { datasetVersion: dataset.manifestDigest });
  return { namespace: naming.datasetNamespace, name: datasetName(naming, dataset.datasetId, dataset.record), facets };
}

/** The model as one OpenLineage dataset across its versions: the version is the registry's, the ONNX digest beside it. */
function output(naming: LineageNaming, run: RunNode): OpenLineageDataset[] {
  if (run.status !== "completed" || run.version === null) return [];
  return [
    {
      namespace: naming.datasetNamespace,
      name: modelName(naming, run.model),
      facets: {
        version: facet(FACET_SCHEMAS.datasetVersion, { datasetVersion: String(run.version) }),
        sightline_model: facet(MODEL_FACET, {
          model: run.model,
          version: run.version,
          modelDigest: run.modelDigest,
          cardDigest: run.cardDigest,
        }),
      },
    },
  ];
}

export function startEvent(request: RequestNode, dataset: DatasetRef, naming: LineageNaming): RunEvent {
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
    job: job(naming, request.model, null, null),
    inputs: [input(naming, dataset)],
    outputs: [],
  };
}

export function endEvent(run: RunNode, dataset: DatasetRef, naming: LineageNaming): RunEvent {
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
        : {
            sightline_training: training,
            errorMessage: facet(FACET_SCHEMAS.errorMessage, {
              message: run.reason ?? "failed",
              programmingLanguage: "TypeScript",
            }),
          },
    },
    job: job(naming, run.model, run.gitRepo ?? null, run.gitCommit),
    inputs: [input(naming, dataset)],
    outputs: output(naming, run),
  };
}

/** Reads datasets once each, for a batch of events that mostly share one. */
export function datasetReader(meta: MetadataStore): (datasetId: string) => Promise<DatasetRef> {
  const cache = new Map<string, Promise<DatasetRef>>();
  return (datasetId) => {
    let ref = cache.get(datasetId);
    if (!ref) cache.set(datasetId, (ref = datasetRef(meta, datasetId)));
    return ref;
  };
}

/** The RunEvents of the given training requests: START from each request, COMPLETE or FAIL from each of its runs. */
export async function runEventsFor(
  meta: MetadataStore,
  requestIds: readonly string[],
  naming: LineageNaming,
): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  const datasetOf = datasetReader(meta);
  for (const requestId of [...new Set(requestIds)].sort()) {
    const request = await getNode(meta, nodeId("request", requestId), "request");
    if (request) events.push(startEvent(request, await datasetOf(request.datasetId), naming));
    const edges = await Edges.query(meta, {
      where: [
        { field: "to", op: "==", value: nodeId("request", requestId) },
        { field: "rel", op: "==", value: "for_request" },
      ],
    });
    const runs = await Promise.all(edges.map((d) => getNode(meta, d.data.from, "run")));
    for (const run of runs.filter((r): r is RunNode => r !== null).sort((a, b) => (a.time < b.time ? -1 : 1))) {
      events.push(endEvent(run, await datasetOf(run.datasetId), naming));
    }
  }
  return events;
}
