// A typed wrapper around autocannon's programmatic API (autocannon 9 ships no TypeScript types), used by
// bench/serve.ts: multipart bodies built from real images, closed-loop load, and latency
// percentiles computed from every response's own timing (autocannon's histogram rounds to whole milliseconds).
import type { EventEmitter } from "node:events";
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

/**
 * One `POST /predict` with a single `file` part per image: what a browser form or `curl -F file=@x.png` sends.
 * `type` is the part's Content-Type (default image/png).
 */
export function multipartRequests(images: { path: string; bytes: Uint8Array; type?: string }[]): AutocannonRequest[] {
  return images.map(({ path, bytes, type = "image/png" }, i) => {
    const boundary = `----sightline-bench-${i.toString().padStart(4, "0")}`;
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${basename(path)}"\r\nContent-Type: ${type}\r\n\r\n`;
    const body = Buffer.concat([Buffer.from(head), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    return {
      method: "POST",
      path: "/predict",
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      body,
    };
  });
}

export interface LoadOptions {
  url: string;
  requests: AutocannonRequest[];
  connections: number;
  seconds: number;
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

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
