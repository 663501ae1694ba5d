// The Vertex AI adapter's pure parts: request parsing (three instance forms, parameters), the answer's shape, and
// the AIP_* settings. Real PNG and JPEG bytes; the server side is in serving-vertex.test.ts.
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../../core/config/config.ts";
import { loadServingConfig, VERTEX_PREDICT_ROUTE } from "../../serving/config.ts";
import type { Prediction } from "../../serving/data-plane.ts";
import { ApiError } from "../../serving/errors.ts";
import { vertexPrediction } from "../../serving/routes/vertex.ts";
import { readVertexRequest } from "../../serving/vertex-request.ts";
import { greyPng } from "../support/tiny-served-model.ts";

const LIMITS = { maxImages: 4, formats: ["png", "jpeg", "webp"] as const };
const read = (body: unknown) => readVertexRequest(body, LIMITS);
const refusal = (body: unknown): ApiError => {
  try {
    read(body);
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("the request was accepted");
};

describe("Vertex AI prediction requests", () => {
  let png: Buffer;
  let jpeg: Buffer;
  beforeAll(async () => {
    png = await greyPng(200);
    jpeg = await sharp(png).jpeg().toBuffer();
  });

  it("reads the three instance forms to the same bytes, in order", () => {
    const b64 = png.toString("base64");
    const { images, parameters } = read({
      instances: [
        { b64 },
        { image_bytes: { b64: jpeg.toString("base64") } },
        { content: b64 },
        { content: jpeg.toString("base64"), mimeType: "image/jpeg" },
      ],
    });
    expect(images.map((i) => Buffer.from(i).equals(png))).toEqual([true, false, true, false]);
    expect(Buffer.from(images[1]!).equals(jpeg)).toBe(true);
    expect(Buffer.from(images[3]!).equals(jpeg)).toBe(true);
    expect(parameters).toEqual({ confidenceThreshold: 0, maxPredictions: undefined });
  });

  it("accepts a declared type that matches the bytes, however it is spelt", () => {
    for (const mimeType of ["image/png", "IMAGE/PNG", "image/png; charset=binary"])
      expect(read({ instances: [{ content: png.toString("base64"), mimeType }] }).images).toHaveLength(1);
    expect(read({ instances: [{ content: jpeg.toString("base64"), mimeType: "image/jpg" }] }).images).toHaveLength(1);
  });

  it("refuses a declared type that is not decoded here (415) or that the bytes contradict (400)", () => {
    const svg = refusal({ instances: [{ content: png.toString("base64"), mimeType: "image/svg+xml" }] });
    expect([svg.status, svg.message]).toEqual([
      415,
      'instances[0].mimeType "image/svg+xml" is not accepted; send image/png, image/jpeg, image/webp',
    ]);
    // GIF is a format sharp could decode, but not one this server allows.
    expect(refusal({ instances: [{ content: png.toString("base64"), mimeType: "image/gif" }] }).status).toBe(415);
    const lie = refusal({
      instances: [{ content: png.toString("base64") }, { content: png.toString("base64"), mimeType: "image/jpeg" }],
    });
    expect([lie.status, lie.message]).toEqual([
      400,
      "instances[1].mimeType is image/jpeg but the content is a PNG image",
    ]);
    const text = refusal({
      instances: [{ content: Buffer.from("hello, world").toString("base64"), mimeType: "image/png" }],
    });
    expect(text.message).toBe("instances[0].mimeType is image/png but the content is no known image format");
  });

  it("refuses malformed instances, naming the instance and the forms", () => {
    const cases: [unknown, RegExp][] = [
      [{ instances: ["abc"] }, /^instances\[0\] must be an object: \{"b64":"…"\}/],
      [{ instances: [{ bytes: "abc" }] }, /^instances\[0\] has none of b64, image_bytes, content/],
      [{ instances: [{ b64: png.toString("base64"), key: 1 }] }, /^instances\[0\]: Unrecognized key: "key"/],
      [{ instances: [{ b64: 42 }] }, /^instances\[0\]: b64 must be a string/],
      [{ instances: [{ image_bytes: "abc" }] }, /^instances\[0\]: .* at \.image_bytes/],
      [{ instances: [{ image_bytes: { b64: "" } }] }, /^instances\[0\]: b64 is empty at \.image_bytes\.b64/],
      [{ instances: [{ content: "not base64!" }] }, /^instances\[0\]\.content is not valid base64$/],
      [
        { instances: [{ b64: png.toString("base64") }, { image_bytes: { b64: "a" } }] },
        /^instances\[1\]\.image_bytes\.b64 is not valid base64$/,
      ],
      [{ instances: [{ content: png.toString("base64"), mimeType: 7 }] }, /^instances\[0\]: mimeType must be a string/],
      [{ instances: {} }, /instances must be an array$/],
      [{ instances: [] }, /instances is empty$/],
      [[{ b64: "abc" }], /instances must be an array$/],
    ];
    for (const [body, message] of cases) {
      const err = refusal(body);
      expect(err.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(err.message).toMatch(message);
    }
  });

  it("refuses too many instances by their count, before looking at any of them", () => {
    // A ~1 MB hostile body: 200,000 bad elements would make a 200,000-issue error if validated one by one.
    const err = refusal({ instances: new Array(200_000).fill({ b64: 1, junk: "x" }) });
    expect([err.status, err.message]).toEqual([413, "200000 instances; at most 4 per request"]);
  });

  it("validates the parameters", () => {
    const instances = [{ b64: png.toString("base64") }];
    expect(read({ instances, parameters: { confidenceThreshold: 0.25, maxPredictions: 3 } }).parameters).toEqual({
      confidenceThreshold: 0.25,
      maxPredictions: 3,
    });
    expect(read({ instances, parameters: {} }).parameters).toEqual({
      confidenceThreshold: 0,
      maxPredictions: undefined,
    });
    expect(read({ instances, parameters: null }).parameters).toEqual({
      confidenceThreshold: 0,
      maxPredictions: undefined,
    });
    const cases: [unknown, RegExp][] = [
      [{ confidenceThreshold: -0.1 }, /^parameters: confidenceThreshold must be from 0 to 1 at \.confidenceThreshold/],
      [{ confidenceThreshold: 1.5 }, /^parameters: confidenceThreshold must be from 0 to 1/],
      [{ confidenceThreshold: "0.5" }, /^parameters: confidenceThreshold must be a number from 0 to 1/],
      [{ maxPredictions: 0 }, /^parameters: maxPredictions must be an integer ≥ 1/],
      [{ maxPredictions: 2.5 }, /^parameters: maxPredictions must be an integer ≥ 1/],
      [
        { maxPrediction: 2 },
        /^parameters: Unrecognized key: "maxPrediction" .*\(accepted: confidenceThreshold, maxPredictions\)$/,
      ],
      [
        Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])),
        /^parameters has 20000 keys; the accepted ones are confidenceThreshold and maxPredictions$/,
      ],
      [[0.5], /parameters must be an object$/],
      ["top5", /parameters must be an object$/],
    ];
    for (const [parameters, message] of cases) {
      const err = refusal({ instances, parameters });
      expect(err.status).toBe(400);
      expect(err.message).toMatch(message);
    }
  });
});

describe("Vertex AI prediction answers", () => {
  const classes = ["t-shirt", "trouser", "pullover", "dress"];
  const prediction: Prediction = { label: "dress", index: 3, confidence: 0.5, scores: [0.1, 0.3, 0.1, 0.5] };

  it("lists every class, most confident first, ids as strings of the class index", () => {
    expect(vertexPrediction(prediction, classes, { confidenceThreshold: 0, maxPredictions: undefined })).toEqual({
      ids: ["3", "1", "0", "2"],
      displayNames: ["dress", "trouser", "t-shirt", "pullover"],
      confidences: [0.5, 0.3, 0.1, 0.1],
    });
  });

  it("drops classes below confidenceThreshold and keeps the top maxPredictions", () => {
    expect(vertexPrediction(prediction, classes, { confidenceThreshold: 0.3, maxPredictions: undefined }).ids).toEqual([
      "3",
      "1",
    ]);
    expect(vertexPrediction(prediction, classes, { confidenceThreshold: 0, maxPredictions: 1 })).toEqual({
      ids: ["3"],
      displayNames: ["dress"],
      confidences: [0.5],
    });
    expect(vertexPrediction(prediction, classes, { confidenceThreshold: 0.05, maxPredictions: 3 }).ids).toEqual([
      "3",
      "1",
      "0",
    ]);
    expect(vertexPrediction(prediction, classes, { confidenceThreshold: 0.9, maxPredictions: 3 })).toEqual({
      ids: [],
      displayNames: [],
      confidences: [],
    });
  });
});

describe("Vertex AI settings (AIP_*)", () => {
  it("serves on AIP_HTTP_PORT, which wins over PORT", () => {
    expect(loadServingConfig({ PORT: "9000", AIP_HTTP_PORT: "8081" }).port).toBe(8081);
    expect(loadServingConfig({ PORT: "9000" }).port).toBe(9000);
    expect(loadServingConfig({ AIP_HTTP_PORT: "7000" }).port).toBe(7000);
    expect(() => loadServingConfig({ AIP_HTTP_PORT: "7000", SIGHTLINE_INTERNAL_PORT: "7000" })).toThrow(
      /^SIGHTLINE_INTERNAL_PORT=7000 is AIP_HTTP_PORT too/,
    );
  });

  it("adds AIP_PREDICT_ROUTE to the Vertex route and keeps AIP_HEALTH_ROUTE and AIP_DEPLOYED_MODEL_ID", () => {
    expect(loadServingConfig({}).vertex).toEqual({
      predictRoutes: [VERTEX_PREDICT_ROUTE],
      healthRoute: undefined,
      deployedModelId: "",
    });
    const env = {
      AIP_PREDICT_ROUTE: "/v1/endpoints/1/deployedModels/2:predict",
      AIP_HEALTH_ROUTE: "/v1/endpoints/1/deployedModels/2",
      AIP_DEPLOYED_MODEL_ID: "2",
    };
    expect(loadServingConfig(env).vertex).toEqual({
      predictRoutes: [VERTEX_PREDICT_ROUTE, env.AIP_PREDICT_ROUTE],
      healthRoute: env.AIP_HEALTH_ROUTE,
      deployedModelId: "2",
    });
    // Routes we already answer as Vertex expects are not mounted twice.
    expect(
      loadServingConfig({ AIP_PREDICT_ROUTE: "/vertex/predict/", AIP_HEALTH_ROUTE: "/ready" }).vertex,
    ).toMatchObject({ predictRoutes: [VERTEX_PREDICT_ROUTE], healthRoute: undefined });
  });

  it("refuses routes that would shadow our own, and the liveness check as the health route", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { AIP_PREDICT_ROUTE: "/predict" },
        /^AIP_PREDICT_ROUTE="\/predict" is one of Sightline's own routes.*--container-predict-route=\/vertex\/predict$/,
      ],
      [{ AIP_PREDICT_ROUTE: "/v2/models/fmnist/infer" }, /^AIP_PREDICT_ROUTE=/],
      [{ AIP_PREDICT_ROUTE: "/Admin/reload" }, /^AIP_PREDICT_ROUTE=/],
      [
        { AIP_HEALTH_ROUTE: "/health" },
        /^AIP_HEALTH_ROUTE="\/health" is the liveness check, which answers 200 before a model is loaded; .*--container-health-route=\/ready$/,
      ],
      [{ AIP_HEALTH_ROUTE: "/v2/health/live" }, /is the liveness check/],
      [{ AIP_HEALTH_ROUTE: "/metrics" }, /^AIP_HEALTH_ROUTE="\/metrics" is one of Sightline's own routes/],
      [{ AIP_PREDICT_ROUTE: "predict" }, /^AIP_PREDICT_ROUTE="predict": must be a URL path starting with \//],
      [{ AIP_HEALTH_ROUTE: "/ready?x=1" }, /^AIP_HEALTH_ROUTE=.*must be a URL path/],
      [{ AIP_HTTP_PORT: "0" }, /^AIP_HTTP_PORT="0"/],
    ];
    for (const [env, message] of cases) {
      expect(() => loadServingConfig(env)).toThrow(ConfigError);
      expect(() => loadServingConfig(env)).toThrow(message);
    }
  });
});
