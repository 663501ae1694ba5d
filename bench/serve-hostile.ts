// Benchmark: the inference API under hostile requests. A real model (the demo's fmnist@production, trained once
// into the cached home bench:serve uses) served by `sightline serve` in a child process on 127.0.0.1 with one
// worker. For each kind of hostile request, this process sends it in a loop while probing GET /health every 20 ms
// and sampling the server's RSS; it prints the hostile request's status, answer size and latency, /health's
// latency under it against an idle baseline measured in the same run (the ratio is the point: a liveness probe
// with a 2 s timeout must keep answering), and the server's RSS growth. Ends with one JSON summary line.
//
//   node bench/serve-hostile.ts [--seconds 4] [--svg-side 4000] [--only SUBSTRING-OF-A-NAME]
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { createLogger } from "../core/telemetry/logger.ts";
import { productionVersion } from "./serve-kit.ts";
import { SIGHTLINE_BENCH_HOME } from "../core/config/settings/tools.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "4" },
    "svg-side": { type: "string", default: "4000" },
    only: { type: "string" },
  },
});
const SECONDS = Number(values.seconds);
const SVG_SIDE = Number(values["svg-side"]);
const MODEL = "fmnist";
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CACHE = SIGHTLINE_BENCH_HOME.read() ?? join(tmpdir(), "sightline-bench-serve-home");
const log = createLogger({ component: "bench" }, { level: "WARNING" });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

if ((await productionVersion(CACHE, MODEL, log)) === undefined) {
  console.log(`model        training the demo model into ${CACHE} (once; later runs reuse it) …`);
  const demo = spawnSync(process.execPath, [...process.execArgv, join(ROOT, "cli/sightline.ts"), "demo"], {
    cwd: ROOT,
    env: { ...process.env, SIGHTLINE_HOME: CACHE },
    encoding: "utf8",
  });
  if (demo.status !== 0 || (await productionVersion(CACHE, MODEL, log)) === undefined) {
    console.error(demo.stdout, demo.stderr);
    process.exit(1);
  }
}

// ---- hostile requests ------------------------------------------------------------------------------------------

type Hostile = { name: string; path: string; init: () => RequestInit };
const json = (body: string): RequestInit => ({ method: "POST", headers: { "content-type": "application/json" }, body });
const multipart = (parts: [string, Blob | string][]): RequestInit => {
  const form = new FormData();
  for (const [name, value] of parts) form.append(name, value);
  return { method: "POST", body: form };
};

const svg = Buffer.from(
  `<svg xmlns="http://www.w3.org/2000/svg" width="${SVG_SIDE}" height="${SVG_SIDE}"><filter id="f"><feTurbulence baseFrequency="0.9" numOctaves="10"/><feGaussianBlur stdDeviation="80"/></filter><rect width="100%" height="100%" filter="url(#f)"/></svg>`,
);
const instances = `{"instances":[${new Array(500_000).fill("1").join(",")}]}`;
const oipInputs = `{"inputs":[${new Array(200_000).fill('{"name":1}').join(",")}]}`;
const deep = JSON.stringify({
  inputs: [
    { name: "input", datatype: "FP32", shape: [1, 28, 28, 1], data: ["DEEP", ...new Array<number>(783).fill(0)] },
  ],
}).replace('"DEEP"', `${"[".repeat(100_000)}${"]".repeat(100_000)}`);
// A flat 4096² PNG is a few tens of KB on the wire and 16 M pixels decoded.
const big = await sharp({ create: { width: 4096, height: 4096, channels: 3, background: { r: 90, g: 120, b: 60 } } })
  .png()
  .toBuffer();
const sixteenBig = (): RequestInit =>
  multipart(
    Array.from({ length: 16 }, (_, i): [string, Blob] => ["file", new File([big], `${i}.png`, { type: "image/png" })]),
  );
const fourBig = (): RequestInit =>
  multipart(
    Array.from({ length: 4 }, (_, i): [string, Blob] => ["file", new File([big], `${i}.png`, { type: "image/png" })]),
  );
const fields = (): RequestInit =>
  multipart([
    ...Array.from({ length: 16 }, (_, i): [string, string] => [`note${i}`, "x".repeat(1024 * 1024)]),
    ["file", new File([big], "a.png", { type: "image/png" })],
  ]);

const HOSTILE: Hostile[] = [
  {
    name: `500k instances JSON (${(instances.length / 1e6).toFixed(1)} MB)`,
    path: "/predict",
    init: () => json(instances),
  },
  { name: "OIP 200k inputs", path: `/v2/models/${MODEL}/infer`, init: () => json(oipInputs) },
  { name: "OIP data nested 100k deep", path: `/v2/models/${MODEL}/infer`, init: () => json(deep) },
  { name: "16 × 4096² PNG in one request", path: "/predict", init: sixteenBig },
  { name: "16 × 1 MB multipart fields", path: "/predict", init: fields },
  { name: "4 × 4096² PNG (decoded, features logged)", path: "/predict", init: fourBig },
  // Last: before the format allow-list, its rendering outlived the request by a minute and skewed what followed.
  {
    name: `SVG ${SVG_SIDE}² filter as image/png (${svg.length} B)`,
    path: "/predict",
    init: () => ({ method: "POST", headers: { "content-type": "image/png" }, body: svg }),
  },
];

// ---- the server ------------------------------------------------------------------------------------------------

const home = await mkdtemp(join(tmpdir(), "sightline-bench-hostile-"));
let server: ChildProcess | undefined;
process.on("exit", () => void server?.kill("SIGKILL"));

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

async function healthProbe(
  url: string,
  until: () => boolean,
  pid: number,
): Promise<{ latencies: number[]; peakRss: number }> {
  const latencies: number[] = [];
  let peakRss = rssMb(pid);
  while (!until()) {
    const started = performance.now();
    const res = await fetch(`${url}/health`);
    await res.arrayBuffer();
    latencies.push(performance.now() - started);
    peakRss = Math.max(peakRss, rssMb(pid));
    await sleep(20);
  }
  return { latencies, peakRss };
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

try {
  await cp(CACHE, home, { recursive: true });
  server = spawn(
    process.execPath,
    [...process.execArgv, join(ROOT, "cli/sightline.ts"), "serve", "--port", "0", "--workers", "1"],
    {
      cwd: ROOT,
      env: { ...process.env, SIGHTLINE_HOME: home, SIGHTLINE_LOG_LEVEL: "ERROR", SIGHTLINE_PREDICTION_LOG_RATE: "1" },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const url = await new Promise<string>((ok, fail) => {
    let out = "";
    server!.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /at (http:\/\/[\d.:]+)/.exec(out);
      if (m) ok(m[1]!);
    });
    server!.once("exit", (code) => fail(new Error(`server exited ${code}: ${out}`)));
  });
  for (let i = 0; i < 200 && !(await fetch(`${url}/ready`)).ok; i++) await sleep(50);
  const pid = server.pid!;

  let stopIdle = false;
  setTimeout(() => (stopIdle = true), 1000);
  const idle = await healthProbe(url, () => stopIdle, pid);
  const idleP50 = quantile(idle.latencies, 0.5);
  const idleMax = Math.max(...idle.latencies);
  console.log(`idle         /health p50 ${fmt(idleP50, 1)} ms, max ${fmt(idleMax, 1)} ms; RSS ${fmt(idle.peakRss)} MB`);

  const summary: Record<string, unknown>[] = [];
  for (const h of HOSTILE.filter((k) => values.only === undefined || k.name.includes(values.only))) {
    const base = rssMb(pid);
    let done = false;
    const deadline = performance.now() + SECONDS * 1000;
    const attacker = (async () => {
      const results: { status: number; ms: number; bytes: number }[] = [];
      do {
        const started = performance.now();
        try {
          const res = await fetch(`${url}${h.path}`, h.init());
          const bytes = (await res.arrayBuffer()).byteLength;
          results.push({ status: res.status, ms: performance.now() - started, bytes });
        } catch {
          results.push({ status: 0, ms: performance.now() - started, bytes: 0 });
        }
      } while (performance.now() < deadline);
      done = true;
      return results;
    })();
    const probe = await healthProbe(url, () => done, pid);
    const results = await attacker;
    // Let the server settle (work that outlives its request shows here) before the next kind.
    await sleep(500);
    const health = { p50: quantile(probe.latencies, 0.5), max: Math.max(...probe.latencies) };
    const row = {
      name: h.name,
      status: [...new Set(results.map((r) => r.status))].join("/"),
      requests: results.length,
      requestMs: quantile(
        results.map((r) => r.ms),
        0.5,
      ),
      bodyBytes: Math.max(...results.map((r) => r.bytes)),
      healthP50Ms: health.p50,
      healthMaxMs: health.max,
      healthMaxRatio: health.max / idleMax,
      rssGrowthMb: probe.peakRss - base,
    };
    summary.push(row);
    console.log(
      `${h.name.padEnd(44)} → ${row.status} in ${fmt(row.requestMs)} ms (${row.requests}×), answer ${row.bodyBytes} B; /health p50 ${fmt(health.p50, 1)} ms, max ${fmt(health.max, 1)} ms (${fmt(row.healthMaxRatio, 1)}× idle max); RSS +${fmt(row.rssGrowthMb)} MB`,
    );
  }
  console.log(JSON.stringify({ bench: "serve-hostile", idle: { p50: idleP50, max: idleMax }, results: summary }));
} finally {
  server?.kill("SIGTERM");
  await new Promise((r) => (server && server.exitCode === null ? server.once("exit", r) : r(undefined)));
  await rm(home, { recursive: true, force: true });
}
