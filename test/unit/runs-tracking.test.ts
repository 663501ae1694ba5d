import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { putRun, Runs, type RunRecord } from "../../core/jobs/run-record.ts";
import { runConfusion } from "../../core/runs/artefacts.ts";
import { compareRuns, finalMetrics, getRun, listRuns, runsForRequest } from "../../core/runs/queries.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadTrainConfig } from "../../trainer/config.ts";
import { runTraining } from "../../trainer/run.ts";
import { smallDataset } from "../support/datasets.ts";
import { GOOD, registerTestVersion } from "../support/registry.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("experiment tracking of the built-in trainer (real SQLite store, real training)", { timeout: 120_000 }, () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-runs-"));
  let rt: Runtime;
  let datasetId: string;
  let testImages: number;

  beforeAll(async () => {
    rt = await openRuntime(
      loadConfig({ SIGHTLINE_HOME: join(cwd, "home") }, cwd),
      createLogger({}, { level: "CRITICAL" }),
    );
    const { record } = await versionDataset(rt, await smallDataset({ perClass: 10, splits: true }));
    datasetId = record.id;
    testImages = record.splits.test!;
  });
  afterAll(async () => {
    await rt?.close();
  });

  it("records a successful run: params, tags, every epoch with its time, phases, throughput, artefacts, held-out metrics", async () => {
    const config = await loadTrainConfig(undefined, { epochs: 3, seed: 1 });
    // What the store holds while the run evaluates (after training, before registering).
    let whileRunning: Promise<RunRecord | undefined> = Promise.resolve(undefined);
    const before = Date.now();
    const { version } = await runTraining(
      rt,
      { requestId: "req-ok", model: "tracked", datasetId, config, actor: "tester", tags: { trigger: "cli" } },
      {
        onPhase: (phase) => {
          if (phase !== "evaluate") return;
          whileRunning = (async () => {
            for (let i = 0; i < 200; i++) {
              const [doc] = await Runs.query(rt.meta, { where: [{ field: "requestId", op: "==", value: "req-ok" }] });
              if (doc && doc.data.metrics.length === 3) return doc.data;
              await sleep(5);
            }
            return undefined;
          })();
        },
      },
    );
    const running = await whileRunning;
    expect(running?.status).toBe("running");
    expect(running?.phases).toMatchObject({ load: expect.any(Number), train: expect.any(Number) });

    const [doc] = await Runs.query(rt.meta, { where: [{ field: "requestId", op: "==", value: "req-ok" }] });
    const run = doc!.data;
    expect(run).toMatchObject({
      status: "succeeded",
      model: "tracked",
      datasetId,
      version: version.version,
      trainer: { kind: "builtin" },
    });
    expect(run.params).toMatchObject({
      epochs: 3,
      seed: 1,
      architecture: "cnn",
      "preprocessing.width": 28,
      "augmentation.maxShift": 0,
    });
    expect(run.tags).toMatchObject({
      trigger: "cli",
      actor: "tester",
      trainer: "builtin",
      config_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(run.metrics.map((m) => m.epoch)).toEqual([1, 2, 3]);
    const stamps = run.metrics.map((m) => m.timestamp!);
    expect(stamps[0]).toBeGreaterThanOrEqual(before);
    expect([...stamps].sort((a, b) => a - b)).toEqual(stamps);
    for (const m of run.metrics)
      expect(Object.keys(m)).toEqual(expect.arrayContaining(["loss", "accuracy", "seconds", "images_per_second"]));
    expect(Object.keys(run.phases ?? {}).sort()).toEqual(["evaluate", "export", "load", "register", "train"]);
    expect(run.imagesPerSecond).toBeGreaterThan(0);
    expect(run.progress).toMatchObject({ epoch: 3, epochs: 3, batch: run.progress?.batches });
    expect(Date.parse(run.updatedAt!)).toBeGreaterThanOrEqual(Date.parse(run.finishedAt!));
    expect(run.heldOut).toEqual(version.metrics);
    expect(run.artefacts).toEqual([
      { kind: "onnx", digest: version.modelDigest },
      { kind: "card", digest: version.cardDigest },
      { kind: "profile", digest: version.profileDigest },
      { kind: "confusion_matrix", digest: version.cardDigest, pointer: "/evaluation/confusion" },
    ]);
    const confusion = await runConfusion(rt.blobs, run);
    expect(confusion?.classes).toEqual(["bag", "sneaker", "trouser"]);
    // Every test image is counted once.
    expect(confusion?.matrix.flat().reduce((a, b) => a + b, 0)).toBe(testImages);
    expect(confusion?.matrix).toHaveLength(3);
    expect(await runConfusion(rt.blobs, { runId: "none" })).toBeUndefined();

    const detail = await getRun(rt.meta, run.runId);
    expect(detail.final).toMatchObject({
      epoch: 3,
      loss: run.metrics[2]!.loss,
      test_accuracy: version.metrics.accuracy,
    });
    expect(detail.final.timestamp).toBeUndefined();
  });

  it("records a failed run with its reason (a dataset that does not exist)", async () => {
    const config = await loadTrainConfig(undefined, { epochs: 1 });
    await expect(
      runTraining(rt, { requestId: "req-bad", model: "broken", datasetId: "f".repeat(64), config, actor: "tester" }),
    ).rejects.toThrow();
    const { runs } = await listRuns(rt.meta, { model: "broken" });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      status: "failed",
      requestId: "req-bad",
      reason: expect.stringMatching(/f{12}/),
      finishedAt: expect.any(String),
    });
    expect(runs[0]!.version).toBeUndefined();
    expect((await runsForRequest(rt.meta, "req-bad")).map((r) => r.runId)).toEqual([runs[0]!.runId]);
    const failed = await getRun(rt.meta, runs[0]!.runId);
    // It failed loading: that phase is timed, no later one started; what it was given is still recorded.
    expect(Object.keys(failed.phases ?? {})).toEqual(["load"]);
    expect(failed.params).toMatchObject({ epochs: 1 });
    expect(failed.metrics).toEqual([]);
    expect((await listRuns(rt.meta, { filter: 'status = "failed"' })).runs.map((r) => r.model)).toEqual(["broken"]);
    expect(
      (await listRuns(rt.meta, { filter: 'metrics.test_accuracy >= 0 and tags.trigger = "cli"' })).runs.map(
        (r) => r.model,
      ),
    ).toEqual(["tracked"]);
  });
});

describe("runs read model: pages and comparisons", () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-runs-q-"));
  let rt: Runtime;
  const record = (i: number, patch: Partial<RunRecord> = {}): RunRecord => ({
    runId: `run-${String(i).padStart(3, "0")}`,
    requestId: `req-${i}`,
    model: i % 2 ? "odd" : "even",
    datasetId: "d".repeat(64),
    trainer: { kind: "builtin", args: {} },
    status: "succeeded",
    startedAt: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
    finishedAt: new Date(Date.UTC(2026, 0, 1, 0, i, 30)).toISOString(),
    metrics: [
      { epoch: 1, accuracy: 0.5 },
      { epoch: 2, accuracy: 0.5 + i / 100 },
    ],
    invalidMetricLines: 0,
    params: { epochs: 2, learningRate: 0.001 * (i % 3 === 0 ? 2 : 1) },
    tags: { trigger: i % 4 === 0 ? "drift" : "cli" },
    ...patch,
  });

  beforeAll(async () => {
    rt = await openRuntime(
      loadConfig({ SIGHTLINE_HOME: join(cwd, "home") }, cwd),
      createLogger({}, { level: "CRITICAL" }),
    );
    for (let i = 1; i <= 7; i++) await putRun(rt.meta, record(i));
  });
  afterAll(async () => {
    await rt?.close();
  });

  it("pages newest first with a cursor that does not shift when a run starts meanwhile", async () => {
    const first = await listRuns(rt.meta, { limit: 3 });
    expect(first.runs.map((r) => r.runId)).toEqual(["run-007", "run-006", "run-005"]);
    await putRun(rt.meta, record(8));
    const second = await listRuns(rt.meta, { limit: 3, cursor: first.nextCursor! });
    expect(second.runs.map((r) => r.runId)).toEqual(["run-004", "run-003", "run-002"]);
    const last = await listRuns(rt.meta, { limit: 3, cursor: second.nextCursor! });
    expect(last).toEqual({ runs: [expect.objectContaining({ runId: "run-001", seconds: 30 })] });
    expect(
      (await listRuns(rt.meta, { limit: 2, model: "odd", filter: "metrics.accuracy > 0.52" })).runs.map((r) => r.runId),
    ).toEqual(["run-007", "run-005"]);
    await expect(listRuns(rt.meta, { cursor: "nonsense" })).rejects.toMatchObject({
      kind: "invalid",
      code: "invalid_cursor",
    });
    await expect(listRuns(rt.meta, { limit: 0 })).rejects.toMatchObject({ kind: "invalid" });
    await expect(listRuns(rt.meta, { filter: "accuracy > 1" })).rejects.toMatchObject({
      kind: "invalid",
      code: "invalid_filter",
    });
  });

  it("reads the store in batches without losing or repeating runs, also when runs started at the same instant", async () => {
    const cwd2 = mkdtempSync(join(tmpdir(), "sightline-runs-ties-"));
    const rt2 = await openRuntime(
      loadConfig({ SIGHTLINE_HOME: join(cwd2, "home") }, cwd2),
      createLogger({}, { level: "CRITICAL" }),
    );
    try {
      // Starts: 5 runs at one instant (more than a batch), then pairs, then singles.
      const minutes = [1, 1, 1, 1, 1, 2, 2, 3, 4, 4, 5, 6];
      for (const [i, m] of minutes.entries())
        await putRun(rt2.meta, record(100 + i, { startedAt: new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString() }));
      const expected = minutes
        .map((m, i) => ({ runId: `run-${100 + i}`, startedAt: m }))
        .sort((a, b) => b.startedAt - a.startedAt || (a.runId < b.runId ? 1 : -1))
        .map((r) => r.runId);
      for (const [limit, batch] of [
        [1, 2],
        [2, 2],
        [3, 4],
        [5, 3],
        [50, 2],
      ] as const) {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await listRuns(rt2.meta, { limit, ...(cursor ? { cursor } : {}) }, { batch });
          seen.push(...page.runs.map((r) => r.runId));
          cursor = page.nextCursor;
        } while (cursor);
        expect(seen, `limit ${limit}, batch ${batch}`).toEqual(expected);
      }
      const odd = await listRuns(
        rt2.meta,
        { model: "odd", filter: "metrics.accuracy >= 1.05", limit: 2 },
        { batch: 2 },
      );
      expect(odd.runs.map((r) => r.runId)).toEqual(["run-111", "run-109"]);
    } finally {
      await rt2.close();
    }
  });

  it("sorts by any field, runs without it last, paging by offset", async () => {
    await putRun(rt.meta, record(9, { metrics: [] }));
    const byAccuracy = await listRuns(rt.meta, { orderBy: "metrics.accuracy desc", limit: 4 });
    expect(byAccuracy.runs.map((r) => r.runId)).toEqual(["run-008", "run-007", "run-006", "run-005"]);
    const rest = await listRuns(rt.meta, {
      orderBy: "metrics.accuracy desc",
      limit: 10,
      cursor: byAccuracy.nextCursor!,
    });
    expect(rest.runs.map((r) => r.runId)).toEqual(["run-004", "run-003", "run-002", "run-001", "run-009"]);
    expect(rest.nextCursor).toBeUndefined();
    // Ties keep newest first; ascending by default.
    expect(
      (await listRuns(rt.meta, { orderBy: "params.learningRate", model: "odd" })).runs.map((r) => r.runId),
    ).toEqual(["run-007", "run-005", "run-001", "run-009", "run-003"]);
    expect(
      (await listRuns(rt.meta, { orderBy: "tags.trigger desc", filter: "metrics.accuracy > 0.55", limit: 2 })).runs.map(
        (r) => r.runId,
      ),
    ).toEqual(["run-008", "run-007"]);
    await expect(listRuns(rt.meta, { orderBy: "metrics.accuracy sideways" })).rejects.toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/expected asc or desc/),
    });
    await expect(listRuns(rt.meta, { orderBy: "speed" })).rejects.toMatchObject({
      kind: "invalid",
      message: expect.stringMatching(/unknown field "speed"/),
    });
    const newestFirstCursor = (await listRuns(rt.meta, { limit: 1 })).nextCursor!;
    await expect(listRuns(rt.meta, { orderBy: "status", cursor: newestFirstCursor })).rejects.toMatchObject({
      code: "invalid_cursor",
    });
    await expect(listRuns(rt.meta, { cursor: byAccuracy.nextCursor! })).rejects.toMatchObject({
      code: "invalid_cursor",
    });
  });

  it("compares runs: only the params that differ, every final metric side by side", async () => {
    const c = await compareRuns(rt.meta, ["run-003", "run-004", "run-005"]);
    expect(c.runs.map((r) => r.runId)).toEqual(["run-003", "run-004", "run-005"]);
    expect(c.params).toEqual([
      { key: "learningRate", values: { "run-003": 0.002, "run-004": 0.001, "run-005": 0.001 } },
    ]);
    expect(c.tags).toEqual([{ key: "trigger", values: { "run-003": "cli", "run-004": "drift", "run-005": "cli" } }]);
    expect(c.metrics).toEqual([
      { key: "accuracy", values: { "run-003": 0.53, "run-004": 0.54, "run-005": 0.55 } },
      { key: "epoch", values: { "run-003": 2, "run-004": 2, "run-005": 2 } },
    ]);
    await expect(compareRuns(rt.meta, ["run-003"])).rejects.toMatchObject({ kind: "invalid" });
    await expect(compareRuns(rt.meta, ["run-003", "run-003"])).rejects.toMatchObject({ kind: "invalid" });
    await expect(compareRuns(rt.meta, ["run-003", "run-999"])).rejects.toMatchObject({
      kind: "not_found",
      code: "run_not_found",
    });
  });

  it("takes the last value of each key as final, and the held-out metrics as test_KEY over a trainer's own", () => {
    const final = finalMetrics({
      metrics: [
        { step: 1, loss: 2, test_accuracy: 0.99 },
        { step: 2, loss: 1 },
        { epoch: 1, val_accuracy: 0.7, timestamp: 1 },
      ],
      heldOut: { accuracy: 0.8 },
    });
    expect(final).toEqual({ step: 2, loss: 1, epoch: 1, val_accuracy: 0.7, test_accuracy: 0.8 });
  });

  it("still reads a record stored before the tracking fields existed", async () => {
    // putRun writes through JSON: the undefined fields are absent from the stored document.
    await putRun(rt.meta, record(20, { model: "legacy", params: undefined, tags: undefined }));
    expect(Object.keys((await rt.meta.get("runs", "run-020"))!.data)).not.toContain("params");
    const run = await getRun(rt.meta, "run-020");
    expect(run.params).toBeUndefined();
    expect((await listRuns(rt.meta, { model: "legacy" })).runs[0]).toMatchObject({ params: {}, tags: {} });
  });

  it("reads an old record's held-out metrics from its registered version", async () => {
    const version = await registerTestVersion(rt.meta, "older", "d".repeat(64), GOOD);
    const old = record(21, { model: "older", version: version.version });
    // As an older writer stored it: the record alone, no summary (this store's backfill already ran).
    await Runs.put(rt.meta, old.runId, old);
    expect((await listRuns(rt.meta, { model: "older" })).runs).toEqual([]);
    // Reading it in full repairs its summary, with the held-out metrics.
    expect((await getRun(rt.meta, "run-021")).final.test_accuracy).toBe(GOOD.accuracy);
    expect(
      (await listRuns(rt.meta, { filter: `metrics.test_accuracy = ${GOOD.accuracy}` })).runs.map((r) => r.runId),
    ).toEqual(["run-021"]);
    // A version that is gone costs the held-out metrics, not the listing.
    await putRun(rt.meta, { ...old, runId: "run-022", version: 99 });
    expect((await getRun(rt.meta, "run-022")).final.test_accuracy).toBeUndefined();
  });
});
