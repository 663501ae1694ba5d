import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catchUp } from "../../core/events/catch-up.ts";
import { EVENT_TYPES } from "../../core/events/schemas.ts";
import { LINEAGE_SUBSCRIPTION } from "../../core/events/subscriptions.ts";
import { exportRunEvents, OpenLineageExportError } from "../../core/lineage/export.ts";
import { lineageNaming, type LineageNaming } from "../../core/lineage/naming.ts";
import {
  openLineageRunId,
  OPENLINEAGE_SCHEMA_URL,
  PRODUCER,
  runEventsFor,
  uuidV5,
  type RunEvent,
} from "../../core/lineage/openlineage.ts";
import { recordLineage } from "../../core/lineage/record.ts";
import { OpenLineageHttpTransport } from "../../core/lineage/transport.ts";
import { lineageWorld, MODEL, type LineageWorld } from "../support/lineage-world.ts";
import { facetValidator, openLineageValidator } from "../support/openlineage-schema.ts";

const validate = openLineageValidator();
const validateFacets = facetValidator();
const REPO = "https://github.com/example-org/sightline.git";
const transport = (url: string, retries = 0) =>
  new OpenLineageHttpTransport(
    { url, endpoint: "api/v1/lineage", auth: "none", apiKey: null, timeoutMs: 5_000, retries },
    { minTimeoutMs: 10 },
  );

/** A real HTTP server on loopback that keeps what is POSTed to /api/v1/lineage and answers `status`. */
async function lineageServer(
  status = 201,
): Promise<{ url: string; received: unknown[]; paths: string[]; server: Server }> {
  const received: unknown[] = [];
  const paths: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      paths.push(`${req.method} ${req.url} ${req.headers["content-type"]}`);
      received.push(JSON.parse(body));
      res
        .writeHead(status, { "content-type": "application/json" })
        .end(status < 300 ? "" : '{"error":"rejected by test"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, paths, server };
}

describe("OpenLineage RunEvents", () => {
  let w: LineageWorld;
  let naming: LineageNaming;
  let events: RunEvent[];

  beforeAll(async () => {
    w = await lineageWorld();
    await catchUp(w.bus, LINEAGE_SUBSCRIPTION, EVENT_TYPES, async (e) => void (await recordLineage(w.meta, e)), {
      idleMs: 300,
    });
    naming = lineageNaming(
      { kind: "file", dir: join(w.home, "blobs") },
      { jobNamespace: "sightline", gitRepoUrl: REPO, host: "build-host" },
    );
    events = await runEventsFor(w.meta, ["req-1", "req-2", "req-3"], naming);
  });
  afterAll(async () => w.close());

  it("derives stable RFC 4122 version-5 UUIDs", () => {
    // Python's documented example, uuid.uuid5(uuid.NAMESPACE_DNS, "python.org"), and the URL namespace we use.
    expect(uuidV5("python.org", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe("886313e1-3b8a-5372-9b90-0c9aee199e5d");
    expect(uuidV5("http://python.org/")).toBe("4c565f0d-3f5a-5890-b41b-20cf47701c5e");
    expect(openLineageRunId("req-1")).toBe(openLineageRunId("req-1"));
    expect(openLineageRunId("req-1")).not.toBe(openLineageRunId("req-2"));
  });

  it("emits START from requests and COMPLETE or FAIL from runs, with the dataset in and the model version out", () => {
    expect(events.map((e) => [e.eventType, e.run.runId])).toEqual([
      ["START", openLineageRunId("req-1")],
      ["COMPLETE", openLineageRunId("req-1")],
      ["START", openLineageRunId("req-2")],
      ["FAIL", openLineageRunId("req-2")],
      ["START", openLineageRunId("req-3")],
      ["COMPLETE", openLineageRunId("req-3")],
    ]);
    const complete = events[1] as RunEvent;
    expect(complete.schemaURL).toBe(OPENLINEAGE_SCHEMA_URL);
    expect(complete.producer).toBe(PRODUCER);
    expect(complete.job).toMatchObject({ namespace: "sightline", name: `train.${MODEL}` });
    // The dataset is named by its place in the store (the folder's name: it declares none), its content is the version.
    expect(complete.inputs).toEqual([
      expect.objectContaining({
        namespace: "file://build-host",
        name: `${join(w.home, "blobs")}/datasets/${basename(w.dataset.source)}`,
        facets: expect.objectContaining({
          version: expect.objectContaining({ datasetVersion: w.dataset.manifestDigest }),
          sightline_dataset: expect.objectContaining({ datasetId: w.dataset.id }),
        }),
      }),
    ]);
    expect(complete.outputs).toEqual([
      expect.objectContaining({
        namespace: "file://build-host",
        name: `${join(w.home, "blobs")}/models/${MODEL}`,
        facets: expect.objectContaining({
          version: expect.objectContaining({ datasetVersion: "1" }),
          sightline_model: expect.objectContaining({ modelDigest: w.v1.modelDigest }),
        }),
      }),
    ]);
    expect(complete.run.facets.sightline_training).toMatchObject({
      runId: "run-1",
      configHash: "cfg-req-1",
      gitCommit: "9f1c2e4",
    });
    expect((events[3] as RunEvent).run.facets.errorMessage).toMatchObject({ message: "out of memory" });
    expect((events[3] as RunEvent).outputs).toEqual([]);
  });

  it("says what kind of job it is and where its code is, from the run's commit and the configured repository", async () => {
    const [start, complete] = events as [RunEvent, RunEvent];
    expect(start.job.facets.jobType).toMatchObject({
      processingType: "BATCH",
      integration: "SIGHTLINE",
      jobType: "TRAINING",
    });
    // START comes from the request, before any code ran: the repository is known, the commit not yet.
    expect(start.job.facets.sourceCodeLocation).toMatchObject({ type: "git", url: REPO, repoUrl: REPO });
    expect(start.job.facets.sourceCodeLocation).not.toHaveProperty("version");
    expect(complete.job.facets.sourceCodeLocation).toMatchObject({
      type: "git",
      url: "https://github.com/example-org/sightline/tree/9f1c2e4",
      repoUrl: REPO,
      version: "9f1c2e4",
    });
    const anonymous = lineageNaming(
      { kind: "gcs", bucket: "b", prefix: "" },
      { jobNamespace: "sightline", gitRepoUrl: null },
    );
    const [, done] = (await runEventsFor(w.meta, ["req-1"], anonymous)) as [RunEvent, RunEvent];
    // No repository known: no SourceCodeLocation facet (its url is required). On Cloud Storage: the bucket's namespace.
    expect(Object.keys(done.job.facets)).toEqual(["jobType"]);
    expect(done.inputs.map((d) => [d.namespace, d.name])).toEqual([
      ["gs://b", `datasets/${basename(w.dataset.source)}`],
    ]);
    expect(done.outputs.map((d) => [d.namespace, d.name])).toEqual([["gs://b", `models/${MODEL}`]]);
  });

  it("validates every RunEvent against the published OpenLineage 2-0-2 schema, and every facet against its own", () => {
    expect(events.length).toBe(6);
    for (const e of events) {
      const ok = validate(e);
      expect(validate.errors ?? [], `${e.eventType} ${e.run.runId}`).toEqual([]);
      expect(ok).toBe(true);
      expect(validateFacets(e), `${e.eventType} ${e.run.runId}`).toEqual([]);
    }
    // The facet schemas bite: a JobType facet without its integration, a source location whose url is no URI.
    const broken = structuredClone(events[1]) as RunEvent;
    delete (broken.job.facets.jobType as Record<string, unknown>).integration;
    (broken.job.facets.sourceCodeLocation as Record<string, unknown>).url = "not a uri";
    expect(validateFacets(broken)).toEqual([
      expect.stringMatching(/^job\.jobType: .*integration/),
      expect.stringMatching(/^job\.sourceCodeLocation\/url: .*uri/),
    ]);
    expect(
      validateFacets({
        run: { facets: { x: { _schemaURL: "https://openlineage.io/spec/facets/1-0-0/Unknown.json#/$defs/X" } } },
      }),
    ).toEqual([expect.stringMatching(/no vendored schema/)]);
    // The schema bites: a run id that is not a UUID, or a facet without _producer, is rejected.
    expect(validate({ ...events[0], run: { runId: "req-1" } })).toBe(false);
    const noProducer = structuredClone(events[1]) as RunEvent;
    delete (noProducer.run.facets.sightline_training as Record<string, unknown>)._producer;
    expect(validate(noProducer)).toBe(false);
  });

  it("POSTs each RunEvent to <url>/api/v1/lineage on a real loopback server", async () => {
    const s = await lineageServer();
    try {
      expect(await exportRunEvents(transport(`${s.url}/`), events)).toBe(6);
      expect(s.paths).toEqual(Array(6).fill("POST /api/v1/lineage application/json"));
      expect(s.received).toEqual(JSON.parse(JSON.stringify(events)));
    } finally {
      s.server.close();
    }
  });

  it("says which endpoint and event failed when the server refuses or is not there", async () => {
    const s = await lineageServer(400);
    try {
      await expect(exportRunEvents(transport(s.url, 3), events)).rejects.toThrow(
        new RegExp(
          `POST ${s.url}/api/v1/lineage \\(START event of run ${openLineageRunId("req-1")}\\) answered 400: \\{"error":"rejected by test"\\}; 0 of 6`,
        ),
      );
      // A 400 is final: it is not retried although the transport may retry three times.
      expect(s.received).toHaveLength(1);
    } finally {
      s.server.close();
    }
    const closed = await lineageServer();
    closed.server.close();
    await new Promise((r) => setTimeout(r, 50));
    const err = await exportRunEvents(transport(closed.url), events).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenLineageExportError);
    expect((err as Error).message).toMatch(/failed: .*ECONNREFUSED/);
    expect(() => transport("ftp://x")).toThrow(/is not http\(s\)/);
  });
});
