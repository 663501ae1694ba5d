// The serving image as a Vertex AI custom container: a real server on loopback started from the AIP_* environment
// Vertex sets (through loadServingConfig, as serving/main.ts does), a real ONNX model, real PNG and JPEG images.
import { createHash } from "node:crypto";
import { createServer } from "node:net";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { moveAlias } from "../../core/registry/aliases.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { greyPng, tinyWorld, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

// Vertex's defaults for these routes, with its ":predict" suffix (which Express would otherwise read as a parameter).
const PREDICT_ROUTE = "/v1/endpoints/123/deployedModels/456:predict";
const HEALTH_ROUTE = "/v1/endpoints/123/deployedModels/456";
// Served by alias, moved only once the "before a model is loaded" checks are done.
const ALIAS = "vertex";

type VertexAnswer = {
  predictions: { ids: string[]; displayNames: string[]; confidences: number[] }[];
  deployedModelId: string;
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

describe("the serving image as a Vertex AI custom container", { timeout: 60_000 }, () => {
  let world: TinyWorld;
  let server: RunningServer;
  let port: number;
  let otherPort: number;
  let dark: Buffer;
  let light: Buffer;
  let lightJpeg: Buffer;

  beforeAll(async () => {
    [world, port, otherPort, dark, light] = await Promise.all([
      tinyWorld(),
      freePort(),
      freePort(),
      greyPng(10),
      greyPng(245),
    ]);
    lightJpeg = await sharp(await greyPng(250))
      .jpeg({ quality: 95 })
      .toBuffer();
    const env = {
      // PORT is what the image sets; Vertex's AIP_HTTP_PORT must win.
      PORT: String(otherPort),
      AIP_HTTP_PORT: String(port),
      AIP_PREDICT_ROUTE: PREDICT_ROUTE,
      AIP_HEALTH_ROUTE: HEALTH_ROUTE,
      AIP_DEPLOYED_MODEL_ID: "456",
      AIP_STORAGE_URI: "",
      AIP_MODE: "PREDICTION",
    };
    const config = loadServingConfig(env, {
      host: "127.0.0.1",
      workers: 1,
      model: { name: TINY_MODEL, alias: ALIAS },
      predictionLog: { sampleRate: 0, embeddingRate: 0, bufferSize: 1, flushMs: 60_000, maxRecordsPerEvent: 1 },
    });
    server = await startServer(world.rt, config, createLogger({}, { level: "CRITICAL" }), { defaultMetrics: false });
  });
  afterAll(async () => {
    await server?.shutdown();
    await world?.close();
  });

  const post = (path: string, body: unknown, type = "application/json") =>
    fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { "content-type": type },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const vertex = async (path: string, body: unknown): Promise<VertexAnswer> => {
    const res = await post(path, body);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    return (await res.json()) as VertexAnswer;
  };
  const b64 = (b: Buffer): string => b.toString("base64");

  it("listens on AIP_HTTP_PORT, and its health route is the readiness check: 503 until a model is loaded, then 200", async () => {
    expect(server.port).toBe(port);
    expect(otherPort).not.toBe(port);
    expect((await fetch(`${server.url}${HEALTH_ROUTE}`)).status).toBe(503);
    // Liveness answers 200 all along: it is not what Vertex must be given.
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const early = await post(PREDICT_ROUTE, { instances: [{ b64: b64(dark) }] });
    expect(early.status).toBe(503);
    expect(await early.json()).toEqual({ error: "no model is loaded yet; try again shortly" });

    await moveAlias(world.rt.meta, {
      name: TINY_MODEL,
      alias: ALIAS,
      to: world.version.version,
      expected: null,
      actor: "tester",
      reason: "test",
      action: "alias.set",
    });
    expect((await server.context.host.check("test")).changed).toBe(true);
    const ready = await fetch(`${server.url}${HEALTH_ROUTE}`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "ready",
      model: { name: TINY_MODEL, version: world.version.version },
    });
  });

  it("answers all three instance forms on AIP_PREDICT_ROUTE in Vertex's shape, with the scores /predict gives", async () => {
    const answer = await vertex(PREDICT_ROUTE, {
      instances: [
        { b64: b64(dark) },
        { image_bytes: { b64: b64(light) } },
        { content: b64(lightJpeg), mimeType: "image/jpeg" },
      ],
    });
    expect(Object.keys(answer)).toEqual(["predictions", "deployedModelId"]);
    expect(answer.deployedModelId).toBe("456");
    expect(answer.predictions.map((p) => [p.ids, p.displayNames])).toEqual([
      [
        ["0", "1"],
        ["dark", "light"],
      ],
      [
        ["1", "0"],
        ["light", "dark"],
      ],
      [
        ["1", "0"],
        ["light", "dark"],
      ],
    ]);
    const res = await post("/predict", { instances: [dark, light, lightJpeg].map((b) => ({ b64: b64(b) })) });
    const reference = ((await res.json()) as { predictions: { scores: number[] }[] }).predictions;
    answer.predictions.forEach((p, i) => {
      expect(p.confidences[0]).toBeGreaterThan(p.confidences[1]!);
      p.ids.forEach((id, k) => expect(p.confidences[k]).toBeCloseTo(reference[i]!.scores[Number(id)]!, 6));
    });
  });

  it("honours confidenceThreshold and maxPredictions, also on /vertex/predict", async () => {
    const instances = [{ content: b64(dark) }, { b64: b64(light) }];
    const all = await vertex("/vertex/predict", { instances });
    expect(all.predictions.map((p) => p.ids.length)).toEqual([2, 2]);
    const top = all.predictions.map((p) => p.confidences[0]!);
    const threshold = await vertex("/vertex/predict", { instances, parameters: { confidenceThreshold: 0.5 } });
    expect(threshold.predictions).toEqual([
      { ids: ["0"], displayNames: ["dark"], confidences: [top[0]] },
      { ids: ["1"], displayNames: ["light"], confidences: [top[1]] },
    ]);
    const one = await vertex("/vertex/predict", { instances, parameters: { maxPredictions: 1 } });
    expect(one.predictions.map((p) => p.displayNames)).toEqual([["dark"], ["light"]]);
    const none = await vertex("/vertex/predict", {
      instances,
      parameters: { confidenceThreshold: 0.99, maxPredictions: 5 },
    });
    expect(none.predictions).toEqual([
      { ids: [], displayNames: [], confidences: [] },
      { ids: [], displayNames: [], confidences: [] },
    ]);
    expect(none.deployedModelId).toBe("456");
  });

  it('refuses bad requests with {"error": "<message>"} and the status that says why; /predict keeps its own error shape', async () => {
    const cases: [unknown, string, number, RegExp][] = [
      [{ instances: [{ b64: "no base64!" }] }, "application/json", 400, /^instances\[0\]\.b64 is not valid base64$/],
      [
        { instances: [{ content: b64(light), mimeType: "image/jpeg" }] },
        "application/json",
        400,
        /^instances\[0\]\.mimeType is image\/jpeg but the content is a PNG image$/,
      ],
      [
        { instances: [{ content: b64(light), mimeType: "image/bmp" }] },
        "application/json",
        415,
        /^instances\[0\]\.mimeType "image\/bmp" is not accepted/,
      ],
      [
        { instances: [{ b64: b64(light) }], parameters: { maxPredictions: 0 } },
        "application/json",
        400,
        /^parameters: maxPredictions must be an integer ≥ 1/,
      ],
      [
        { instances: [{ b64: b64(Buffer.from("GIF89a not really")) }] },
        "application/json",
        415,
        /GIF images are not accepted/,
      ],
      ["instances=1", "text/plain", 415, /^content type "text\/plain" is not accepted; send application\/json$/],
      ["{not json", "application/json", 400, /JSON/],
      // ~1 MB of instances: refused by their count, not validated one by one.
      [
        `{"instances":[${new Array(250_000).fill("{}").join(",")}]}`,
        "application/json",
        413,
        /^250000 instances; at most 64 per request$/,
      ],
    ];
    for (const [body, type, status, message] of cases) {
      const res = await post(PREDICT_ROUTE, body, type);
      const answer = (await res.json()) as { error: unknown };
      expect(res.status, JSON.stringify(answer)).toBe(status);
      expect(Object.keys(answer)).toEqual(["error"]);
      expect(answer.error).toMatch(message);
    }
    // The route is the literal path: ":predict" is no parameter that ":explain" would fill.
    expect(
      (await post(PREDICT_ROUTE.replace(":predict", ":explain"), { instances: [{ b64: b64(light) }] })).status,
    ).toBe(404);
    const own = await post("/predict", { instances: [{ b64: "no base64!" }] });
    expect([own.status, await own.json()]).toEqual([
      400,
      { error: { code: "bad_request", message: "instances[0].b64 is not valid base64" } },
    ]);
  });
});

describe("the Vertex routes with authentication on", { timeout: 60_000 }, () => {
  const KEY = "vertex-test-key-0123456789";
  let world: TinyWorld;
  let server: RunningServer;

  beforeAll(async () => {
    world = await tinyWorld();
    const env = {
      AIP_HTTP_PORT: String(await freePort()),
      AIP_PREDICT_ROUTE: PREDICT_ROUTE,
      AIP_HEALTH_ROUTE: HEALTH_ROUTE,
      SIGHTLINE_SERVE_AUTH: "api-key",
      SIGHTLINE_SERVE_API_KEY_HASHES: createHash("sha256").update(KEY).digest("hex"),
    };
    const config = loadServingConfig(env, {
      host: "127.0.0.1",
      workers: 1,
      model: { name: TINY_MODEL, alias: "production" },
      predictionLog: { sampleRate: 0, embeddingRate: 0, bufferSize: 1, flushMs: 60_000, maxRecordsPerEvent: 1 },
    });
    server = await startServer(world.rt, config, createLogger({}, { level: "CRITICAL" }), { defaultMetrics: false });
  });
  afterAll(async () => {
    await server?.shutdown();
    await world?.close();
  });

  it("leaves the health route open, and refuses a request without a key in Vertex's error shape", async () => {
    expect((await fetch(`${server.url}${HEALTH_ROUTE}`)).status).toBe(200);
    const body = JSON.stringify({ instances: [{ b64: (await greyPng(10)).toString("base64") }] });
    const refused = await fetch(`${server.url}${PREDICT_ROUTE}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: "an API key is required (Authorization: Bearer KEY, or x-api-key)" });
    const ok = await fetch(`${server.url}${PREDICT_ROUTE}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
      body,
    });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as VertexAnswer).predictions[0]!.displayNames[0]).toBe("dark");
  });
});
