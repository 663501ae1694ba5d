import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:http";
import express, { type ErrorRequestHandler } from "express";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DecodeSlots } from "../../serving/decode-slots.ts";
import { ApiError, MAX_MESSAGE_CHARS } from "../../serving/errors.ts";
import { readImages } from "../../serving/inputs.ts";

const MAX_BODY = 1024 * 1024;
const MAX_IMAGES = 64;

/** readImages behind the same body parsers as POST /predict, on loopback. */
function inputsApp(): express.Express {
  const app = express();
  app.post(
    "/images",
    express.raw({ type: ["image/png", "image/jpeg", "image/webp", "application/octet-stream"], limit: MAX_BODY }),
    express.json({ limit: Math.ceil((MAX_BODY * 4) / 3) + 1024, strict: true }),
    async (req, res) => {
      const images = await readImages(req, { maxBodyBytes: MAX_BODY, maxImages: MAX_IMAGES });
      res.json({ sizes: images.map((i) => i.length) });
    },
  );
  const handler: ErrorRequestHandler = (err: unknown, _req, res, _next) => {
    const status = err instanceof ApiError ? err.status : 500;
    res
      .status(status)
      .json({ error: { code: err instanceof ApiError ? err.code : "internal", message: (err as Error).message } });
  };
  app.use(handler);
  return app;
}

describe("request inputs are bounded by counts and sizes before their elements", () => {
  let server: Server;
  let url: string;
  let png: Buffer;
  beforeAll(async () => {
    png = await sharp(Buffer.alloc(28 * 28, 9), { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    server = createServer(inputsApp());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/images`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const postJson = (body: string) =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });

  it("refuses half a million instances by their count, with a short message", async () => {
    const res = await postJson(`{"instances":[${new Array(500_000).fill("1").join(",")}]}`);
    const text = await res.text();
    expect(res.status).toBe(413);
    expect(text.length).toBeLessThan(1024);
    expect(JSON.parse(text)).toEqual({
      error: { code: "payload_too_large", message: "500000 instances; at most 64 per request" },
    });
  });

  it("lists a few of the element issues and counts the rest", async () => {
    const res = await postJson(
      JSON.stringify({ instances: new Array(MAX_IMAGES).fill({ b64: 1, extra: "x".repeat(1000) }) }),
    );
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBe(400);
    expect(body.error.message.length).toBeLessThan(600);
    expect(body.error.message).toMatch(/^JSON body must be \{"instances":\[\{"b64":"…"\}\]\}: .* at \[0\]/);
    expect(body.error.message).toMatch(/\(and \d+ more issues\)$/);
  });

  it("still reads valid instances and refuses malformed bodies", async () => {
    const ok = await postJson(
      JSON.stringify({ instances: [{ b64: png.toString("base64") }, { b64: png.toString("base64") }] }),
    );
    expect(await ok.json()).toEqual({ sizes: [png.length, png.length] });
    for (const bad of ['{"instances":{}}', "[1]", '{"instances":[]}']) {
      const res = await postJson(bad);
      expect(res.status, bad).toBe(400);
    }
  });

  it("counts multipart text fields towards the body limit (16 × 1 MB of fields next to one small file)", async () => {
    const form = new FormData();
    for (let i = 0; i < 16; i++) form.append(`note${i}`, "x".repeat(MAX_BODY));
    form.append("file", new Blob([png], { type: "image/png" }), "a.png");
    const res = await fetch(url, { method: "POST", body: form });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /multipart field "note0" exceeds/,
    );
  });

  it("counts many small fields together with the files", async () => {
    const form = new FormData();
    for (let i = 0; i < 10; i++) form.append(`f${i}`, "y".repeat(8 * 1024));
    form.append("file", new Blob([Buffer.alloc(MAX_BODY - 40 * 1024, 1)], { type: "image/png" }), "big.png");
    const res = await fetch(url, { method: "POST", body: form });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /exceed 1048576 bytes together/,
    );
  });

  it("still accepts files with a few small fields", async () => {
    const form = new FormData();
    form.append("caption", "a shirt");
    form.append("file", new Blob([png], { type: "image/png" }), "a.png");
    const res = await fetch(url, { method: "POST", body: form });
    expect(await res.json()).toEqual({ sizes: [png.length] });
  });
});

describe("a multipart request, once read", () => {
  it("leaves none of our listeners on its finished parser (they hold the request, keeping it from young-generation GC)", async () => {
    const png = await sharp(Buffer.alloc(28 * 28, 9), { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toBuffer();
    const app = express();
    app.post("/images", async (req, res) => {
      // The multipart parser is what the request is piped into.
      let parser: NodeJS.EventEmitter | undefined;
      const pipe = req.pipe.bind(req);
      req.pipe = <T extends NodeJS.WritableStream>(dest: T): T => ((parser = dest), pipe(dest));
      const images = await readImages(req, { maxBodyBytes: MAX_BODY, maxImages: MAX_IMAGES });
      res.json({ images: images.length, listening: parser?.eventNames().map(String) });
    });
    const server = createServer(app);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const form = new FormData();
      form.append("file", new Blob([png], { type: "image/png" }), "a.png");
      form.append("file", new Blob([png], { type: "image/png" }), "b.png");
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/images`, {
        method: "POST",
        body: form,
      });
      expect(await res.json()).toEqual({ images: 2, listening: [] });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe("decode slots", () => {
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    return { open, opened };
  };

  it("runs at most maxActive decodes at once and queues up to maxQueued images, refusing a request that does not fit whole", async () => {
    const slots = new DecodeSlots({ maxActive: 2, maxQueued: 3 });
    const g = gate();
    let running = 0;
    let peak = 0;
    const decode = async (i: number): Promise<number> => {
      running++;
      peak = Math.max(peak, running);
      await g.opened;
      running--;
      return i * 10;
    };
    const first = slots.run(4, decode);
    // 2 run, 2 wait: one more image fits, two do not.
    const refused = await slots.run(2, decode).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ code: "overloaded", status: 503, headers: { "retry-after": "1" } });
    const second = slots.run(1, decode);
    expect(slots.queued).toBe(3);
    g.open();
    expect(await first).toEqual([0, 10, 20, 30]);
    expect(await second).toEqual([0]);
    expect(peak).toBe(2);
    expect(slots.active + slots.queued).toBe(0);
  });

  it("skips the queued decodes of a request whose client has had its answer", async () => {
    const slots = new DecodeSlots({ maxActive: 1, maxQueued: 10 });
    const g = gate();
    const decoded: number[] = [];
    const controller = new AbortController();
    const blocker = slots.run(1, async () => g.opened);
    const late = slots.run(3, async (i) => void decoded.push(i), controller.signal);
    controller.abort();
    g.open();
    await blocker;
    await expect(late).rejects.toMatchObject({ code: "timeout" });
    expect(decoded).toEqual([]);
  });
});

describe("error messages", () => {
  it("are capped whatever they quote", () => {
    const err = new ApiError("bad_request", `model ${"m".repeat(100_000)} is not served here`);
    expect(err.message.length).toBeLessThan(MAX_MESSAGE_CHARS + 64);
    expect(err.message).toMatch(/… \(\d+ more characters\)$/);
  });
});
