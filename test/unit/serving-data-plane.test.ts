// Every protocol goes through one data plane: a real server on loopback (a real ONNX model, real PNGs, the embedded
// bus) is sent the same images by each protocol, and each request must show up in the metrics and the prediction
// log exactly as a /predict request does. A protocol that called the model directly would fail here.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catchUp } from "../../core/events/catch-up.ts";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { binaryRequest } from "../support/oip-binary-client.ts";
import { greyPng, tinyWorld, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

const SUB = "data-plane-test";

type Protocol = "predict" | "oip" | "vertex";

/** The protocol each way of sending is counted under. */
const PROTOCOL_OF = {
  predict: "predict",
  oip: "oip",
  "oip BYTES": "oip",
  "oip binary BYTES": "oip",
  vertex: "vertex",
} as const satisfies Record<string, Protocol>;
type Way = keyof typeof PROTOCOL_OF;

const oipLabels = async (res: Response, n: number): Promise<string[]> => {
  expect(res.status).toBe(200);
  const out = ((await res.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data;
  return Array.from({ length: n }, (_, i) => (out[i * 2 + 1]! > out[i * 2]! ? "light" : "dark"));
};

/** One request of `n` grey images by each way; resolves to the top label of each image. */
const PROTOCOLS: Record<Way, (url: string, levels: number[]) => Promise<string[]>> = {
  predict: async (url, levels) => {
    const form = new FormData();
    for (const level of levels)
      form.append("file", new Blob([new Uint8Array(await greyPng(level))], { type: "image/png" }), "x.png");
    const res = await fetch(`${url}/predict`, { method: "POST", body: form });
    expect(res.status).toBe(200);
    return ((await res.json()) as { predictions: { label: string }[] }).predictions.map((p) => p.label);
  },
  oip: async (url, levels) => {
    // The tiny model's input is the image scaled to [0, 1], NHWC: what its card's preprocessing makes.
    const data = levels.flatMap((level) => Array.from({ length: 28 * 28 }, () => level / 255));
    const body = { inputs: [{ name: "input", shape: [levels.length, 28, 28, 1], datatype: "FP32", data }] };
    const res = await fetch(`${url}/v2/models/${TINY_MODEL}/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return oipLabels(res, levels.length);
  },
  "oip BYTES": async (url, levels) => {
    // Encoded images, one BYTES element each: decoded and preprocessed by the data plane, as for /predict.
    const data = await Promise.all(levels.map(async (level) => (await greyPng(level)).toString("base64")));
    const body = { inputs: [{ name: "input", shape: [levels.length], datatype: "BYTES", data }] };
    const res = await fetch(`${url}/v2/models/${TINY_MODEL}/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return oipLabels(res, levels.length);
  },
  "oip binary BYTES": async (url, levels) => {
    const elements = await Promise.all(levels.map((level) => greyPng(level)));
    const { body, headers } = binaryRequest({
      inputs: [{ name: "input", shape: [levels.length], datatype: "BYTES", elements }],
    });
    const res = await fetch(`${url}/v2/models/${TINY_MODEL}/infer`, {
      method: "POST",
      headers,
      body: new Uint8Array(body),
    });
    return oipLabels(res, levels.length);
  },
  vertex: async (url, levels) => {
    const instances = await Promise.all(
      levels.map(async (level) => ({ content: (await greyPng(level)).toString("base64"), mimeType: "image/png" })),
    );
    const res = await fetch(`${url}/vertex/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ instances }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { predictions: { displayNames: string[] }[] }).predictions.map(
      (p) => p.displayNames[0]!,
    );
  },
};

describe("one data plane behind every protocol", { timeout: 60_000 }, () => {
  let world: TinyWorld;
  let server: RunningServer;

  beforeAll(async () => {
    world = await tinyWorld();
    await world.rt.bus.ensureSubscription(SUB, ["sightline.predictions.logged"]);
    const config = loadServingConfig(
      {},
      {
        host: "127.0.0.1",
        port: 0,
        workers: 1,
        model: { name: TINY_MODEL, alias: "production" },
        predictionLog: { sampleRate: 1, embeddingRate: 0, bufferSize: 1000, flushMs: 60_000, maxRecordsPerEvent: 100 },
      },
    );
    server = await startServer(world.rt, config, createLogger({}, { level: "CRITICAL" }), { defaultMetrics: false });
  });
  afterAll(async () => {
    await server?.shutdown();
    await world?.close();
  });

  const sample = async (name: string, labels: Record<string, string>): Promise<number> => {
    // A histogram's `_count` series lives in the histogram's metric.
    const metric = server.context.metrics.registry.getSingleMetric(name.replace(/_count$/, ""));
    const values = (await metric!.get()).values as {
      labels: Record<string, string | number>;
      value: number;
      metricName?: string;
    }[];
    return values
      .filter(
        (v) =>
          (v.metricName ?? name) === name && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
      )
      .reduce((a, v) => a + v.value, 0);
  };
  const logged = async (): Promise<
    Extract<AnyCloudEvent, { type: "sightline.predictions.logged" }>["data"]["records"]
  > => {
    await server.context.predictionLog!.flush();
    const events: AnyCloudEvent[] = [];
    await catchUp(world.rt.bus, SUB, ["sightline.predictions.logged"], async (e) => void events.push(e), {
      idleMs: 100,
    });
    return events.flatMap((e) => (e.type === "sightline.predictions.logged" ? e.data.records : []));
  };

  for (const way of Object.keys(PROTOCOLS) as Way[]) {
    const protocol = PROTOCOL_OF[way];
    it(`${way}: N images raise predictions_total by N, count the request and appear in the prediction log`, async () => {
      const version = { model: TINY_MODEL, version: String(world.version.version) };
      const before = {
        predictions: await sample("sightline_predictions_total", version),
        requests: await sample("sightline_inference_requests_total", { ...version, protocol }),
        confidence: await sample("sightline_prediction_confidence_count", version),
        inference: await sample("sightline_inference_duration_seconds_count", version),
      };
      await logged();
      const labels = await PROTOCOLS[way](server.url, [10, 245, 250]);
      expect(labels).toEqual(["dark", "light", "light"]);
      expect((await sample("sightline_predictions_total", version)) - before.predictions).toBe(3);
      expect((await sample("sightline_inference_requests_total", { ...version, protocol })) - before.requests).toBe(1);
      expect((await sample("sightline_prediction_confidence_count", version)) - before.confidence).toBe(3);
      expect(
        (await sample("sightline_inference_duration_seconds_count", version)) - before.inference,
      ).toBeGreaterThanOrEqual(1);
      const records = await logged();
      expect(records.map((r) => [r.protocol, r.label])).toEqual([
        [protocol, "dark"],
        [protocol, "light"],
        [protocol, "light"],
      ]);
      // Drift features of the image as the model sees it, whichever way it came in.
      expect(records[0]!.features.brightness).toBeCloseTo(10 / 255, 3);
      expect(records[1]!.features.brightness).toBeCloseTo(245 / 255, 3);
    });
  }
});
