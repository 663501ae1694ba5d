import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { putRun, Runs, type RunRecord } from "../../core/jobs/run-record.ts";
import { RunRecorder } from "../../core/jobs/run-recorder.ts";
import { settleUnfinishedRuns } from "../../core/jobs/run-settle.ts";
import { RunSummaries, summaryOf } from "../../core/jobs/run-summary.ts";
import type { MetadataStore, Transaction } from "../../core/meta/metadata-store.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { ensureRunSummaries } from "../../core/runs/backfill.ts";
import { getRun, listRuns } from "../../core/runs/queries.ts";
import { LOST_AFTER_MS } from "../../core/runs/status.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { GOOD, registerTestVersion } from "../support/registry.ts";

const newPath = (): string => join(mkdtempSync(join(tmpdir(), "sightline-summaries-")), "meta.db");
const store = (path = newPath()): SqliteStore => new SqliteStore(path);

const record = (i: number, patch: Partial<RunRecord> = {}): RunRecord => ({
  runId: `run-${String(i).padStart(4, "0")}`,
  requestId: `req-${i}`,
  model: "fashion",
  datasetId: "d".repeat(64),
  trainer: { kind: "builtin", args: {} },
  status: "succeeded",
  startedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  finishedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i + 30)).toISOString(),
  metrics: Array.from({ length: 5 }, (_, e) => ({ epoch: e + 1, accuracy: 0.5 + e / 100 + i / 1e5 })),
  invalidMetricLines: 0,
  params: { epochs: 5 },
  tags: { trigger: "cli" },
  ...patch,
});

describe("run summaries", () => {
  let meta: SqliteStore;
  beforeAll(() => {
    meta = store();
  });
  afterAll(async () => {
    await meta.close();
  });

  it("are written with the record in one transaction, without the metric stream", async () => {
    const writes: { kind: string; collection: string }[] = [];
    // Records what putRun asks of the store: one transaction holding both writes, nothing outside it.
    const spy: MetadataStore = {
      get: (c, id) => meta.get(c, id),
      put: (c, id, d) => (writes.push({ kind: "put", collection: c }), meta.put(c, id, d)),
      create: (c, id, d) => (writes.push({ kind: "create", collection: c }), meta.create(c, id, d)),
      delete: (c, id) => meta.delete(c, id),
      query: (c, o) => meta.query(c, o),
      transaction: (fn) =>
        meta.transaction((tx) => {
          const seen: Transaction = {
            get: (c, id) => tx.get(c, id),
            set: (c, id, d) => (writes.push({ kind: "tx", collection: c }), tx.set(c, id, d)),
            delete: (c, id) => tx.delete(c, id),
          };
          return fn(seen);
        }),
      close: () => meta.close(),
    };
    await putRun(spy, record(1));
    expect(writes).toEqual([
      { kind: "tx", collection: "runs" },
      { kind: "tx", collection: "run_summaries" },
    ]);
    const stored = (await Runs.get(meta, "run-0001"))!;
    const summary = (await RunSummaries.get(meta, "run-0001"))!;
    expect(summary).toEqual(summaryOf(stored));
    expect(summary).not.toHaveProperty("stream");
    expect(summary.metrics).toEqual({ epoch: 5, accuracy: 0.54001 });
    expect(summary.updatedAt).toBe(stored.updatedAt);
  });

  it("are derived for records stored without one, once, with an older record's held-out metrics", async () => {
    const path = newPath();
    const legacy = store(path);
    try {
      const version = await registerTestVersion(legacy, "fashion", "d".repeat(64), GOOD);
      // 450 records as an older Sightline stored them (no summaries): more than one backfill batch.
      for (let i = 0; i < 450; i++)
        await Runs.put(legacy, record(i).runId, { ...record(i), ...(i === 7 ? { version: version.version } : {}) });
      // One with a stale summary (its record written after it), one that is current.
      await putRun(legacy, record(500, { status: "running", finishedAt: undefined }));
      const current = (await Runs.get(legacy, "run-0500"))!;
      await Runs.put(legacy, "run-0500", {
        ...current,
        status: "failed",
        updatedAt: new Date(Date.parse(current.updatedAt!) + 1000).toISOString(),
      });

      const page = await listRuns(legacy, { limit: 1000 });
      expect(page.runs).toHaveLength(451);
      expect(page.runs[0]).toMatchObject({ runId: "run-0500", status: "failed" });
      expect(page.runs.at(-1)!.runId).toBe("run-0000");
      expect(page.runs.find((r) => r.runId === "run-0007")!.metrics.test_accuracy).toBe(GOOD.accuracy);
      expect(await legacy.query("run_summaries")).toHaveLength(451);
      // Done once: the marker holds, nothing is derived again.
      expect(await legacy.get("run_summaries_backfill", "v1")).toMatchObject({ data: { summarized: 451 } });
      const again = store(path);
      expect(await ensureRunSummaries(again)).toBe(0);
      await again.close();
    } finally {
      await legacy.close();
    }
  });

  it("hand a filter's text equalities to the store, and match every comparison themselves", async () => {
    await putRun(meta, record(10, { tags: { trigger: "retrain", "git.commit": "abc" }, model: "bags" }));
    await putRun(meta, record(11, { tags: { trigger: "retrain" }, model: "bags", params: { epochs: "5" } }));
    const asked: unknown[] = [];
    const spy = Object.create(meta) as MetadataStore;
    spy.query = (c, o) => (c === "run_summaries" && asked.push(o?.where), meta.query(c, o));
    const ids = async (filter: string) => (await listRuns(spy, { model: "bags", filter })).runs.map((r) => r.runId);
    expect(await ids('tags.trigger = "retrain" and params.epochs = 5 and metrics.accuracy > 0.5')).toEqual([
      "run-0011",
      "run-0010",
    ]);
    expect(asked.at(-1)).toEqual([
      { field: "model", op: "==", value: "bags" },
      { field: "tags.trigger", op: "==", value: "retrain" },
    ]);
    // A key that is not a plain name (a dotted tag) is matched here only.
    expect(await ids('tags.`git.commit` = "abc"')).toEqual(["run-0010"]);
    expect(asked.at(-1)).toEqual([{ field: "model", op: "==", value: "bags" }]);
  });

  it("show a running run not heard from for long as lost, derived on read and never written", async () => {
    await putRun(meta, record(2, { status: "running", finishedAt: undefined, heartbeatSeconds: 30 }));
    // No heartbeat promised (an image trainer's record): it stays running however old.
    await putRun(meta, record(3, { status: "running", finishedAt: undefined }));
    const later = Date.now() + LOST_AFTER_MS + 1000;
    const status = async (now: number) =>
      Object.fromEntries((await listRuns(meta, {}, { now })).runs.map((r) => [r.runId, r.status]));
    expect(await status(Date.now())).toMatchObject({ "run-0002": "running", "run-0003": "running" });
    expect(await status(later)).toMatchObject({ "run-0002": "lost", "run-0003": "running" });
    expect((await listRuns(meta, { filter: 'status = "lost"' }, { now: later })).runs.map((r) => r.runId)).toEqual([
      "run-0002",
    ]);
    expect((await getRun(meta, "run-0002", later)).status).toBe("lost");
    expect((await Runs.get(meta, "run-0002"))!.status).toBe("running");
  });

  it("are kept fresh by the recorder's heartbeat while a run is quiet, and no longer once it ended", async () => {
    const recorder = new RunRecorder(
      meta,
      {
        runId: "run-beat",
        requestId: "req-beat",
        model: "fashion",
        datasetId: "d".repeat(64),
        trainer: { kind: "builtin", args: {} },
      },
      createLogger({}, { level: "CRITICAL" }),
      { heartbeatSeconds: 0.1 },
    );
    await recorder.start();
    const first = (await RunSummaries.get(meta, "run-beat"))!;
    expect(first).toMatchObject({ status: "running", heartbeatSeconds: 0.1 });
    await new Promise((r) => setTimeout(r, 400));
    const beat = (await RunSummaries.get(meta, "run-beat"))!.updatedAt!;
    expect(Date.parse(beat)).toBeGreaterThan(Date.parse(first.updatedAt!));
    await recorder.succeed();
    const ended = (await RunSummaries.get(meta, "run-beat"))!;
    await new Promise((r) => setTimeout(r, 300));
    expect(await RunSummaries.get(meta, "run-beat")).toEqual(ended);
  });

  it("settle a run its trainer left running as killed, never one it finished", async () => {
    await putRun(meta, record(4, { requestId: "req-settle", status: "running", finishedAt: undefined }));
    await putRun(meta, record(5, { requestId: "req-settle" }));
    expect(await settleUnfinishedRuns(meta, "req-settle", { code: null, signal: "SIGKILL" })).toEqual(["run-0004"]);
    expect(await getRun(meta, "run-0004")).toMatchObject({
      status: "killed",
      reason: expect.stringMatching(/killed by SIGKILL/),
    });
    expect((await RunSummaries.get(meta, "run-0004"))!.status).toBe("killed");
    expect((await getRun(meta, "run-0005")).status).toBe("succeeded");
    expect(await settleUnfinishedRuns(meta, "req-settle", { code: 1, signal: null })).toEqual([]);
  });
});
