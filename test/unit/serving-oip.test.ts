// Open Inference Protocol v2 on a real server (loopback, a real ONNX model, real PNGs): every response is checked
// against the vendored spec (test/support/oip-spec.ts), and every way of sending an image (FP32 tensors, BYTES in
// JSON, BYTES and FP32 through the binary extension) must give the scores /predict gives for the same PNG.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { preprocess } from "../../core/imaging/preprocess.ts";
import { parseModelCard } from "../../core/registry/model-card.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { binaryRequest, readOutputs } from "../support/oip-binary-client.ts";
import { oipFetch, responseSchemaName, schemaErrors, type OipAnswer } from "../support/oip-spec.ts";
import { greyPng, tinyWorld, TINY_CLASSES, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

const MAX_BODY = 64 * 1024;
const LEVELS = [10, 130, 245];

type InferBody = {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs: { name: string; shape: number[]; datatype: string; data: (number | string)[] }[];
};

describe("the OIP spec validator", () => {
  it("rejects what the spec rejects", () => {
    expect(schemaErrors("inference_error_response", { error: "no such model" })).toEqual([]);
    expect(
      schemaErrors("inference_error_response", { error: { code: "not_found", message: "no such model" } }),
    ).not.toEqual([]);
    expect(schemaErrors("inference_error_response", {})).not.toEqual([]);
    const output = { name: "probabilities", shape: [1, 2], datatype: "FP32", data: [0.5, 0.5] };
    expect(schemaErrors("inference_response", { model_name: "m", outputs: [output] })).toEqual([]);
    expect(
      schemaErrors("inference_response", { model_name: "m", outputs: [{ ...output, data: undefined }] }),
    ).not.toEqual([]);
    expect(
      schemaErrors("inference_response", {
        model_name: "m",
        outputs: [{ ...output, parameters: { nested: { a: 1 } } }],
      }),
    ).not.toEqual([]);
    expect(
      schemaErrors("binary_inference_header", {
        model_name: "m",
        outputs: [{ name: "p", shape: [1, 2], datatype: "FP32", parameters: { binary_data_size: 8 } }],
      }),
    ).toEqual([]);
    expect(
      schemaErrors("metadata_model_response", {
        name: "m",
        platform: "onnx_onnxv1",
        inputs: [],
        outputs: [],
        parameters: { classes: ["a"] },
      }),
    ).not.toEqual([]);
    expect(schemaErrors("metadata_server_response", { name: "s", version: "1" })).not.toEqual([]);
  });

  it("finds the schema from the spec's paths, the version part optional", () => {
    expect(responseSchemaName("GET", "/v2", 200)).toBe("metadata_server_response");
    expect(responseSchemaName("GET", "/v2/models/m", 200)).toBe("metadata_model_response");
    expect(responseSchemaName("GET", "/v2/models/m/versions/3", 200)).toBe("metadata_model_response");
    expect(responseSchemaName("POST", "/v2/models/m/versions/3/infer", 200)).toBe("inference_response");
    expect(responseSchemaName("POST", "/v2/models/m/infer", 404)).toBe("inference_error_response");
    expect(responseSchemaName("GET", "/v2", 400)).toBe("metadata_server_error_response");
  });
});

describe("Open Inference Protocol v2, to the spec", { timeout: 60_000 }, () => {
  let world: TinyWorld;
  let server: RunningServer;
  let url: string;
  let pngs: Buffer[];
  /** What /predict answers for each PNG: the reference every OIP path must match. */
  let expected: number[][];
  let version: string;

  beforeAll(async () => {
    world = await tinyWorld();
    version = String(world.version.version);
    const config = loadServingConfig(
      {},
      {
        host: "127.0.0.1",
        port: 0,
        workers: 1,
        maxBodyBytes: MAX_BODY,
        model: { name: TINY_MODEL, alias: "production" },
        predictionLog: { sampleRate: 0, embeddingRate: 0, bufferSize: 1, flushMs: 60_000, maxRecordsPerEvent: 1 },
      },
    );
    server = await startServer(world.rt, config, createLogger({}, { level: "CRITICAL" }), { defaultMetrics: false });
    url = server.url;
    pngs = await Promise.all(LEVELS.map((l) => greyPng(l)));
    const form = new FormData();
    for (const png of pngs) form.append("file", new Blob([new Uint8Array(png)], { type: "image/png" }), "x.png");
    const res = await fetch(`${url}/predict`, { method: "POST", body: form });
    expected = ((await res.json()) as { predictions: { scores: number[] }[] }).predictions.map((p) => p.scores);
  });
  afterAll(async () => {
    await server?.shutdown();
    await world?.close();
  });

  const json = (body: unknown): RequestInit => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const rows = (data: (number | string)[], width: number): number[][] =>
    Array.from({ length: data.length / width }, (_, i) => data.slice(i * width, (i + 1) * width) as number[]);
  const expectScores = (data: (number | string)[]): void => {
    const got = rows(data, TINY_CLASSES.length);
    expect(got).toHaveLength(expected.length);
    got.forEach((row, i) =>
      row.forEach((s, j) => expect(Math.abs(s - expected[i]![j]!), `image ${i} class ${j}`).toBeLessThanOrEqual(1e-6)),
    );
  };
  const expectError = async (answer: Promise<OipAnswer>, status: number, message?: RegExp): Promise<string> => {
    const a = await answer;
    expect(a.status).toBe(status);
    const error = (a.json as { error: string }).error;
    if (message) expect(error).toMatch(message);
    return error;
  };
  const b64 = (): string[] => pngs.map((p) => p.toString("base64"));

  it("answers server metadata with the extensions it implements, and the health routes", async () => {
    for (const path of ["/v2", "/v2/"]) {
      const meta = await oipFetch(url, path);
      expect(meta.status).toBe(200);
      expect(meta.json).toEqual({
        name: "sightline",
        version: expect.any(String),
        extensions: ["binary_tensor_data", "classification"],
      });
    }
    expect((await oipFetch(url, "/v2/health/live")).json).toEqual({ live: true });
    expect((await oipFetch(url, "/v2/health/ready")).json).toEqual({ ready: true });
  });

  it("answers model metadata and readiness for the served version, with or without it in the path, and 404 for others", async () => {
    for (const path of [`/v2/models/${TINY_MODEL}`, `/v2/models/${TINY_MODEL}/versions/${version}`]) {
      const meta = await oipFetch(url, path);
      expect(meta.status).toBe(200);
      const body = meta.json as {
        name: string;
        versions: string[];
        platform: string;
        inputs: unknown[];
        outputs: unknown[];
        properties: Record<string, string>;
      };
      expect(body).toMatchObject({ name: TINY_MODEL, versions: [version], platform: "onnx_onnxv1" });
      expect(body.inputs).toEqual([{ name: "input", datatype: "FP32", shape: [-1, 28, 28, 1] }]);
      expect(body.outputs).toEqual([{ name: "probabilities", datatype: "FP32", shape: [-1, 2] }]);
      expect(JSON.parse(body.properties.classes!)).toEqual(TINY_CLASSES);
      expect(JSON.parse(body.properties.preprocessing!)).toMatchObject({ width: 28, height: 28, channels: 1 });
      const ready = await oipFetch(url, `${path}/ready`);
      expect([ready.status, ready.json]).toEqual([200, { name: TINY_MODEL, ready: true }]);
    }
    const other = String(world.version.version + 1);
    for (const path of [
      `/v2/models/${TINY_MODEL}/versions/${other}`,
      `/v2/models/${TINY_MODEL}/versions/${other}/ready`,
    ]) {
      await expectError(oipFetch(url, path), 404, new RegExp(`no version "${other}"`));
    }
    for (const path of ["/v2/models/other", "/v2/models/other/ready", `/v2/models/other/versions/${version}`])
      await expectError(oipFetch(url, path), 404, /"other" is not served here/);
    await expectError(oipFetch(url, "/v2/nothing/here"), 404, /no route GET \/v2\/nothing\/here/);
  });

  it("infers FP32 tensors on the plain and the versioned path, with the scores /predict gives", async () => {
    // Preprocessed by the card, as a client holding the card would.
    const card = parseModelCard(await world.rt.blobs.get(world.version.cardDigest), TINY_MODEL);
    const data = (await Promise.all(pngs.map((p) => preprocess(p, card.preprocessing)))).flatMap((t) => Array.from(t));
    const request = {
      id: "oip-fp32",
      inputs: [{ name: "input", datatype: "FP32", shape: [pngs.length, 28, 28, 1], data }],
    };
    for (const path of [`/v2/models/${TINY_MODEL}/infer`, `/v2/models/${TINY_MODEL}/versions/${version}/infer`]) {
      const a = await oipFetch(url, path, json(request));
      expect(a.status).toBe(200);
      const body = a.json as InferBody;
      expect(body).toMatchObject({ model_name: TINY_MODEL, model_version: version, id: "oip-fp32" });
      expect(body.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([
        ["probabilities", "FP32", [pngs.length, 2]],
      ]);
      expectScores(body.outputs[0]!.data);
    }
    const noId = (await oipFetch(url, `/v2/models/${TINY_MODEL}/infer`, json({ inputs: request.inputs })))
      .json as InferBody;
    expect(noId.id).toBeUndefined();
    await expectError(
      oipFetch(url, `/v2/models/${TINY_MODEL}/versions/${world.version.version + 1}/infer`, json(request)),
      404,
      /no version/,
    );
    await expectError(
      oipFetch(url, `/v2/models/${TINY_MODEL}/versions/${world.version.version + 1}/infer`, json({})),
      404,
      /no version/,
    );
  });

  it("infers BYTES images sent as base64 strings in JSON, shape [N] or [N, 1], with the scores /predict gives", async () => {
    for (const [shape, data] of [
      [[pngs.length], b64()],
      [[pngs.length, 1], b64().map((s) => [s])],
    ] as const) {
      const a = await oipFetch(
        url,
        `/v2/models/${TINY_MODEL}/infer`,
        json({ inputs: [{ name: "input", datatype: "BYTES", shape, data }] }),
      );
      expect(a.status, JSON.stringify(shape)).toBe(200);
      expectScores((a.json as InferBody).outputs[0]!.data);
    }
    await expectError(
      oipFetch(
        url,
        `/v2/models/${TINY_MODEL}/infer`,
        json({ inputs: [{ name: "input", datatype: "BYTES", shape: [1], data: ["!!not base64!!"] }] }),
      ),
      400,
      /data\[0\] is not valid base64/,
    );
    await expectError(
      oipFetch(
        url,
        `/v2/models/${TINY_MODEL}/infer`,
        json({
          inputs: [
            { name: "input", datatype: "BYTES", shape: [1], data: [Buffer.from("not an image").toString("base64")] },
          ],
        }),
      ),
      400,
      /not a readable image/,
    );
    await expectError(
      oipFetch(
        url,
        `/v2/models/${TINY_MODEL}/infer`,
        json({ inputs: [{ name: "input", datatype: "BYTES", shape: [1, 28], data: b64() }] }),
      ),
      422,
      /shape \[N\] or \[N, 1\]/,
    );
  });

  it("takes binary BYTES and FP32 requests and answers binary outputs, with the scores /predict gives", async () => {
    const bytes = binaryRequest({
      inputs: [{ name: "input", datatype: "BYTES", shape: [pngs.length], elements: pngs }],
      parameters: { binary_data_output: true },
    });
    const a = await oipFetch(url, `/v2/models/${TINY_MODEL}/infer`, {
      method: "POST",
      headers: bytes.headers,
      body: new Uint8Array(bytes.body),
    });
    expect(a.status).toBe(200);
    expect(a.binary?.length).toBe(pngs.length * 2 * 4);
    const out = readOutputs(a.json, a.binary).get("probabilities")!;
    expect([out.datatype, out.shape]).toEqual(["FP32", [pngs.length, 2]]);
    expectScores(out.values);

    // The tiny model's input is the image scaled to [0, 1]: what its card's preprocessing makes of a grey PNG.
    const values = LEVELS.flatMap((l) => new Array<number>(28 * 28).fill(l / 255));
    const fp32 = binaryRequest({
      inputs: [{ name: "input", datatype: "FP32", shape: [pngs.length, 28, 28, 1], values }],
      outputs: [{ name: "probabilities", parameters: { binary_data: true } }],
    });
    const b = await oipFetch(url, `/v2/models/${TINY_MODEL}/versions/${version}/infer`, {
      method: "POST",
      headers: fp32.headers,
      body: new Uint8Array(fp32.body),
    });
    expect(b.status).toBe(200);
    expectScores(readOutputs(b.json, b.binary).get("probabilities")!.values);

    // A binary request without binary outputs is answered in plain JSON.
    const plain = binaryRequest({
      inputs: [{ name: "input", datatype: "BYTES", shape: [pngs.length], elements: pngs }],
    });
    const c = await oipFetch(url, `/v2/models/${TINY_MODEL}/infer`, {
      method: "POST",
      headers: plain.headers,
      body: new Uint8Array(plain.body),
    });
    expect(c.binary).toBeUndefined();
    expectScores((c.json as InferBody).outputs[0]!.data);
  });

  it("refuses malformed binary requests with the spec's error body", async () => {
    const good = binaryRequest({ inputs: [{ name: "input", datatype: "BYTES", shape: [1], elements: [pngs[0]!] }] });
    const send = (body: Buffer, headers: Record<string, string> = good.headers) =>
      oipFetch(url, `/v2/models/${TINY_MODEL}/infer`, { method: "POST", headers, body: new Uint8Array(body) });
    await expectError(send(good.body.subarray(0, good.body.length - 3)), 400, /add up to/);
    await expectError(
      send(good.body, { ...good.headers, "inference-header-content-length": "nope" }),
      400,
      /must be a byte count/,
    );
    await expectError(
      send(good.body, { ...good.headers, "inference-header-content-length": String(good.body.length + 1) }),
      400,
      /but the body has/,
    );
    await expectError(send(good.body, { ...good.headers, "inference-header-content-length": "5" }), 400, /not JSON/);
    const lying = binaryRequest({ inputs: [{ name: "input", datatype: "BYTES", shape: [2], elements: [pngs[0]!] }] });
    await expectError(send(lying.body, lying.headers), 422, /has 1 elements; shape \[2\] needs 2/);
    const short = binaryRequest({
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 28, 28, 1], values: [1, 2, 3] }],
    });
    await expectError(send(short.body, short.headers), 422, /binary FP32 data is 12 bytes/);
    await expectError(
      oipFetch(
        url,
        `/v2/models/${TINY_MODEL}/infer`,
        json({ inputs: [{ name: "input", datatype: "BYTES", shape: [1], parameters: { binary_data_size: 10 } }] }),
      ),
      400,
      /no inference-header-content-length header/,
    );
  });

  it('answers the classification extension as top-k "score:index:label" strings, in JSON and binary', async () => {
    const request = {
      inputs: [{ name: "input", datatype: "BYTES", shape: [pngs.length], data: b64() }],
      outputs: [{ name: "probabilities", parameters: { classification: 1 } }],
    };
    const a = await oipFetch(url, `/v2/models/${TINY_MODEL}/infer`, json(request));
    const out = (a.json as InferBody).outputs[0]!;
    expect([out.datatype, out.shape]).toEqual(["BYTES", [pngs.length, 1]]);
    const check = (labels: (string | number)[], k: number): void => {
      expect(labels).toHaveLength(pngs.length * k);
      labels.forEach((label, n) => {
        const [score, index, name] = String(label).split(":");
        const i = Math.floor(n / k);
        const ranked = expected[i]!.map((s, j) => [s, j] as const).sort((x, y) => y[0] - x[0] || x[1] - y[1]);
        const [best, at] = ranked[n % k]!;
        expect([Number(index), name]).toEqual([at, TINY_CLASSES[at]]);
        expect(Math.abs(Number(score) - best)).toBeLessThanOrEqual(1e-6);
      });
    };
    check(out.data, 1);
    // More classes than the model has gets them all.
    const all = binaryRequest({
      inputs: [{ name: "input", datatype: "BYTES", shape: [pngs.length], elements: pngs }],
      outputs: [{ name: "probabilities", parameters: { classification: 5, binary_data: true } }],
    });
    const b = await oipFetch(url, `/v2/models/${TINY_MODEL}/infer`, {
      method: "POST",
      headers: all.headers,
      body: new Uint8Array(all.body),
    });
    const binaryOut = readOutputs(b.json, b.binary).get("probabilities")!;
    expect([binaryOut.datatype, binaryOut.shape]).toEqual(["BYTES", [pngs.length, 2]]);
    check(binaryOut.values, 2);
    await expectError(
      oipFetch(
        url,
        `/v2/models/${TINY_MODEL}/infer`,
        json({ ...request, outputs: [{ name: "probabilities", parameters: { classification: 0 } }] }),
      ),
      400,
      /classification must be an integer ≥ 1/,
    );
  });

  it("checks outputs and parameters as the spec types them", async () => {
    const input = { name: "input", datatype: "BYTES", shape: [1], data: [b64()[0]!] };
    const infer = (body: unknown) => oipFetch(url, `/v2/models/${TINY_MODEL}/infer`, json(body));
    await expectError(
      infer({ inputs: [input], outputs: [{ name: "probabilities" }, { name: "probabilities" }] }),
      400,
      /"probabilities" is requested more than once/,
    );
    await expectError(
      infer({ inputs: [input], outputs: [{ name: "embedding" }] }),
      400,
      /unknown output "embedding"; outputs are "probabilities"/,
    );
    await expectError(
      infer({ inputs: [input], parameters: { nested: { a: 1 } } }),
      400,
      /a parameter's value must be a string, number or boolean at \.parameters\.nested/,
    );
    await expectError(
      infer({ inputs: [{ ...input, parameters: { list: [1] } }] }),
      400,
      /must be a string, number or boolean/,
    );
    await expectError(
      infer({ inputs: [input], parameters: { binary_data_output: "yes" } }),
      400,
      /binary_data_output must be a boolean/,
    );
    await expectError(
      infer({ inputs: [input], outputs: [{ name: "probabilities", parameters: { binary_data: 1 } }] }),
      400,
      /binary_data must be a boolean/,
    );
    const none = (await infer({ inputs: [input], outputs: [] })).json as InferBody;
    expect(none.outputs.map((o) => o.name)).toEqual(["probabilities"]);
    // Parameters the server does not know are the client's own: accepted and ignored.
    expect((await infer({ inputs: [input], parameters: { priority: 3, tag: "x", fast: true } })).status).toBe(200);
  });

  it('answers every error on /v2 with the spec\'s {"error": string}, keeping status codes', async () => {
    const infer = `/v2/models/${TINY_MODEL}/infer`;
    const tensor = (over: object) => ({
      inputs: [{ name: "input", datatype: "FP32", shape: [1, 28, 28, 1], data: new Array(784).fill(0), ...over }],
    });
    await expectError(oipFetch(url, `/v2/models/other/infer`, json(tensor({}))), 404, /not served here/);
    await expectError(
      oipFetch(url, infer, { method: "POST", headers: { "content-type": "application/json" }, body: '{"inputs": [' }),
      400,
    );
    await expectError(oipFetch(url, infer, json({ nothing: true })), 400, /not an inference request/);
    await expectError(oipFetch(url, infer, json(tensor({ shape: [1, 32, 32, 1] }))), 422, /does not fit/);
    await expectError(
      oipFetch(url, infer, json(tensor({ datatype: "INT64" }))),
      422,
      /datatype INT64 is not supported/,
    );
    await expectError(
      oipFetch(url, infer, { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" }),
      415,
      /not accepted/,
    );
    const tooBig = await oipFetch(url, infer, json(tensor({ data: new Array(MAX_BODY).fill(0.123456789) })));
    expect(tooBig.status).toBe(413);
    const huge = pngs[0]!.toString("base64").padEnd(MAX_BODY * 2, "A");
    await expectError(
      oipFetch(url, infer, json({ inputs: [{ name: "input", datatype: "BYTES", shape: [1], data: [huge] }] })),
      413,
      /at most 65536/,
    );
    // A full batch queue: 503 with Retry-After, as on /predict, and the spec's body.
    const tight = await startServer(
      world.rt,
      loadServingConfig(
        {},
        {
          host: "127.0.0.1",
          port: 0,
          workers: 1,
          maxQueuedImages: 8,
          batch: { maxSize: 1, maxDelayMs: 0 },
          model: { name: TINY_MODEL, alias: "production" },
        },
      ),
      createLogger({}, { level: "CRITICAL" }),
      { defaultMetrics: false },
    );
    try {
      const many = binaryRequest({
        inputs: [{ name: "input", datatype: "BYTES", shape: [64], elements: new Array<Buffer>(64).fill(pngs[0]!) }],
      });
      const shed = await oipFetch(tight.url, infer, {
        method: "POST",
        headers: many.headers,
        body: new Uint8Array(many.body),
      });
      expect([shed.status, shed.headers.get("retry-after")]).toEqual([503, "1"]);
      expect((shed.json as { error: string }).error).toMatch(/queue is full/);
    } finally {
      await tight.shutdown();
    }
    // Sightline's own routes keep their shape.
    const own = (await (await fetch(`${url}/nope`)).json()) as { error: { code: string } };
    expect(own.error.code).toBe("not_found");
  });
});
