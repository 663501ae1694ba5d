// Load shedding on a real server (loopback, real PNGs through sharp, a real ONNX model): a full batch queue answers
// 503 with Retry-After, and the images of a request that already timed out never reach the model.
import { randomBytes } from "node:crypto";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig, type ServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { greyPng, tinyWorld, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

const quiet = createLogger({}, { level: "CRITICAL" });
let world: TinyWorld;
beforeAll(async () => void (world = await tinyWorld()));
afterAll(async () => world?.close());

function serve(overrides: Partial<ServingConfig>): Promise<RunningServer> {
  const config = loadServingConfig(
    {},
    {
      host: "127.0.0.1",
      port: 0,
      workers: 1,
      model: { name: TINY_MODEL, alias: "production" },
      predictionLog: { sampleRate: 0, embeddingRate: 0, bufferSize: 1, flushMs: 1000, maxRecordsPerEvent: 1 },
      ...overrides,
    },
  );
  return startServer(world.rt, config, quiet, { defaultMetrics: false });
}

const form = (images: Buffer[]): FormData => {
  const body = new FormData();
  for (const [i, bytes] of images.entries()) body.append("file", new Blob([bytes], { type: "image/png" }), `${i}.png`);
  return body;
};

async function metric(server: RunningServer, series: string): Promise<number> {
  const text = await server.context.metrics.registry.metrics();
  return text
    .split("\n")
    .filter((l) => l.startsWith(series))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

async function until(what: string, probe: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("serving load shedding", () => {
  it("answers 503 overloaded with Retry-After when the batch queue is full, and serves again after", async () => {
    const server = await serve({ maxQueuedImages: 8, batch: { maxSize: 1, maxDelayMs: 0 } });
    try {
      const image = await greyPng(30);
      const res = await fetch(`${server.url}/predict`, {
        method: "POST",
        body: form(Array.from({ length: 64 }, () => image)),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(await res.json()).toMatchObject({
        error: { code: "overloaded", message: expect.stringMatching(/queue is full/) },
      });
      // One image runs at once, eight wait, the other 55 are refused.
      expect(await metric(server, 'sightline_batch_dropped_total{reason="full"}')).toBe(55);
      await until("the queue to drain", async () => (await metric(server, "sightline_batch_queue_images")) === 0);
      const ok = await fetch(`${server.url}/predict`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: image,
      });
      expect(ok.status).toBe(200);
    } finally {
      await server.shutdown();
    }
  });

  it("drops the images of a request that timed out before they run", async () => {
    const server = await serve({ requestTimeoutMs: 1, maxBodyBytes: 64 << 20, batch: { maxSize: 4, maxDelayMs: 0 } });
    try {
      // Decoding 64 noisy 256×256 PNGs takes far longer than the 1 ms the request has.
      const noise = await Promise.all(
        Array.from({ length: 64 }, () =>
          sharp(randomBytes(256 * 256), { raw: { width: 256, height: 256, channels: 1 } })
            .png()
            .toBuffer(),
        ),
      );
      const res = await fetch(`${server.url}/predict`, { method: "POST", body: form(noise) });
      expect({ status: res.status, body: await res.json() }).toMatchObject({
        status: 503,
        body: { error: { code: "timeout" } },
      });
      // Each image is skipped in the decode queue or dropped from the batch queue, whichever it reaches after the
      // answer: wait until neither moves any more, then the model must have run none of them.
      let last = -1;
      let still = 0;
      await until("the request's work to settle", async () => {
        const dropped = await metric(server, 'sightline_batch_dropped_total{reason="abandoned"}');
        still = dropped === last && (await metric(server, "sightline_batch_queue_images")) === 0 ? still + 1 : 0;
        last = dropped;
        return still >= 25;
      });
      expect(last).toBeLessThanOrEqual(64);
      expect(await metric(server, "sightline_predictions_total")).toBe(0);
      expect(await metric(server, "sightline_batch_size_count")).toBe(0);
    } finally {
      await server.shutdown();
    }
  });
});
