import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { loadOpenLineageSettings } from "../../core/config/openlineage.ts";
import { FsBlobStore } from "../../core/blobs/fs-blob-store.ts";
import { versionDataset, type DatasetRecord } from "../../core/datasets/version.ts";
import { makeEvent, type AnyCloudEvent } from "../../core/events/envelope.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import { EVENT_TYPES } from "../../core/events/schemas.ts";
import { LINEAGE_SUBSCRIPTION } from "../../core/events/subscriptions.ts";
import { lineageEmitterFrom } from "../../core/lineage/emit.ts";
import { openLineageRunId, type RunEvent } from "../../core/lineage/openlineage.ts";
import { getNode } from "../../core/lineage/queries.ts";
import { nodeId } from "../../core/lineage/store.ts";
import { OpenLineageHttpTransport } from "../../core/lineage/transport.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { digestOf } from "../../core/util/digest.ts";
import { openFunctionContext, type FunctionContext } from "../../functions/context.ts";
import { startEmbeddedFunctions, type EmbeddedFunctions } from "../../functions/embedded.ts";
import { functionHandlers } from "../../functions/handlers.ts";
import { smallDataset } from "../support/datasets.ts";
import { facetValidator, openLineageValidator } from "../support/openlineage-schema.ts";
import { deadUrl, startOpenLineageSink, type OpenLineageSink } from "../support/openlineage-sink.ts";
import { waitFor } from "../support/wait.ts";

const quiet = createLogger({}, { level: "CRITICAL" });
const validate = openLineageValidator();
const validateFacets = facetValidator();
const REPO = "https://github.com/example-org/sightline";
const at = (minute: number): Date => new Date(Date.UTC(2026, 11, 2, 9, minute));

/** A temp SIGHTLINE_HOME with one dataset, `shoes`, versioned twice (one image fewer the second time). */
async function twoVersionsOfOneDataset() {
  const home = await mkdtemp(join(tmpdir(), "sightline-emit-"));
  const db = join(home, "meta.db");
  const meta = new SqliteStore(db);
  const bus = new LocalBus(db, { pollMs: 20, logger: quiet });
  const blobs = new FsBlobStore(join(home, "blobs"));
  await bus.ensureSubscription(LINEAGE_SUBSCRIPTION, EVENT_TYPES);
  const folder = await smallDataset({ perClass: 6 });
  await writeFile(join(folder, "dataset.yaml"), "name: shoes\n");
  const first = (await versionDataset({ blobs, meta, bus }, folder, { validate: false })).record;
  const bag = (await readdir(join(folder, "bag"))).sort()[0] as string;
  await rm(join(folder, "bag", bag));
  const second = (await versionDataset({ blobs, meta, bus }, folder, { validate: false })).record;
  return { home, meta, bus, first, second, close: async () => Promise.all([bus.close(), meta.close()]) };
}

const requested = (requestId: string, dataset: DatasetRecord, minute: number): AnyCloudEvent =>
  makeEvent(
    "sightline.training.requested",
    { requestId, model: "shoes-cnn", datasetId: dataset.id, trigger: "cli" },
    { id: `req:${requestId}`, time: at(minute) },
  );
const completed = (
  requestId: string,
  runId: string,
  version: number,
  dataset: DatasetRecord,
  minute: number,
): AnyCloudEvent =>
  makeEvent(
    "sightline.training.completed",
    {
      requestId,
      runId,
      model: "shoes-cnn",
      version,
      datasetId: dataset.id,
      modelDigest: digestOf(`onnx of ${runId}`),
      cardDigest: digestOf(`card of ${runId}`),
      configHash: `cfg-${runId}`,
      gitCommit: "4be2f9a",
      metrics: { accuracy: 0.9 },
    },
    { id: `done:${runId}`, time: at(minute) },
  );
const failed = (requestId: string, runId: string, dataset: DatasetRecord, minute: number): AnyCloudEvent =>
  makeEvent(
    "sightline.training.failed",
    { requestId, runId, model: "shoes-cnn", datasetId: dataset.id, reason: "out of memory" },
    { id: `fail:${runId}`, time: at(minute) },
  );

describe("the lineage consumer sends OpenLineage RunEvents as it records them", () => {
  let world: Awaited<ReturnType<typeof twoVersionsOfOneDataset>>;
  let sink: OpenLineageSink;
  let ctx: FunctionContext;
  let functions: EmbeddedFunctions;
  const sent = (): RunEvent[] => sink.requests.map((r) => r.body as RunEvent);

  beforeAll(async () => {
    world = await twoVersionsOfOneDataset();
    sink = await startOpenLineageSink();
    ctx = await openFunctionContext({
      env: {
        SIGHTLINE_HOME: world.home,
        SIGHTLINE_OPENLINEAGE_URL: `${sink.url}/`,
        SIGHTLINE_OPENLINEAGE_API_KEY: "sink-key",
        SIGHTLINE_GIT_REPO_URL: REPO,
      },
      log: quiet,
    });
    // The embedded default's lineage function, consuming the local queue: what `sightline functions` runs.
    functions = await startEmbeddedFunctions(ctx, ["recordLineage"]);
    // Each event is published after the last one reached the sink: the sink sees the runs as they happen.
    const steps: [AnyCloudEvent, number][] = [
      [requested("r1", world.first, 0), 1],
      [completed("r1", "run-1", 1, world.first, 5), 2],
      [requested("r2", world.second, 10), 3],
      [failed("r2", "run-2", world.second, 11), 4],
      [requested("r3", world.second, 20), 5],
      [completed("r3", "run-3", 2, world.second, 25), 6],
    ];
    for (const [event, total] of steps) {
      await world.bus.publish(event);
      // The sink has the request before the emitter has its answer (and counts it): wait for both.
      await waitFor(
        () => sink.requests.length >= total && (ctx.lineage?.stats.sent ?? 0) >= total,
        `RunEvent ${total} at the sink, and its answer back`,
      );
    }
  }, 60_000);
  afterAll(async () => {
    await functions?.stop();
    await ctx?.close();
    await sink?.close();
    await world?.close();
  });

  it("POSTs START, then COMPLETE (or FAIL) per run, as JSON with the API key, to <url>/api/v1/lineage", () => {
    expect(sent().map((e) => [e.eventType, e.run.runId])).toEqual([
      ["START", openLineageRunId("r1")],
      ["COMPLETE", openLineageRunId("r1")],
      ["START", openLineageRunId("r2")],
      ["FAIL", openLineageRunId("r2")],
      ["START", openLineageRunId("r3")],
      ["COMPLETE", openLineageRunId("r3")],
    ]);
    for (const r of sink.requests) {
      expect([r.method, r.path, r.headers["content-type"], r.headers.authorization]).toEqual([
        "POST",
        "/api/v1/lineage",
        "application/json",
        "Bearer sink-key",
      ]);
    }
    expect(sent()[3]?.run.facets.errorMessage).toMatchObject({ message: "out of memory" });
    expect(ctx.lineage?.stats).toEqual({ sent: 6, failed: 0 });
  });

  it("every event and facet it sends validates against the vendored OpenLineage schemas", () => {
    for (const e of sent()) {
      expect(validate(e), JSON.stringify(validate.errors)).toBe(true);
      expect(validateFacets(e)).toEqual([]);
    }
  });

  it("shows two versions of one dataset as one OpenLineage dataset with two versions, and models likewise", () => {
    const inputs = sent().map((e) => e.inputs[0]);
    const ids = new Set(inputs.map((d) => `${d?.namespace} ${d?.name}`));
    // One dataset: the store's namespace (file://HOST locally) and the dataset's own name, not its content hash.
    expect([...ids]).toEqual([`file://${hostname()} ${join(world.home, "blobs")}/datasets/shoes`]);
    expect(world.first.id).not.toBe(world.second.id);
    // Two versions: the DatasetVersion facet carries each version's manifest digest.
    expect(inputs.map((d) => d?.facets?.version?.datasetVersion)).toEqual([
      world.first.manifestDigest,
      world.first.manifestDigest,
      world.second.manifestDigest,
      world.second.manifestDigest,
      world.second.manifestDigest,
      world.second.manifestDigest,
    ]);
    const models = sent().flatMap((e) => e.outputs);
    expect(models.map((m) => [m.namespace, m.name, m.facets?.version?.datasetVersion])).toEqual([
      [`file://${hostname()}`, `${join(world.home, "blobs")}/models/shoes-cnn`, "1"],
      [`file://${hostname()}`, `${join(world.home, "blobs")}/models/shoes-cnn`, "2"],
    ]);
    expect(models[1]?.facets?.sightline_model).toMatchObject({ modelDigest: digestOf("onnx of run-3") });
  });

  it("names the job's kind and its source: the configured repository at the run's commit", () => {
    const complete = sent()[5] as RunEvent;
    expect(complete.job.facets.jobType).toMatchObject({
      processingType: "BATCH",
      integration: "SIGHTLINE",
      jobType: "TRAINING",
    });
    expect(complete.job.facets.sourceCodeLocation).toMatchObject({
      type: "git",
      repoUrl: REPO,
      url: `${REPO}/tree/4be2f9a`,
      version: "4be2f9a",
    });
  });

  it("sends nothing again when an event is delivered again", async () => {
    await functionHandlers(ctx).recordLineage(requested("r1", world.first, 0));
    expect(sink.requests).toHaveLength(6);
  });
});

describe("a sink that is down or flaky", () => {
  it("does not fail the lineage consumer: the event is recorded, the failure logged and counted", async () => {
    const world = await twoVersionsOfOneDataset();
    const lines: string[] = [];
    const log = createLogger({}, { level: "WARNING", write: (l) => lines.push(l) });
    const ctx = await openFunctionContext({
      env: {
        SIGHTLINE_HOME: world.home,
        SIGHTLINE_OPENLINEAGE_URL: await deadUrl(),
        SIGHTLINE_OPENLINEAGE_RETRIES: "1",
      },
      log,
    });
    try {
      const handle = functionHandlers(ctx).recordLineage;
      await expect(handle(requested("r9", world.first, 0))).resolves.toBeUndefined();
      await expect(handle(failed("r9", "run-9", world.first, 1))).resolves.toBeUndefined();
      expect(await getNode(ctx.rt.meta, nodeId("request", "r9"))).toMatchObject({ requestId: "r9" });
      expect(await getNode(ctx.rt.meta, nodeId("run", "run-9"))).toMatchObject({ status: "failed" });
      expect(ctx.lineage?.stats).toEqual({ sent: 0, failed: 2 });
      const warnings = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.component === "openlineage");
      expect(warnings.map((w) => [w.severity, w.runEventType, w.failed])).toEqual([
        ["WARNING", "START", 1],
        ["WARNING", "FAIL", 2],
      ]);
      expect(String(warnings[0]?.message)).toContain("--export");
      expect(JSON.stringify(warnings[0]?.err)).toMatch(/ECONNREFUSED/);
    } finally {
      await ctx.close();
      await world.close();
    }
  });

  it("is retried (async-retry) on 503 until it accepts, and not retried on a 400", async () => {
    const event = { eventType: "START", run: { runId: openLineageRunId("x") } } as RunEvent;
    const settings = { endpoint: "api/v1/lineage", auth: "none", apiKey: null, timeoutMs: 5_000, retries: 3 } as const;
    const flaky = await startOpenLineageSink([503, 503, 201]);
    const refusing = await startOpenLineageSink([400]);
    try {
      await new OpenLineageHttpTransport({ ...settings, url: flaky.url }, { minTimeoutMs: 5 }).send(event);
      expect(flaky.requests).toHaveLength(3);
      await expect(
        new OpenLineageHttpTransport({ ...settings, url: refusing.url }, { minTimeoutMs: 5 }).send(event),
      ).rejects.toThrow(/answered 400: .*status 400 from the test sink/);
      expect(refusing.requests).toHaveLength(1);
      const exhausted = await startOpenLineageSink([503]);
      await expect(
        new OpenLineageHttpTransport({ ...settings, url: exhausted.url, retries: 2 }, { minTimeoutMs: 5 }).send(event),
      ).rejects.toThrow(/answered 503/);
      expect(exhausted.requests).toHaveLength(3);
      await exhausted.close();
    } finally {
      await flaky.close();
      await refusing.close();
    }
  });
});

describe("OpenLineage settings", () => {
  it("read from the environment, with clear errors", () => {
    expect(loadOpenLineageSettings({})).toMatchObject({
      url: null,
      endpoint: "api/v1/lineage",
      auth: "none",
      apiKey: null,
      jobNamespace: "sightline",
      retries: 3,
      timeoutMs: 10_000,
    });
    expect(
      loadOpenLineageSettings({
        SIGHTLINE_OPENLINEAGE_URL: "https://datalineage.googleapis.com",
        SIGHTLINE_OPENLINEAGE_AUTH: "google",
        SIGHTLINE_OPENLINEAGE_RETRIES: "5",
      }),
    ).toMatchObject({
      url: "https://datalineage.googleapis.com",
      auth: "google",
      retries: 5,
    });
    expect(() => loadOpenLineageSettings({ SIGHTLINE_OPENLINEAGE_URL: "ftp://x" })).toThrow(
      /SIGHTLINE_OPENLINEAGE_URL: expected an http\(s\) URL/,
    );
    expect(() => loadOpenLineageSettings({ SIGHTLINE_OPENLINEAGE_AUTH: "kerberos" })).toThrow(
      /SIGHTLINE_OPENLINEAGE_AUTH/,
    );
    expect(() => loadOpenLineageSettings({ SIGHTLINE_OPENLINEAGE_RETRIES: "many" })).toThrow(
      /SIGHTLINE_OPENLINEAGE_RETRIES: expected an integer from 0 to 10, not "many"/,
    );
    expect(() => loadOpenLineageSettings({ SIGHTLINE_GIT_REPO_URL: "git@github.com:org/repo.git" })).toThrow(
      /SIGHTLINE_GIT_REPO_URL: expected a URL/,
    );
    expect(() =>
      loadOpenLineageSettings({ SIGHTLINE_OPENLINEAGE_AUTH: "google", SIGHTLINE_OPENLINEAGE_API_KEY: "k" }),
    ).toThrow(/not used with SIGHTLINE_OPENLINEAGE_AUTH=google/);
  });

  it("no URL, no emitter; a bad setting stops the function context from opening", async () => {
    const config = loadConfig({ SIGHTLINE_HOME: tmpdir() });
    expect(lineageEmitterFrom(config, {}, quiet)).toBeUndefined();
    expect(
      lineageEmitterFrom(
        config,
        { SIGHTLINE_OPENLINEAGE_URL: "http://127.0.0.1:1", SIGHTLINE_OPENLINEAGE_ENDPOINT: "/custom/path" },
        quiet,
      )?.transport.endpoint,
    ).toBe("http://127.0.0.1:1/custom/path");
    await expect(
      openFunctionContext({ env: { SIGHTLINE_HOME: tmpdir(), SIGHTLINE_OPENLINEAGE_TIMEOUT_MS: "5" }, log: quiet }),
    ).rejects.toThrow(/SIGHTLINE_OPENLINEAGE_TIMEOUT_MS/);
  });
});
