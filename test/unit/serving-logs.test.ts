// Request and error logs of a real server (loopback, real ONNX model) as Cloud Logging and Error Reporting read
// them: trace fields from traceparent / X-Cloud-Trace-Context, sampled request logs, remoteIp behind proxies.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, REPORTED_ERROR_EVENT } from "../../core/telemetry/logger.ts";
import { loadServingConfig, type ServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { waitFor } from "../support/wait.ts";
import { greyPng, tinyWorld, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

const PROJECT = "log-test-project";
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT = `00-${TRACE}-00f067aa0ba902b7-01`;
type Entry = Record<string, unknown> & { message: string; severity: string; httpRequest?: Record<string, unknown> };

let world: TinyWorld;
const savedProject = process.env.GOOGLE_CLOUD_PROJECT;
beforeAll(async () => {
  process.env.GOOGLE_CLOUD_PROJECT = PROJECT;
  world = await tinyWorld();
});
afterAll(async () => {
  if (savedProject === undefined) delete process.env.GOOGLE_CLOUD_PROJECT;
  else process.env.GOOGLE_CLOUD_PROJECT = savedProject;
  await world?.close();
});

interface Served {
  server: RunningServer;
  entries: Entry[];
  /** The lines about one request, by the id it was answered with. */
  linesOf(requestId: string | null): Entry[];
}

async function serve(overrides: Partial<ServingConfig>): Promise<Served> {
  const entries: Entry[] = [];
  const log = createLogger(
    { component: "serving" },
    { level: "INFO", write: (l) => entries.push(JSON.parse(l) as Entry) },
  );
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
  const server = await startServer(world.rt, config, log, { defaultMetrics: false });
  return { server, entries, linesOf: (id) => entries.filter((e) => e.requestId === id) };
}

/** Waits for the request log (written when the response finishes) of the request answered with `res`. */
async function requestLog(served: Served, res: Response): Promise<Entry> {
  const id = res.headers.get("x-request-id");
  await waitFor(() => served.linesOf(id).some((e) => e.httpRequest), `the request log of ${id}`);
  return served.linesOf(id).find((e) => e.httpRequest)!;
}

describe("serving logs: errors and traces", () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve({ requestLog: { sampleRate: 1, slowMs: 60_000 } });
  });
  afterAll(async () => served?.server.shutdown());

  it("a 500 writes what Error Reporting needs (stack_trace, @type, serviceContext), with the request's trace", async () => {
    const ctx = served.server.context;
    // Not ready (here: draining) is a 503 at WARNING: a probe answered "not now" is no fault for Error Reporting.
    ctx.draining = true;
    try {
      const unready = await fetch(`${served.server.url}/ready`);
      expect(unready.status).toBe(503);
      expect(await requestLog(served, unready)).toMatchObject({
        severity: "WARNING",
        message: "request refused: unavailable",
        httpRequest: { status: 503 },
      });
    } finally {
      ctx.draining = false;
    }
    const original = ctx.metricsText;
    ctx.metricsText = async () => {
      // Logged inside the request's async flow: carries the trace without being handed it.
      ctx.log.warn("collecting metrics");
      throw new Error("registry exploded");
    };
    try {
      const res = await fetch(`${served.server.url}/metrics`, {
        headers: { traceparent: TRACEPARENT, "user-agent": "log-test" },
      });
      expect(res.status).toBe(500);
      const id = res.headers.get("x-request-id");
      await requestLog(served, res);
      const lines = served.linesOf(id);
      const error = lines.find((e) => e.message.startsWith("unhandled error"))!;
      expect(error).toBeDefined();
      expect(error.severity).toBe("ERROR");
      expect(error["@type"]).toBe(REPORTED_ERROR_EVENT);
      expect(error.stack_trace).toMatch(/^Error: registry exploded\n\s+at .*serving-logs\.test\.ts/);
      expect(error.message).toBe("unhandled error: registry exploded");
      expect(error.serviceContext).toMatchObject({
        service: expect.any(String) as string,
        version: expect.any(String) as string,
      });
      expect(error.err).toEqual({ name: "Error", message: "registry exploded" });
      expect(error.context).toMatchObject({
        httpRequest: { method: "GET", url: "/metrics", responseStatusCode: 500, userAgent: "log-test" },
      });
      expect(error).toMatchObject({
        "logging.googleapis.com/trace": `projects/${PROJECT}/traces/${TRACE}`,
        "logging.googleapis.com/spanId": "00f067aa0ba902b7",
        "logging.googleapis.com/trace_sampled": true,
      });
      const inside = lines.find((e) => e.message === "collecting metrics");
      expect(inside).toMatchObject({ severity: "WARNING", "logging.googleapis.com/spanId": "00f067aa0ba902b7" });
      const request = lines.find((e) => e.httpRequest)!;
      expect(request).toMatchObject({
        severity: "ERROR",
        message: "request failed",
        httpRequest: { status: 500, requestMethod: "GET", requestUrl: "/metrics" },
      });
      // The request log is no second error event.
      expect(request).not.toHaveProperty("stack_trace");
      expect(request).not.toHaveProperty("@type");
    } finally {
      ctx.metricsText = original;
    }
  });

  it("a 200 writes an INFO request log tied to the traceparent's trace, span (hex) and sampling", async () => {
    const png = await greyPng(220);
    const res = await fetch(`${served.server.url}/predict`, {
      method: "POST",
      headers: {
        "content-type": "image/png",
        traceparent: `00-${TRACE}-b7ad6b7169203331-00`,
        "x-cloud-trace-context": "105445aa7843bc8bf206b12000100000/1;o=1",
      },
      body: png,
    });
    expect(res.status).toBe(200);
    const entry = await requestLog(served, res);
    expect(entry).toMatchObject({
      severity: "INFO",
      message: "request",
      "logging.googleapis.com/trace": `projects/${PROJECT}/traces/${TRACE}`,
      "logging.googleapis.com/spanId": "b7ad6b7169203331",
      "logging.googleapis.com/trace_sampled": false,
      httpRequest: {
        requestMethod: "POST",
        requestUrl: "/predict",
        status: 200,
        requestSize: String(png.length),
        remoteIp: "127.0.0.1",
      },
    });
    expect(entry.httpRequest!.latency).toMatch(/^\d+\.\d{6}s$/);
    expect(Number(entry.httpRequest!.responseSize)).toBeGreaterThan(0);
  });

  it("takes X-Cloud-Trace-Context alone, its decimal span id in hex", async () => {
    const res = await fetch(`${served.server.url}/health`, {
      headers: { "x-cloud-trace-context": "105445aa7843bc8bf206b12000100000/12345678901234567890;o=1" },
    });
    expect(await requestLog(served, res)).toMatchObject({
      "logging.googleapis.com/trace": `projects/${PROJECT}/traces/105445aa7843bc8bf206b12000100000`,
      "logging.googleapis.com/spanId": "ab54a98ceb1f0ad2",
      "logging.googleapis.com/trace_sampled": true,
    });
  });
});

describe("serving logs: sampling", () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve({ requestLog: { sampleRate: 0, slowMs: 150 } });
  });
  afterAll(async () => served?.server.shutdown());

  it("at rate 0 drops 2xx request logs but keeps 4xx and slow ones", async () => {
    const ok = await fetch(`${served.server.url}/health`);
    expect(ok.status).toBe(200);
    const refused = await fetch(`${served.server.url}/no-such-route`);
    expect(refused.status).toBe(404);
    expect(await requestLog(served, refused)).toMatchObject({
      severity: "INFO",
      message: "request refused",
      httpRequest: { status: 404 },
    });
    const ctx = served.server.context;
    // Not ready (here: draining) is a 503 at WARNING: a probe answered "not now" is no fault for Error Reporting.
    ctx.draining = true;
    try {
      const unready = await fetch(`${served.server.url}/ready`);
      expect(unready.status).toBe(503);
      expect(await requestLog(served, unready)).toMatchObject({
        severity: "WARNING",
        message: "request refused: unavailable",
        httpRequest: { status: 503 },
      });
    } finally {
      ctx.draining = false;
    }
    const original = ctx.metricsText;
    ctx.metricsText = async () => {
      await new Promise((r) => setTimeout(r, 250));
      return original();
    };
    try {
      const slow = await fetch(`${served.server.url}/metrics`);
      expect(slow.status).toBe(200);
      expect(await requestLog(served, slow)).toMatchObject({
        severity: "WARNING",
        message: "slow request",
        httpRequest: { status: 200 },
      });
    } finally {
      ctx.metricsText = original;
    }
    // Finished before the 404 was answered, so its log would be there by now.
    expect(served.linesOf(ok.headers.get("x-request-id"))).toEqual([]);
    expect(served.entries.filter((e) => e.httpRequest).map((e) => e.httpRequest!.status)).toEqual([404, 503, 200]);
  });
});

describe("serving logs: remoteIp behind proxies", () => {
  const hops = [0, 1, 2];
  const servers: Served[] = [];
  beforeAll(async () => {
    for (const n of hops)
      servers.push(await serve({ trustedProxyHops: n, requestLog: { sampleRate: 1, slowMs: 60_000 } }));
  });
  afterAll(async () => Promise.all(servers.map((s) => s.server.shutdown())));

  // A client-written entry, the client as the load balancer saw it, the load balancer itself (Google's external
  // Application Load Balancer appends "<client>,<forwarding rule address>").
  const XFF = "6.6.6.6, 203.0.113.7, 198.51.100.20";

  it("honours X-Forwarded-For only as many hops as configured", async () => {
    const seen: unknown[] = [];
    for (const served of servers) {
      const res = await fetch(`${served.server.url}/health`, { headers: { "x-forwarded-for": XFF } });
      seen.push((await requestLog(served, res)).httpRequest!.remoteIp);
    }
    // 0: the socket's peer (the header is anyone's to write); 1: the last entry; 2: the client the LB saw.
    expect(seen).toEqual(["127.0.0.1", "198.51.100.20", "203.0.113.7"]);
  });

  it("never goes past what the header holds", async () => {
    const res = await fetch(`${servers[2]!.server.url}/health`, { headers: { "x-forwarded-for": "203.0.113.7" } });
    expect((await requestLog(servers[2]!, res)).httpRequest!.remoteIp).toBe("203.0.113.7");
  });
});
