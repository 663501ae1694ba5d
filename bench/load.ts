// A typed wrapper around autocannon's programmatic API (autocannon 9 ships no TypeScript types), used by
// bench/serve.ts: multipart bodies built from real images, closed-loop or rate-limited load, and latency
// percentiles computed from every response's own timing (autocannon's histogram rounds to whole milliseconds).
import type { EventEmitter } from "node:events";
import { Agent, request } from "node:http";
import { createRequire } from "node:module";
import { basename } from "node:path";

export interface AutocannonRequest {
  method: "POST";
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
  overallRate?: number;
  timeout?: number;
}

interface AutocannonHistogram {
  average: number;
  p50: number;
  p99: number;
  total: number;
}

interface AutocannonResult {
  duration: number;
  requests: AutocannonHistogram;
  latency: AutocannonHistogram;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
}

type AutocannonInstance = EventEmitter & PromiseLike<AutocannonResult>;

const autocannon = createRequire(import.meta.url)("autocannon") as (options: AutocannonOptions) => AutocannonInstance;

/** One `POST /predict` with a single `file` part per image: what a browser form or `curl -F file=@x.png` sends. */
export function multipartRequests(images: { path: string; bytes: Uint8Array }[]): AutocannonRequest[] {
  return images.map(({ path, bytes }, i) => {
    const boundary = `----sightline-bench-${i.toString().padStart(4, "0")}`;
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${basename(path)}"\r\nContent-Type: image/png\r\n\r\n`;
    const body = Buffer.concat([Buffer.from(head), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    return { method: "POST", path: "/predict", headers: { "content-type": `multipart/form-data; boundary=${boundary}` }, body };
  });
}

export interface LoadOptions {
  url: string;
  requests: AutocannonRequest[];
  connections: number;
  seconds: number;
  /** Requests per second over all connections (autocannon `overallRate`); closed loop without it. */
  rate?: number;
}

export interface LoadResult {
  /** Completed requests per second. */
  rps: number;
  completed: number;
  seconds: number;
  /** Latency percentiles of the 2xx responses, in milliseconds. */
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    requests: options.requests,
    timeout: 10,
    ...(options.rate !== undefined ? { overallRate: options.rate } : {}),
  });
  const latencies: number[] = [];
  instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]));
  const completed = result.requests.total;
  return {
    rps: completed / result.duration,
    completed,
    seconds: result.duration,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? Number.NaN,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
  };
}

/**
 * Open-loop load at a constant rate: request i is due at start + i / rate whatever happened to earlier ones, and its
 * latency counts from when it was due (so a stall in the server shows up in every request it delays). autocannon's
 * `overallRate` is a per-connection quota per second instead: each second's requests go back to back, at full
 * concurrency, then the connections wait for the next second.
 */
export async function runPaced(options: { url: string; requests: AutocannonRequest[]; rate: number; seconds: number; maxSockets?: number }): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64 });
  const target = new URL("/predict", options.url);
  const total = Math.round(options.rate * options.seconds);
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  const send = (req: AutocannonRequest, due: number): Promise<void> =>
    new Promise((resolve) => {
      const r = request(
        { host: target.hostname, port: target.port, path: req.path, method: req.method, agent, headers: { ...req.headers, "content-length": String(req.body.length) }, timeout: 10_000 },
        (res) => {
          res.resume();
          res.once("end", () => {
            const status = res.statusCode ?? 0;
            statusCodes[status] = (statusCodes[status] ?? 0) + 1;
            if (status >= 200 && status < 300) latencies.push(performance.now() - due);
            else non2xx++;
            resolve();
          });
        },
      );
      r.once("timeout", () => {
        timeouts++;
        r.destroy(new Error("timeout"));
      });
      r.once("error", () => {
        errors++;
        resolve();
      });
      r.end(req.body);
    });
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  let next = 0;
  while (next < total) {
    const now = performance.now();
    while (next < total && started + (next * 1000) / options.rate <= now) {
      inFlight.push(send(options.requests[next % options.requests.length]!, started + (next * 1000) / options.rate));
      next++;
    }
    const wait = started + (next * 1000) / options.rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / seconds,
    completed: latencies.length,
    seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? Number.NaN,
    non2xx,
    errors,
    timeouts,
    statusCodes,
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
