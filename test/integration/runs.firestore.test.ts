import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { putRun, Runs, type RunRecord } from "../../core/jobs/run-record.ts";
import { settleUnfinishedRuns } from "../../core/jobs/run-settle.ts";
import { RunSummaries, summaryOf } from "../../core/jobs/run-summary.ts";
import { FirestoreStore } from "../../core/meta/firestore-store.ts";
import { getRun, listRuns } from "../../core/runs/queries.ts";

// The runs read model on Firestore: the same answers as on SQLite (test/unit/runs-summaries.test.ts), through the
// queries it asks of the store (equalities on several fields, one ordered field with a range) and its transactions.
const emulators = inject("emulators");
const host = emulators.firestore;

const record = (i: number, patch: Partial<RunRecord> = {}): RunRecord => ({
  runId: `run-${String(i).padStart(4, "0")}`,
  requestId: `req-${i}`,
  model: i % 2 ? "odd" : "even",
  datasetId: "d".repeat(64),
  trainer: { kind: "builtin", args: {} },
  status: "succeeded",
  startedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  metrics: [{ epoch: 1, accuracy: 0.5 + i / 100 }],
  invalidMetricLines: 0,
  params: { epochs: 5, "preprocessing.width": 28 },
  tags: { trigger: i % 3 ? "cli" : "retrain" },
  ...patch,
});

if (host === undefined) {
  describe.skip(`runs on Firestore (${emulators.skipped.firestore ?? "emulator not running"})`, () => {});
} else {
  describe("runs read model on Firestore", () => {
    let store: FirestoreStore;
    beforeAll(async () => {
      store = new FirestoreStore({
        projectId: `sightline-runs-${randomUUID().slice(0, 8)}`,
        host,
        prefix: "sightline",
      });
      // Two older records without summaries, then runs written as today.
      for (const i of [1, 2]) await Runs.put(store, record(i).runId, record(i));
      for (let i = 3; i <= 9; i++) await putRun(store, record(i));
    });
    afterAll(async () => {
      await store?.close();
    });

    it("writes record and summary together, backfills older records, filters, sorts and pages", async () => {
      expect(await RunSummaries.get(store, "run-0005")).toEqual(summaryOf((await Runs.get(store, "run-0005"))!));
      const all = await listRuns(store, { limit: 4 });
      expect(all.runs.map((r) => r.runId)).toEqual(["run-0009", "run-0008", "run-0007", "run-0006"]);
      const next = await listRuns(store, { limit: 4, cursor: all.nextCursor! });
      expect(next.runs.map((r) => r.runId)).toEqual(["run-0005", "run-0004", "run-0003", "run-0002"]);
      expect(
        (
          await listRuns(store, { model: "odd", filter: 'tags.trigger = "retrain" and metrics.accuracy > 0.5' })
        ).runs.map((r) => r.runId),
      ).toEqual(["run-0009", "run-0003"]);
      expect((await listRuns(store, { orderBy: "metrics.accuracy asc", limit: 3 })).runs.map((r) => r.runId)).toEqual([
        "run-0001",
        "run-0002",
        "run-0003",
      ]);
    });

    it("settles a run left running as killed, and shows a silent one as lost", async () => {
      await putRun(store, record(20, { requestId: "req-k", status: "running", heartbeatSeconds: 30 }));
      await putRun(store, record(21, { status: "running", heartbeatSeconds: 30 }));
      expect(await settleUnfinishedRuns(store, "req-k", { code: null, signal: "SIGKILL" })).toEqual(["run-0020"]);
      expect((await getRun(store, "run-0020")).status).toBe("killed");
      const later = Date.now() + 3_600_000;
      expect((await listRuns(store, { filter: 'status = "lost"' }, { now: later })).runs.map((r) => r.runId)).toEqual([
        "run-0021",
      ]);
    });
  });
}
