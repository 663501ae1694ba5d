// The console's Predict route on real parts: a real inference API on 127.0.0.1 serving a real ONNX model (the tiny
// one) over a real SQLite state, real PNGs (the bundled Fashion-MNIST sample), the console's Express app in front.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PredictionRecorded, PredictResult, PredictSetup } from "../../console/api/predict-schemas.ts";
import { ApiError, LineageGraph } from "../../console/api/schemas.ts";
import { CSRF_HEADER, Session } from "../../console/api/write-schemas.ts";
import { createConsoleApp, type ConsoleOptions } from "../../console/server/app.ts";
import { localAuth } from "../../console/server/identity.ts";
import { predictSettings } from "../../console/server/start.ts";
import { servingUrl } from "../../cli/commands/ui.ts";
import { catchUpLineage } from "../../core/lineage/emit.ts";
import { parsePolicy } from "../../core/registry/policy.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig, type ServeAuth } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { SAMPLE } from "../support/datasets.ts";
import { publishTrained } from "../support/predict-world.ts";
import { greyPng, tinyWorld, TINY_CLASSES, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

const quiet = createLogger({}, { level: "CRITICAL" });
const TOKEN = "predict-token-0123456789";
const KEY = "console-key-0123456789";
const MAX = 64 * 1024;

const listen = (app: (req: never, res: never) => void): Promise<Server> =>
  new Promise((resolve) => {
    const s = createServer(app as never).listen(0, "127.0.0.1", () => resolve(s));
  });
const urlOf = (s: Server): string => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
const close = (s: Server | undefined): Promise<void> =>
  new Promise((r) => (s ? (s.closeAllConnections(), s.close(() => r())) : r()));

/** A real Fashion-MNIST test image from the bundled sample. */
const sampleImage = (cls: string): Buffer => {
  const dir = join(SAMPLE, "test", cls);
  return readFileSync(join(dir, readdirSync(dir).sort()[0]!));
};

const form = (bytes: Uint8Array, type: string, name = "image.png", field = "file"): FormData => {
  const f = new FormData();
  f.append(field, new Blob([new Uint8Array(bytes)], { type }), name);
  return f;
};

const errorOf = async (res: Response) => ApiError.parse(await res.json()).error;

describe("the console's Predict route, in front of a real inference API", { timeout: 120_000 }, () => {
  let world: TinyWorld;
  let serving: RunningServer;
  let keyed: RunningServer;
  const consoles: Server[] = [];

  /** A console app over the world's stores, listening on loopback; `predict` as the settings would give it. */
  async function consoleAt(predict: ConsoleOptions["predict"], signIn = true): Promise<string> {
    const app = createConsoleApp({
      meta: world.rt.meta,
      blobs: world.rt.blobs,
      log: quiet,
      allowedHosts: ["127.0.0.1"],
      beforeLineage: () => catchUpLineage(world.rt, {}),
      ...(predict ? { predict } : {}),
      ...(signIn
        ? {
            auth: localAuth(TOKEN, "alice@laptop"),
            writes: { meta: world.rt.meta, bus: world.rt.bus, policy: parsePolicy("absolute: { accuracy: 0.5 }\n") },
          }
        : {}),
    });
    const s = await listen(app);
    consoles.push(s);
    return urlOf(s);
  }

  const serve = (auth?: ServeAuth) =>
    startServer(
      world.rt,
      loadServingConfig(
        {},
        {
          host: "127.0.0.1",
          port: 0,
          workers: 1,
          model: { name: TINY_MODEL, alias: "production" },
          ...(auth ? { auth } : {}),
          predictionLog: { sampleRate: 1, embeddingRate: 0, bufferSize: 1000, flushMs: 100, maxRecordsPerEvent: 100 },
        },
      ),
      quiet,
      { defaultMetrics: false },
    );

  let base: string;
  beforeAll(async () => {
    world = await tinyWorld();
    await publishTrained(world.rt, world.version);
    serving = await serve();
    keyed = await serve({ mode: "api-key", keyHashes: [createHash("sha256").update(KEY).digest("hex")] });
    base = await consoleAt({ servingUrl: serving.url, maxBytes: MAX, timeoutMs: 5000 });
  });
  afterAll(async () => {
    for (const s of consoles) await close(s);
    await serving?.shutdown();
    await keyed?.shutdown();
    await world?.close();
  });

  const post = (url: string, body: FormData | string, headers: Record<string, string> = { [CSRF_HEADER]: "page" }) =>
    fetch(`${url}/api/predict`, { method: "POST", headers, body });

  it("says where it forwards to and its limit", async () => {
    expect(PredictSetup.parse(await (await fetch(`${base}/api/predict`)).json())).toEqual({
      servingUrl: serving.url,
      maxBytes: MAX,
    });
  });

  it("forwards a real image and answers the model's prediction, each score named by the card's classes, then its lineage", async () => {
    // The tiny model calls bright images "light" and dark ones (a sandal on black) "dark".
    const dark = PredictResult.parse(await (await post(base, form(sampleImage("sandal"), "image/png"))).json());
    const light = await post(base, form(await greyPng(230), "image/png", "grey.png"));
    expect(light.status).toBe(200);
    const r = PredictResult.parse(await light.json());
    expect(r).toMatchObject({ label: "light", model: { name: TINY_MODEL, version: 1 }, servingUrl: serving.url });
    expect(r.confidence).toBeGreaterThan(0.5);
    expect(r.scores.map((s) => s.label)).toEqual(["light", "dark"]);
    expect(r.scores[0]!.score).toBe(r.confidence);
    expect(r.scores.reduce((a, s) => a + s.score, 0)).toBeCloseTo(1, 5);
    expect(dark.label).toBe("dark");
    expect(new Set(dark.scores.map((s) => s.label))).toEqual(new Set(TINY_CLASSES));
    expect(r.requestId).not.toBe(dark.requestId);
    // Serving logs it in a batch; the console records what the bus holds and says when lineage has it.
    const recorded = PredictionRecorded.parse(
      await (await fetch(`${base}/api/predict/lineage?id=${encodeURIComponent(r.requestId)}`)).json(),
    );
    expect(recorded).toEqual({ id: r.requestId, recorded: true });
    const g = LineageGraph.parse(
      await (await fetch(`${base}/api/lineage/search?q=${encodeURIComponent(r.requestId)}`)).json(),
    );
    expect(g.found).toBe("prediction");
    expect(g.nodes.map((n) => n.kind)).toEqual(expect.arrayContaining(["prediction", "model", "run", "dataset"]));
    expect(g.nodes.find((n) => n.kind === "prediction")!.label).toMatch(/^prediction light/);
  });

  it("an id lineage never saw is reported as not recorded once the wait is over", async () => {
    const app = await consoleAt({ servingUrl: serving.url, maxBytes: MAX, timeoutMs: 5000 });
    const started = Date.now();
    const r = PredictionRecorded.parse(await (await fetch(`${app}/api/predict/lineage?id=never-served`)).json());
    expect(r.recorded).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
    expect((await fetch(`${app}/api/predict/lineage`)).status).toBe(400);
  });

  it("refuses a file that is not an image (415) before forwarding, and passes serving's own refusals through", async () => {
    const text = await post(base, form(Buffer.from("not an image\n"), "text/plain", "notes.txt"));
    expect(text.status).toBe(415);
    expect(await errorOf(text)).toEqual({
      code: "not_an_image",
      message: "notes.txt is not an image (text/plain); choose a PNG, JPEG or WebP file",
    });
    // A GIF is an image, but not one serving decodes: its 415 and message reach the page.
    const gif = await sharp(await greyPng(100))
      .gif()
      .toBuffer();
    const refused = await post(base, form(gif, "image/gif", "grey.gif"));
    expect(refused.status).toBe(415);
    expect((await errorOf(refused)).message).toMatch(/^the serving API answered 415: .*GIF images are not accepted/);
    // Bytes that claim to be a PNG and are not: serving's 400.
    const broken = await post(base, form(Buffer.from("\x89PNG\r\n\x1a\n garbage"), "image/png"));
    expect(broken.status).toBe(400);
    expect((await errorOf(broken)).message).toMatch(/^the serving API answered 400: the image is not a readable image/);
    const wrongField = await post(base, form(await greyPng(10), "image/png", "a.png", "image"));
    expect(wrongField.status).toBe(400);
  });

  it("refuses an image over the limit with 413, by its declared length and while reading it", async () => {
    const noise = await sharp(Buffer.from(Array.from({ length: 200 * 200 * 3 }, (_, i) => (i * 7919) % 251)), {
      raw: { width: 200, height: 200, channels: 3 },
    })
      .png({ compressionLevel: 0 })
      .toBuffer();
    expect(noise.length).toBeGreaterThan(MAX);
    const big = await post(base, form(noise, "image/png", "noise.png"));
    expect(big.status).toBe(413);
    expect((await errorOf(big)).message).toBe(
      "the image is larger than 64 KB, the console's limit (SIGHTLINE_CONSOLE_PREDICT_MAX_BYTES)",
    );
    // Just over: the declared length passes, the part itself does not.
    const over = Buffer.concat([await greyPng(10), Buffer.alloc(MAX)]);
    const res = await post(base, form(over, "image/png"));
    expect(res.status).toBe(413);
    expect((await errorOf(res)).code).toBe("image_too_large");
  });

  it("says the serving API is unreachable at its URL (503) when it is down, and times out one that hangs (504)", async () => {
    const gone = await listen(() => undefined);
    const downUrl = urlOf(gone);
    await close(gone);
    // Writes off (no sign-in at all): predict is still served, it is not a write.
    const down = await consoleAt({ servingUrl: downUrl, maxBytes: MAX, timeoutMs: 5000 }, false);
    const res = await post(down, form(await greyPng(200), "image/png"));
    expect(res.status).toBe(503);
    expect(await errorOf(res)).toEqual({
      code: "serving_unreachable",
      message: `serving API unreachable at ${downUrl} (ECONNREFUSED): is it running?`,
    });
    const hung = await listen(() => undefined);
    consoles.push(hung);
    const slow = await consoleAt({ servingUrl: urlOf(hung), maxBytes: MAX, timeoutMs: 300 }, false);
    const started = Date.now();
    const late = await post(slow, form(await greyPng(200), "image/png"));
    expect(late.status).toBe(504);
    expect((await errorOf(late)).message).toBe(`the serving API at ${urlOf(hung)} did not answer within 0.3 s`);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("without a serving URL: says so and how to set it", async () => {
    const none = await consoleAt(undefined, false);
    expect(PredictSetup.parse(await (await fetch(`${none}/api/predict`)).json()).servingUrl).toBeNull();
    const res = await post(none, form(await greyPng(200), "image/png"));
    expect(res.status).toBe(503);
    expect(await errorOf(res)).toMatchObject({
      code: "serving_not_configured",
      message: expect.stringContaining("sightline ui --serving-url http://127.0.0.1:8080"),
    });
  });

  it("keeps the serving API's key on the server: without it serving refuses, with it the console gets its answer", async () => {
    const without = await consoleAt({ servingUrl: keyed.url, maxBytes: MAX, timeoutMs: 5000 }, false);
    const refused = await post(without, form(await greyPng(230), "image/png"));
    expect(refused.status).toBe(502);
    expect(await errorOf(refused)).toMatchObject({
      code: "serving_unauthorized",
      message: expect.stringMatching(
        /refused the console's credentials \(401: an API key is required.*SERVING_API_KEY$/,
      ),
    });
    const withKey = await consoleAt({ servingUrl: keyed.url, apiKey: KEY, maxBytes: MAX, timeoutMs: 5000 }, false);
    const ok = await post(withKey, form(await greyPng(230), "image/png"));
    expect(ok.status).toBe(200);
    const text = JSON.stringify(await ok.json());
    expect(text).not.toContain(KEY);
    expect(text).toContain('"label":"light"');
  });

  it("refuses what a page elsewhere could send: no CSRF header, another site, another origin, a header that is not the session's", async () => {
    const png = await greyPng(230);
    // What a cross-site <form enctype=multipart/form-data method=post> sends: no custom header.
    const bare = await post(base, form(png, "image/png"), {});
    expect(bare.status).toBe(403);
    expect((await errorOf(bare)).code).toBe("csrf_missing");
    const site = await post(base, form(png, "image/png"), { [CSRF_HEADER]: "page", "sec-fetch-site": "cross-site" });
    expect(site.status).toBe(403);
    expect((await errorOf(site)).code).toBe("cross_site");
    const origin = await post(base, form(png, "image/png"), { [CSRF_HEADER]: "page", origin: "https://evil.example" });
    expect(origin.status).toBe(403);
    // Signed in, the header must be the session's token, as for the writes.
    const login = await fetch(`${base}/login?token=${TOKEN}`, { redirect: "manual" });
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const session = Session.parse(await (await fetch(`${base}/api/session`, { headers: { cookie } })).json());
    const wrong = await post(base, form(png, "image/png"), { cookie, [CSRF_HEADER]: "page" });
    expect(wrong.status).toBe(403);
    expect((await errorOf(wrong)).code).toBe("csrf_invalid");
    const right = await post(base, form(png, "image/png"), { cookie, [CSRF_HEADER]: session.csrf! });
    expect(right.status).toBe(200);
    // Other methods on it stay refused.
    expect((await fetch(`${base}/api/predict`, { method: "PUT" })).status).toBe(405);
  });
});

describe("the Predict settings", () => {
  it("--serving-url wins over SIGHTLINE_CONSOLE_SERVING_URL; the key, limit and timeout come from the settings", () => {
    const env = {
      SIGHTLINE_CONSOLE_SERVING_URL: "http://serving.internal",
      SIGHTLINE_CONSOLE_SERVING_API_KEY: "k-0123456789",
    };
    expect(predictSettings(env)).toEqual({
      servingUrl: "http://serving.internal",
      apiKey: "k-0123456789",
      maxBytes: 10 * 1024 * 1024,
      timeoutMs: 15_000,
    });
    expect(predictSettings(env, "http://127.0.0.1:8080").servingUrl).toBe("http://127.0.0.1:8080");
    expect(predictSettings({ SIGHTLINE_CONSOLE_SERVING_URL: "" })).not.toHaveProperty("servingUrl");
    expect(() => predictSettings({ SIGHTLINE_CONSOLE_SERVING_URL: "ftp://host" })).toThrow(
      /^SIGHTLINE_CONSOLE_SERVING_URL="ftp:\/\/host"/,
    );
    expect(() =>
      predictSettings({ SIGHTLINE_CONSOLE_SERVING_API_KEY: "", SIGHTLINE_CONSOLE_PREDICT_TIMEOUT_MS: "5" }),
    ).toThrow(/SIGHTLINE_CONSOLE_PREDICT_TIMEOUT_MS/);
    expect(servingUrl("http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080");
    expect(() => servingUrl("127.0.0.1:8080")).toThrow(/expected an http:\/\/ or https:\/\/ URL/);
  });
});
