import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Runtime } from "../../core/config/runtime.ts";
import { catchUp } from "../../core/events/catch-up.ts";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import { preprocess } from "../../core/imaging/preprocess.ts";
import { parseModelCard } from "../../core/registry/model-card.ts";
import { registerVersion } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig, type ServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { OnnxEvaluator } from "../../evaluation/onnx-evaluator.ts";
import { grey100k } from "../support/images.ts";
import { schemaErrors } from "../support/oip-spec.ts";
import { heldOutImages, MODEL, setProduction, trainedWorld, type ServedWorld } from "../support/served-model.ts";

const CLI = fileURLToPath(new URL("../../cli/sightline.ts", import.meta.url));
let shared: Promise<ServedWorld> | undefined;
const trainedWorldOnce = (): Promise<ServedWorld> => (shared ??= trainedWorld());
const quiet = createLogger({}, { level: "CRITICAL" });
const LOG_SUB = "test-prediction-log";

type PredictBody = {
  request_id: string;
  model: { name: string; version: number };
  predictions: { label: string; index: number; confidence: number; scores: number[] }[];
};
type ErrorBody = { error: { code: string; message: string } };

function servingConfig(overrides: Partial<ServingConfig> = {}): ServingConfig {
  return loadServingConfig({}, { host: "127.0.0.1", port: 0, workers: 1, reloadPollMs: 100, ...overrides });
}

const form = (images: Buffer[]): FormData => {
  const body = new FormData();
  for (const [i, bytes] of images.entries()) body.append("file", new Blob([bytes], { type: "image/png" }), `${i}.png`);
  return body;
};

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const servedVersion = async (server: RunningServer): Promise<number | undefined> => {
  const res = await fetch(`${server.url}/ready`);
  return res.ok ? ((await res.json()) as { model: { version: number } }).model.version : undefined;
};

describe("inference API on loopback with real trained models", { timeout: 300_000 }, () => {
  let world: ServedWorld;
  let rt: Runtime;
  let server: RunningServer;
  let images: Awaited<ReturnType<typeof heldOutImages>>;

  beforeAll(async () => {
    world = await trainedWorldOnce();
    rt = world.rt;
    images = await heldOutImages();
    await rt.bus.ensureSubscription(LOG_SUB, ["sightline.predictions.logged"]);
    server = await startServer(
      rt,
      servingConfig({
        predictionLog: { sampleRate: 1, embeddingRate: 1, bufferSize: 10_000, flushMs: 100, maxRecordsPerEvent: 500 },
      }),
      quiet,
      { defaultMetrics: false },
    );
  }, 300_000);
  afterAll(async () => {
    await server?.shutdown();
    await rt?.close();
  });

  it("classifies the bundled held-out images with the accuracy of offline evaluation", async () => {
    const offline = await new OnnxEvaluator(rt).evaluate(world.v1, world.datasetId);
    let correct = 0;
    for (let start = 0; start < images.length; start += 50) {
      const chunk = images.slice(start, start + 50);
      const res = await fetch(`${server.url}/predict`, { method: "POST", body: form(chunk.map((i) => i.bytes)) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as PredictBody;
      expect(body.model).toEqual({ name: MODEL, version: world.v1.version });
      expect(body.predictions).toHaveLength(chunk.length);
      body.predictions.forEach((p, i) => (correct += p.label === chunk[i]!.label ? 1 : 0));
    }
    expect(images).toHaveLength(600);
    expect(correct / images.length).toBe(offline.accuracy);
    expect(offline.accuracy).toBe(world.v1.metrics.accuracy);
  });

  it("answers a raw body, a multipart form and base64 JSON with the same prediction, with x-request-id", async () => {
    const image = images[0]!.bytes;
    const raw = await fetch(`${server.url}/predict`, {
      method: "POST",
      headers: { "content-type": "image/png", "x-request-id": "given-id-1" },
      body: image,
    });
    const multi = await fetch(`${server.url}/predict`, { method: "POST", body: form([image]) });
    const json = await fetch(`${server.url}/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ instances: [{ b64: image.toString("base64") }] }),
    });
    const bodies = await Promise.all(
      [raw, multi, json].map(async (r) => ({
        status: r.status,
        id: r.headers.get("x-request-id"),
        body: (await r.json()) as PredictBody,
      })),
    );
    for (const b of bodies) {
      expect(b.status).toBe(200);
      expect(b.id).toBe(b.body.request_id);
      expect(b.body.predictions[0]).toEqual(bodies[0]!.body.predictions[0]);
    }
    expect(bodies[0]!.id).toBe("given-id-1");
    const p = bodies[0]!.body.predictions[0]!;
    expect(p.scores).toHaveLength(10);
    expect(p.scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(p.confidence).toBe(Math.max(...p.scores));
  });

  it("gives the same scores through Open Inference Protocol v2 as through /predict", async () => {
    const card = parseModelCard(await rt.blobs.get(world.v1.cardDigest), "v1");
    const chosen = images.filter((_, i) => i % 75 === 0);
    const tensors = await Promise.all(chosen.map((i) => preprocess(i.bytes, card.preprocessing)));
    const infer = await fetch(`${server.url}/v2/models/${MODEL}/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        id: "oip-1",
        inputs: [
          {
            name: "input",
            datatype: "FP32",
            shape: [chosen.length, 28, 28, 1],
            data: tensors.flatMap((t) => Array.from(t)),
          },
        ],
      }),
    });
    expect(infer.status).toBe(200);
    const oip = (await infer.json()) as {
      model_name: string;
      model_version: string;
      id: string;
      outputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
    };
    expect(oip).toMatchObject({ model_name: MODEL, model_version: String(world.v1.version), id: "oip-1" });
    const probs = oip.outputs.find((o) => o.name === "probabilities")!;
    expect(probs).toMatchObject({ datatype: "FP32", shape: [chosen.length, 10] });
    expect(oip.outputs.find((o) => o.name === "embedding")?.shape).toEqual([chosen.length, 128]);
    const predicted = (await (
      await fetch(`${server.url}/predict`, { method: "POST", body: form(chosen.map((i) => i.bytes)) })
    ).json()) as PredictBody;
    predicted.predictions.forEach((p, i) =>
      p.scores.forEach((s, j) => expect(Math.abs(s - probs.data[i * 10 + j]!)).toBeLessThanOrEqual(1e-6)),
    );

    const meta = (await (await fetch(`${server.url}/v2/models/${MODEL}`)).json()) as {
      inputs: { shape: number[] }[];
      versions: string[];
    };
    expect(meta.inputs[0]!.shape).toEqual([-1, 28, 28, 1]);
    expect(meta.versions).toEqual([String(world.v1.version)]);
    expect((await fetch(`${server.url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${server.url}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`${server.url}/v2/models/${MODEL}/ready`)).status).toBe(200);
    expect((await fetch(`${server.url}/v2/models/other/ready`)).status).toBe(404);
  });

  it("refuses bad input with the right JSON error and keeps answering", async () => {
    const png = images[1]!.bytes;
    const infer = (body: unknown) => ({
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const tensor = (over: object) => ({
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 28, 28, 1], data: new Array(784).fill(0), ...over }],
    });
    const cases: [string, string, RequestInit, number, string][] = [
      [
        "empty body",
        "/predict",
        { method: "POST", headers: { "content-type": "image/png" }, body: new Uint8Array(0) },
        400,
        "bad_request",
      ],
      [
        "truncated PNG",
        "/predict",
        { method: "POST", headers: { "content-type": "image/png" }, body: png.subarray(0, png.length - 40) },
        400,
        "undecodable_image",
      ],
      [
        "text sent as image/png",
        "/predict",
        { method: "POST", headers: { "content-type": "image/png" }, body: "definitely not an image" },
        400,
        "undecodable_image",
      ],
      [
        "PNG declaring 100000×100000",
        "/predict",
        { method: "POST", headers: { "content-type": "image/png" }, body: await grey100k() },
        413,
        "too_many_pixels",
      ],
      [
        "50 MB body",
        "/predict",
        { method: "POST", headers: { "content-type": "image/png" }, body: new Uint8Array(50 * 1024 * 1024) },
        413,
        "payload_too_large",
      ],
      [
        "wrong content type",
        "/predict",
        { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" },
        415,
        "unsupported_media_type",
      ],
      ["invalid base64", "/predict", infer({ instances: [{ b64: "!!!not base64!!!" }] }), 400, "bad_request"],
      [
        "malformed JSON",
        "/predict",
        { method: "POST", headers: { "content-type": "application/json" }, body: '{"instances": [' },
        400,
        "bad_request",
      ],
      [
        "multipart without file part",
        "/predict",
        {
          method: "POST",
          body: (() => {
            const f = new FormData();
            f.append("other", "x");
            return f;
          })(),
        },
        400,
        "bad_request",
      ],
      ["OIP wrong shape", `/v2/models/${MODEL}/infer`, infer(tensor({ shape: [1, 32, 32, 1] })), 422, "invalid_tensor"],
      ["OIP wrong datatype", `/v2/models/${MODEL}/infer`, infer(tensor({ datatype: "INT64" })), 422, "invalid_tensor"],
      ["OIP data length", `/v2/models/${MODEL}/infer`, infer(tensor({ data: [1, 2, 3] })), 422, "invalid_tensor"],
      [
        "OIP not numbers",
        `/v2/models/${MODEL}/infer`,
        infer(tensor({ data: new Array(784).fill("x") })),
        422,
        "invalid_tensor",
      ],
      ["OIP not a request", `/v2/models/${MODEL}/infer`, infer({ nothing: true }), 400, "bad_request"],
      ["unknown route", "/nope", { method: "GET" }, 404, "not_found"],
    ];
    for (const [what, path, init, status, code] of cases) {
      const res = await fetch(`${server.url}${path}`, init);
      const body: unknown = await res.json();
      let message: string;
      if (path.startsWith("/v2/")) {
        // OIP routes answer the spec's {"error": "<message>"}, with the same status codes.
        expect({ what, status: res.status, schema: schemaErrors("inference_error_response", body) }).toEqual({
          what,
          status,
          schema: [],
        });
        message = (body as { error: string }).error;
      } else {
        expect({ what, status: res.status, code: (body as ErrorBody).error?.code }).toEqual({ what, status, code });
        message = (body as ErrorBody).error.message;
      }
      expect(message, what).not.toMatch(/\n\s+at /);
      expect(res.headers.get("x-request-id"), what).toBeTruthy();
      const ok = await fetch(`${server.url}/predict`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: png,
      });
      expect(ok.status, `after ${what}`).toBe(200);
    }
  });

  it("hot-swaps while under load: the alias flips five times and no request fails", async () => {
    let stop = false;
    const statuses = new Map<number, number>();
    const versions = new Set<number>();
    const client = async (k: number): Promise<void> => {
      for (let i = k; !stop; i += 8) {
        const res = await fetch(`${server.url}/predict`, {
          method: "POST",
          headers: { "content-type": "image/png" },
          body: images[i % images.length]!.bytes,
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.ok) versions.add(((await res.json()) as PredictBody).model.version);
        else await res.body?.cancel();
      }
    };
    const load = Array.from({ length: 8 }, (_, k) => client(k));
    const reloadsBefore = await metricValue(server, 'sightline_model_reloads_total{result="loaded"}');
    for (let flip = 1; flip <= 5; flip++) {
      const to = flip % 2 === 1 ? world.v2.version : world.v1.version;
      await setProduction(rt, to);
      await waitFor(`version ${to}`, async () => ((await servedVersion(server)) === to ? true : undefined));
      await new Promise((r) => setTimeout(r, 200));
    }
    stop = true;
    await Promise.all(load);
    expect([...statuses.keys()]).toEqual([200]);
    expect(statuses.get(200)).toBeGreaterThan(50);
    expect(versions).toEqual(new Set([world.v1.version, world.v2.version]));
    expect((await metricValue(server, 'sightline_model_reloads_total{result="loaded"}')) - reloadsBefore).toBe(5);
  });

  it("rejects a version that fails to load and keeps serving the one it had", async () => {
    await setProduction(rt, world.v1.version);
    await waitFor("v1", async () => ((await servedVersion(server)) === world.v1.version ? true : undefined));
    const garbage = (await rt.blobs.put(randomBytes(4096))).digest;
    const broken = await registerVersion(rt.meta, {
      ...world.v1,
      requestId: "broken",
      runId: "broken",
      modelDigest: garbage,
    });
    const failedBefore = await metricValue(server, 'sightline_model_reloads_total{result="failed"}');
    await setProduction(rt, broken.version);
    await waitFor("a failed load", async () =>
      (await metricValue(server, 'sightline_model_reloads_total{result="failed"}')) > failedBefore ? true : undefined,
    );
    expect(await servedVersion(server)).toBe(world.v1.version);
    const res = await fetch(`${server.url}/predict`, {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: images[2]!.bytes,
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as PredictBody).model.version).toBe(world.v1.version);
    await setProduction(rt, world.v1.version);
  });

  it("publishes sampled predictions with request id, features and embedding", async () => {
    const res = await fetch(`${server.url}/predict`, {
      method: "POST",
      headers: { "content-type": "image/png", "x-request-id": "logged-request" },
      body: images[3]!.bytes,
    });
    expect(res.status).toBe(200);
    const answered = ((await res.json()) as PredictBody).predictions[0]!;
    await server.context.predictionLog?.flush();
    const events: AnyCloudEvent[] = [];
    await catchUp(rt.bus, LOG_SUB, ["sightline.predictions.logged"], async (e) => void events.push(e), { idleMs: 200 });
    const records = events.flatMap((e) =>
      e.type === "sightline.predictions.logged"
        ? e.data.records.map((r) => ({ ...r, model: e.data.model, version: e.data.version }))
        : [],
    );
    const mine = records.find((r) => r.requestId === "logged-request");
    expect(mine).toMatchObject({
      model: MODEL,
      version: world.v1.version,
      label: answered.label,
      index: answered.index,
      confidence: answered.confidence,
    });
    expect(Object.keys(mine!.features)).toEqual(
      expect.arrayContaining(["brightness", "contrast", "sharpness", "width", "height"]),
    );
    expect(mine!.features.width).toBe(28);
    expect(mine!.embedding).toHaveLength(128);
    expect(records.length).toBeGreaterThan(600);
  });

  it("exposes the contract's metrics", async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const name of [
      "sightline_http_request_duration_seconds_bucket",
      "sightline_predictions_total",
      "sightline_prediction_confidence_bucket",
      "sightline_batch_size_bucket",
      "sightline_model_info",
      "sightline_model_reloads_total",
    ]) {
      expect(text, name).toContain(name);
    }
    expect(text).toMatch(
      /sightline_http_request_duration_seconds_count\{method="POST",route="\/predict",status="200"\} \d+/,
    );
    expect(text).toMatch(new RegExp(`sightline_model_info\\{model="${MODEL}",version="${world.v1.version}"\\} 1`));
  });

  it("keeps a server without a model alive but not ready, and readies it when the alias appears", async () => {
    const other = await startServer(rt, servingConfig({ model: { name: "later", alias: "production" } }), quiet, {
      defaultMetrics: false,
    });
    try {
      expect((await fetch(`${other.url}/health`)).status).toBe(200);
      expect((await fetch(`${other.url}/ready`)).status).toBe(503);
      const res = await fetch(`${other.url}/predict`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: images[0]!.bytes,
      });
      expect(res.status).toBe(503);
      expect(((await res.json()) as ErrorBody).error.code).toBe("not_ready");
      const later = await registerVersion(rt.meta, { ...world.v2, name: "later" });
      const { moveAlias } = await import("../../core/registry/aliases.ts");
      await moveAlias(rt.meta, {
        name: "later",
        alias: "production",
        to: later.version,
        expected: null,
        actor: "tester",
        reason: "test",
        action: "alias.set",
      });
      expect(await waitFor("later to load", () => servedVersion(other))).toBe(later.version);
    } finally {
      await other.shutdown();
    }
  });

  it("protects the reload endpoint with a bearer token, and has none without one", async () => {
    expect((await fetch(`${server.url}/admin/reload`, { method: "POST" })).status).toBe(404);
    const admin = await startServer(rt, servingConfig({ adminToken: "a-long-enough-secret-token" }), quiet, {
      defaultMetrics: false,
    });
    try {
      expect(
        (await fetch(`${admin.url}/admin/reload`, { method: "POST", headers: { authorization: "Bearer wrong" } }))
          .status,
      ).toBe(401);
      const ok = await fetch(`${admin.url}/admin/reload`, {
        method: "POST",
        headers: { authorization: "Bearer a-long-enough-secret-token" },
      });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ changed: false, version: world.v1.version });
    } finally {
      await admin.shutdown();
    }
  });

  it("drains on shutdown: not ready at once, requests in flight finish", async () => {
    const draining = await startServer(rt, servingConfig({ drainSeconds: 0.5 }), quiet, { defaultMetrics: false });
    await waitFor("ready", () => servedVersion(draining));
    const big = images.slice(0, 60).map((i) => i.bytes);
    const inFlight = fetch(`${draining.url}/predict`, { method: "POST", body: form(big) });
    const stopping = draining.shutdown();
    expect((await fetch(`${draining.url}/ready`)).status).toBe(503);
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as PredictBody).predictions).toHaveLength(60);
    await stopping;
    await expect(fetch(`${draining.url}/health`)).rejects.toThrow();
  });
});

describe("sightline serve with a worker per core", { timeout: 300_000 }, () => {
  it("shares the port between worker processes, aggregates /metrics, and exits 0 on SIGTERM", async () => {
    const world = await trainedWorldOnce();
    const child = spawn(process.execPath, [CLI, "serve", "--port", "0", "--workers", "2"], {
      cwd: world.home,
      env: {
        ...process.env,
        SIGHTLINE_HOME: world.home,
        SIGHTLINE_LOG_LEVEL: "WARNING",
        SIGHTLINE_PREDICTION_LOG_RATE: "0",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    try {
      const url = await waitFor(
        "the serving URL",
        async () => /at (http:\/\/[^ ]+) with 2 worker/.exec(stdout)?.[1],
        30_000,
      );
      const images = (await heldOutImages()).slice(0, 40);
      const answers = await Promise.all(
        images.map((i) =>
          fetch(`${url}/predict`, { method: "POST", headers: { "content-type": "image/png" }, body: i.bytes }),
        ),
      );
      for (const res of answers) {
        expect(res.status).toBe(200);
        await res.body?.cancel();
      }
      // Whichever worker answers /metrics, it reports the whole cluster's counts.
      for (let i = 0; i < 10; i++) expect(await predictionsTotal(url)).toBe(40);
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toMatch(new RegExp(`sightline_model_info\\{model="${MODEL}",version="${world.v1.version}"\\} 1\n`));
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, stderr).toBe(0);
  });
});

/** Images classified, summed over labels, as /metrics reports it. */
async function predictionsTotal(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("sightline_predictions_total{"))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

async function metricValue(server: RunningServer, series: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
