// The console's API on a large embedded home: the demo state (test/support/console-world.ts: models, promotions,
// a rollback, drift reports, datasets, a job, lineage) plus 10,000 tracked runs, each with a metric stream, in a temp
// SQLite home, served over real HTTP on 127.0.0.1. Each page's answer time (median of --reps requests after one
// warm-up) is printed with its ratio to the 300 ms target; the runs list is also compared with two baselines measured
// in the same run: reading every full record as lists did before summaries (the same filter and sort, in process,
// no HTTP), and reading every summary through its collection (each one schema-checked), which a list now avoids.
//   node bench/console.ts [--runs 10000] [--stream 60] [--reps 5]
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { parseArgs } from "node:util";
import { createConsoleApp } from "../console/server/app.ts";
import { Runs, storable, type RunRecord } from "../core/jobs/run-record.ts";
import { RunSummaries, summaryOf } from "../core/jobs/run-summary.ts";
import type { MetadataStore } from "../core/meta/metadata-store.ts";
import { matchesFilter, parseRunFilter, parseRunOrder, readField } from "../core/runs/filter.ts";
import { summarize } from "../core/runs/queries.ts";
import { createLogger } from "../core/telemetry/logger.ts";
import { seededRandom } from "../core/util/random.ts";
import { consoleWorld, DRIFT_MODEL, MODEL } from "../test/support/console-world.ts";
import { ratioLine } from "./targets.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "10000" },
    stream: { type: "string", default: "60" },
    reps: { type: "string", default: "5" },
  },
});
const RUNS = Number(values.runs);
const STREAM = Number(values.stream);
const REPS = Number(values.reps);
const TARGET_MS = 300;
/** Matches about 1 run in 200: a filter that makes a list read far past its first page. */
const SELECTIVE = 'tags.trigger = "retrain" and metrics.test_accuracy > 0.93';
const SORT = "metrics.test_accuracy desc";
const LATER_PAGE = 40;

const random = seededRandom(11);
const MODELS = ["fashion", "shoes", "bags"];

function run(i: number): RunRecord {
  const started = Date.UTC(2026, 8, 1) + i * 600_000;
  const accuracy = 0.7 + 0.25 * random();
  const status = i % 50 === 0 ? "failed" : "succeeded";
  return {
    runId: `run-bench-${String(i).padStart(6, "0")}`,
    requestId: `req-bench-${i}`,
    model: MODELS[i % MODELS.length]!,
    datasetId: "d".repeat(64),
    trainer: { kind: "builtin", args: {} },
    status,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(started + 300_000).toISOString(),
    // One line per step, as a contract trainer writes them: what makes a full record large.
    metrics: Array.from({ length: STREAM }, (_, s) => ({
      step: s + 1,
      loss: 2 / (s + 2) + random() * 0.01,
      accuracy: accuracy * (1 - 1 / (s + 2)),
      learning_rate: 0.001,
      images_per_second: 900 + random() * 50,
      timestamp: started + s * 5000,
    })),
    invalidMetricLines: 0,
    params: { epochs: 5 + (i % 4), learningRate: [0.001, 0.002, 0.005][i % 3]!, "preprocessing.width": 28, seed: i },
    tags: { trigger: i % 10 === 0 ? "retrain" : "cli", actor: "bench", trainer: "builtin", git_commit: "9f1c2e4" },
    phases: { load: 1.5, train: 280, evaluate: 3, export: 1, register: 0.2 },
    imagesPerSecond: 900 + random() * 50,
    ...(status === "succeeded" ? { version: i + 10, heldOut: { accuracy, macro_f1: accuracy - 0.01 } } : {}),
    heartbeatSeconds: 30,
  };
}

/** The runs as putRun writes them (record and summary in one transaction), 500 per transaction to seed quickly. */
async function seed(meta: MetadataStore): Promise<void> {
  for (let i = 0; i < RUNS; i += 500) {
    const records = Array.from({ length: Math.min(500, RUNS - i) }, (_, k) => storable(run(i + k)));
    await meta.transaction(async (tx) => {
      for (const r of records) {
        Runs.in(tx).set(r.runId, r);
        RunSummaries.in(tx).set(r.runId, summaryOf(r));
      }
    });
  }
}

/** Lists as they read before summaries: every full record, newest first in batches of 2,000, summarized here. */
async function fullRecordsList(meta: MetadataStore, filter?: string, sort?: string): Promise<number> {
  const f = filter ? parseRunFilter(filter) : undefined;
  const order = sort ? parseRunOrder(sort) : undefined;
  const rows = [];
  let bound: string | undefined;
  for (;;) {
    const docs = await Runs.query(meta, {
      ...(bound ? { where: [{ field: "startedAt", op: "<", value: bound }] } : {}),
      orderBy: { field: "startedAt", direction: "desc" },
      limit: 2000,
    });
    for (const d of docs) {
      const s = summarize(d.data);
      if (!f || matchesFilter(f, s)) rows.push(s);
    }
    if (docs.length < 2000) break;
    bound = docs.at(-1)!.data.startedAt;
  }
  if (order) rows.sort((a, b) => Number(readField(b, order.field) ?? -1) - Number(readField(a, order.field) ?? -1));
  return rows.length;
}

async function median(reps: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const world = await consoleWorld();
const t0 = performance.now();
await seed(world.meta);
const seedSeconds = (performance.now() - t0) / 1000;
const app = createConsoleApp({
  meta: world.meta,
  blobs: world.blobs,
  log: createLogger({}, { level: "CRITICAL" }),
  allowedHosts: ["127.0.0.1"],
});
const server = await new Promise<Server>((resolve) => {
  const s = app.listen(0, "127.0.0.1", () => resolve(s));
});
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const get = async (path: string): Promise<unknown> => {
  const res = await fetch(base + path);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
};

try {
  // The cursor of a later page, followed from the first as the console's Next button does.
  let cursor: string | undefined;
  for (let p = 1; p < LATER_PAGE; p++) {
    const page = (await get(`/api/runs?limit=50${cursor ? `&cursor=${cursor}` : ""}`)) as { nextCursor?: string };
    cursor = page.nextCursor;
  }
  const matched = ((await get(`/api/runs?limit=1000&filter=${encodeURIComponent(SELECTIVE)}`)) as { runs: unknown[] })
    .runs.length;
  const q = encodeURIComponent;
  const pages: [string, string][] = [
    ["runs: first page", "/api/runs?limit=50"],
    [`runs: selective filter (${matched} match)`, `/api/runs?limit=50&filter=${q(SELECTIVE)}`],
    [`runs: sorted by ${SORT}`, `/api/runs?limit=50&sort=${q(SORT)}`],
    [`runs: page ${LATER_PAGE}`, `/api/runs?limit=50&cursor=${cursor}`],
    ["run: one in full", `/api/runs/${run(Math.floor(RUNS / 2)).runId}`],
    ["runs: compare three", "/api/runs/compare?ids=run-bench-000010,run-bench-000020,run-bench-000030"],
    ["models", "/api/models"],
    [`model ${MODEL}`, `/api/models/${MODEL}`],
    ["datasets", "/api/datasets"],
    ["dataset", `/api/datasets/${world.dataset.id}`],
    ["jobs", "/api/jobs"],
    [`drift ${DRIFT_MODEL}:${world.drifting.version}`, `/api/drift/${DRIFT_MODEL}/${world.drifting.version}`],
    [`lineage ${MODEL}:2`, `/api/lineage/search?q=${q(`${MODEL}:2`)}`],
  ];
  console.log(`${RUNS} runs of ${STREAM} metric lines each (seeded in ${seedSeconds.toFixed(1)} s), median of ${REPS}`);
  const ms = new Map<string, number>();
  for (const [label, path] of pages) {
    const m = await median(REPS, () => get(path));
    ms.set(label, m);
    console.log(`${label.padEnd(44)} ${m.toFixed(1).padStart(8)} ms`);
    console.log(`  ${ratioLine(TARGET_MS / m, 1, `the ${TARGET_MS} ms target (${TARGET_MS} ms ÷ measured)`)}`);
  }
  // Seconds each: measured once, after the runs above warmed the store's pages.
  const once = async (fn: () => Promise<unknown>): Promise<number> => {
    const start = performance.now();
    await fn();
    return performance.now() - start;
  };
  const fullFilter = await once(() => fullRecordsList(world.meta, SELECTIVE));
  const fullSort = await once(() => fullRecordsList(world.meta, undefined, SORT));
  const bareScan = await median(REPS, () => RunSummaries.query(world.meta));
  const filtered = ms.get(`runs: selective filter (${matched} match)`)!;
  const sorted = ms.get(`runs: sorted by ${SORT}`)!;
  console.log("baselines, in process (no HTTP):");
  console.log(`  every full record, selective filter        ${fullFilter.toFixed(1).padStart(8)} ms`);
  console.log(`  every full record, sorted                  ${fullSort.toFixed(1).padStart(8)} ms`);
  console.log(`  every summary read and schema-checked      ${bareScan.toFixed(1).padStart(8)} ms`);
  console.log(`  selective filter: ${(fullFilter / filtered).toFixed(1)}× faster than full records`);
  console.log(`  sort by a metric: ${(fullSort / sorted).toFixed(1)}× faster than full records`);
  console.log(
    `  selective filter over HTTP takes ${(filtered / bareScan).toFixed(2)}× reading and checking every summary`,
  );
} finally {
  await new Promise((resolve) => server.close(resolve));
  await world.close();
}
