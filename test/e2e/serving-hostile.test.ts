import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig, type ServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { schemaErrors } from "../support/oip-spec.ts";
import { heldOutImages, MODEL, trainedWorld, type ServedWorld } from "../support/served-model.ts";

const quiet = createLogger({}, { level: "CRITICAL" });
type ErrorBody = { error: { code: string; message: string } };

// 235 bytes that make librsvg render and blur 4000×4000 pixels of turbulence: seconds to minutes of CPU.
const SVG_BOMB = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"><filter id="f"><feTurbulence baseFrequency="0.9" numOctaves="10"/><feGaussianBlur stdDeviation="80"/></filter><rect width="100%" height="100%" filter="url(#f)"/></svg>',
);

const config = (overrides: Partial<ServingConfig> = {}): ServingConfig =>
  loadServingConfig(
    {},
    {
      host: "127.0.0.1",
      port: 0,
      workers: 1,
      reloadPollMs: 100,
      predictionLog: { sampleRate: 0, embeddingRate: 0, bufferSize: 10, flushMs: 100, maxRecordsPerEvent: 10 },
      ...overrides,
    },
  );

const json = (body: string): RequestInit => ({ method: "POST", headers: { "content-type": "application/json" }, body });
const raw = (body: Uint8Array, type = "image/png"): RequestInit => ({
  method: "POST",
  headers: { "content-type": type },
  body,
});
const form = (images: Uint8Array[], fields: Record<string, string> = {}): RequestInit => {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  for (const [i, bytes] of images.entries()) body.append("file", new Blob([bytes], { type: "image/png" }), `${i}.png`);
  return { method: "POST", body };
};

describe("serving under hostile input, on loopback with a real trained model", { timeout: 300_000 }, () => {
  let world: ServedWorld;
  let server: RunningServer;
  let tight: RunningServer;
  let png: Buffer;
  let url: string;

  beforeAll(async () => {
    world = await trainedWorld({ second: false });
    png = (await heldOutImages())[3]!.bytes;
    server = await startServer(world.rt, config(), quiet, { defaultMetrics: false });
    tight = await startServer(
      world.rt,
      config({ decodes: { maxActive: 1, maxQueued: 2 }, maxRequestPixels: 5 * 28 * 28 }),
      quiet,
      { defaultMetrics: false },
    );
    url = server.url;
    for (const s of [server, tight]) {
      for (let i = 0; i < 200 && !(await fetch(`${s.url}/ready`)).ok; i++) await new Promise((r) => setTimeout(r, 50));
    }
  }, 300_000);
  afterAll(async () => {
    await server?.shutdown();
    await tight?.shutdown();
    await world?.rt.close();
  });

  const expectError = async (res: Response, status: number, code: string): Promise<ErrorBody & { size: number }> => {
    const text = await res.text();
    const body = JSON.parse(text) as ErrorBody;
    expect({ status: res.status, code: body.error.code }).toEqual({ status, code });
    // Never larger than a few KB, whatever was sent.
    expect(text.length).toBeLessThan(4096);
    return { ...body, size: text.length };
  };
  /** OIP routes answer the spec's `{"error": "<message>"}`; resolves to the message. */
  const expectOipError = async (res: Response, status: number): Promise<string> => {
    const text = await res.text();
    const body: unknown = JSON.parse(text);
    expect({ status: res.status, schema: schemaErrors("inference_error_response", body) }).toEqual({
      status,
      schema: [],
    });
    expect(text.length).toBeLessThan(4096);
    return (body as { error: string }).error;
  };
  const stillServes = async (): Promise<void> => expect((await fetch(`${url}/predict`, raw(png))).status).toBe(200);

  it("refuses SVG, GIF and TIFF sent as image/png, in every body form, with 415 before decoding", async () => {
    const grey = sharp(Buffer.alloc(28 * 28, 90), { raw: { width: 28, height: 28, channels: 1 } });
    const gif = await grey.clone().gif().toBuffer();
    const tiff = await grey.clone().tiff().toBuffer();
    for (const [what, bytes] of [
      ["svg", SVG_BOMB],
      ["gif", gif],
      ["tiff", tiff],
    ] as const) {
      const body = await expectError(await fetch(`${url}/predict`, raw(bytes)), 415, "unsupported_media_type");
      expect(body.error.message, what).toMatch(
        new RegExp(`${what.toUpperCase()} images are not accepted; send PNG, JPEG, WEBP`),
      );
      await expectError(await fetch(`${url}/predict`, form([png, bytes])), 415, "unsupported_media_type");
      await expectError(
        await fetch(`${url}/predict`, json(JSON.stringify({ instances: [{ b64: bytes.toString("base64") }] }))),
        415,
        "unsupported_media_type",
      );
    }
    const jpeg = await grey.clone().jpeg().toBuffer();
    const webp = await grey.clone().webp().toBuffer();
    expect((await fetch(`${url}/predict`, raw(jpeg, "image/jpeg"))).status).toBe(200);
    expect((await fetch(`${url}/predict`, raw(webp, "image/png"))).status).toBe(200);
    await stillServes();
  });

  it("refuses half a million instances by their count, with a short answer", async () => {
    await expectError(
      await fetch(`${url}/predict`, json(`{"instances":[${new Array(500_000).fill("1").join(",")}]}`)),
      413,
      "payload_too_large",
    );
    await stillServes();
  });

  it("refuses OIP requests by their counts and shapes, and deep nesting as a 400, not a 500", async () => {
    const infer = `${url}/v2/models/${MODEL}/infer`;
    const tensor = (over: object): string =>
      JSON.stringify({
        inputs: [{ name: "input", datatype: "FP32", shape: [1, 28, 28, 1], data: new Array(784).fill(0), ...over }],
      });
    const many = `{"inputs":[${new Array(200_000).fill('{"name":1}').join(",")}]}`;
    await expectOipError(await fetch(infer, json(many)), 422);
    await expectOipError(await fetch(infer, json(tensor({ shape: new Array(500_000).fill(1) }))), 422);
    await expectOipError(await fetch(infer, json(tensor({ data: new Array(500_000).fill(0.5) }))), 422);
    await expectOipError(await fetch(infer, json(tensor({ data: new Array(784).fill("x".repeat(100)) }))), 422);
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const nested = await expectOipError(
      await fetch(infer, json(tensor({ data: ["DEEP", ...new Array<number>(783).fill(0)] }).replace('"DEEP"', deep))),
      400,
    );
    expect(nested).toMatch(/nests deeper than the shape's 4 dimensions/);
    const bad = await expectOipError(
      await fetch(
        infer,
        json(JSON.stringify({ inputs: [{ name: 1, shape: "x", datatype: [], data: 3 }], outputs: 7 })),
      ),
      400,
    );
    expect(bad).toMatch(/\(and \d+ more issues\)$/);
    await stillServes();
  });

  it("counts multipart text fields towards the body limit", async () => {
    const fields = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`note${i}`, "x".repeat(1024 * 1024)]));
    await expectError(await fetch(`${url}/predict`, form([png], fields)), 413, "payload_too_large");
    expect((await fetch(`${url}/predict`, form([png], { caption: "a small note" }))).status).toBe(200);
  });

  it("refuses a request whose images overflow the decode queue with 503 and Retry-After", async () => {
    const res = await fetch(`${tight.url}/predict`, form([png, png, png, png]));
    expect(res.headers.get("retry-after")).toBe("1");
    await expectError(res, 503, "overloaded");
    expect((await fetch(`${tight.url}/predict`, form([png, png, png]))).status).toBe(200);
  });

  it("holds a request's images to the per-request pixel budget", async () => {
    const big = await sharp(Buffer.alloc(28 * 84, 7), { raw: { width: 28, height: 84, channels: 1 } })
      .png()
      .toBuffer();
    const over = await expectError(await fetch(`${tight.url}/predict`, form([big, big, png])), 413, "too_many_pixels");
    expect(over.error.message).toBe("the 3 images declare 5488 pixels together; at most 3920 per request");
    expect((await fetch(`${tight.url}/predict`, form([big, png]))).status).toBe(200);
  });
});
