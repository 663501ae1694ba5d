import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type Config } from "../../core/config/config.ts";
import { openJobRunner } from "../../core/config/runtime.ts";
import { jobNameFor, type JobStatus } from "../../core/jobs/job-runner.ts";
import { openJobReader } from "../../core/jobs/job-reader.ts";
import { Jobs, LocalJobRunner, localJobReader, type JobRecord } from "../../core/jobs/local-runner.ts";
import { getRun, listRuns } from "../../core/runs/queries.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { waitFor } from "../support/wait.ts";

const FAKE_TRAINER = fileURLToPath(new URL("../support/fake-trainer.ts", import.meta.url));
const DATASET = "a".repeat(64);
const quiet = createLogger({}, { write: () => {} });

let config: Config;
let meta: SqliteStore;
let runner: LocalJobRunner;

beforeAll(() => {
  const home = mkdtempSync(join(tmpdir(), "sightline-jobs-"));
  config = loadConfig({ SIGHTLINE_HOME: home }, home);
  meta = new SqliteStore(config.meta.kind === "sqlite" ? config.meta.path : "");
  runner = new LocalJobRunner({
    config,
    meta,
    entry: FAKE_TRAINER,
    env: { SIGHTLINE_GIT_COMMIT: "abc123" },
    log: quiet,
  });
});

afterAll(async () => {
  await runner.close();
  await meta.close();
});

async function finished(name: string): Promise<JobStatus> {
  let status: JobStatus | undefined;
  await waitFor(async () => {
    status = await runner.status(name);
    return status?.state === "succeeded" || status?.state === "failed";
  }, `job ${name} to finish`);
  if (!status) throw new Error("unreachable");
  return status;
}

function envSeen(name: string): Record<string, string> {
  const line = readFileSync(join(config.home, "jobs", `${name}.log`), "utf8")
    .split("\n")
    .find((l) => l.startsWith("env "));
  if (!line) throw new Error(`no env line in the log of ${name}`);
  return JSON.parse(line.slice(4)) as Record<string, string>;
}

describe("LocalJobRunner", () => {
  it("runs the trainer with the spec and the parent's stores in its environment, and records success", async () => {
    process.env.SIGHTLINE_EPOCHS = "99"; // a stray value in the parent must not reach a job that did not ask for it
    try {
      const res = await runner.submit({
        requestId: "req-ok-1",
        model: "ok",
        datasetId: DATASET,
        limit: 50,
        configPath: "trainer/configs/x.yaml",
      });
      expect(res).toEqual({ name: jobNameFor("req-ok-1"), created: true });
      const status = await finished(res.name);
      expect(status).toMatchObject({ name: res.name, requestId: "req-ok-1", state: "succeeded" });
      expect(Date.parse(status.finishedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(status.startedAt ?? ""));

      const env = envSeen(res.name);
      expect(env).toMatchObject({
        SIGHTLINE_DATASET: DATASET,
        SIGHTLINE_TRAIN_MODEL_NAME: "ok",
        SIGHTLINE_REQUEST_ID: "req-ok-1",
        SIGHTLINE_LIMIT: "50",
        SIGHTLINE_TRAIN_CONFIG: "trainer/configs/x.yaml",
        SIGHTLINE_GIT_COMMIT: "abc123",
        SIGHTLINE_HOME: config.home,
        SIGHTLINE_BLOBS: `file://${join(config.home, "blobs")}`,
        SIGHTLINE_META: `sqlite://${join(config.home, "meta.db")}`,
        SIGHTLINE_BUS: `local://${join(config.home, "meta.db")}`,
      });
      expect(env.SIGHTLINE_EPOCHS).toBeUndefined();
      // The URIs handed over parse back to the very same stores.
      expect(loadConfig(env, "/")).toMatchObject({
        home: config.home,
        blobs: config.blobs,
        meta: config.meta,
        bus: config.bus,
      });

      const record = await meta.get("jobs", res.name);
      expect(record?.data).toMatchObject({
        state: "succeeded",
        exitCode: 0,
        model: "ok",
        datasetId: DATASET,
        runnerPid: process.pid,
        host: hostname(),
      });
      expect(typeof record?.data.pid).toBe("number");
    } finally {
      delete process.env.SIGHTLINE_EPOCHS;
    }
  });

  it("starts one trainer for a request id submitted twice at once, also through a second store connection", async () => {
    const meta2 = new SqliteStore(join(config.home, "meta.db"));
    const runner2 = new LocalJobRunner({ config, meta: meta2, entry: FAKE_TRAINER, log: quiet });
    try {
      const spec = { requestId: "req-dup", model: "ok", datasetId: DATASET };
      const results = await Promise.all([runner.submit(spec), runner2.submit(spec), runner.submit(spec)]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.name))).toEqual(new Set([jobNameFor("req-dup")]));
      expect((await finished(jobNameFor("req-dup"))).state).toBe("succeeded");
      // One child ran: one env line in the shared log.
      const log = readFileSync(join(config.home, "jobs", `${jobNameFor("req-dup")}.log`), "utf8");
      expect(log.split("\n").filter((l) => l.startsWith("env "))).toHaveLength(1);
      // A later resubmission starts nothing either.
      expect(await runner.submit(spec)).toEqual({ name: jobNameFor("req-dup"), created: false });
    } finally {
      await runner2.close();
      await meta2.close();
    }
  });

  it("records a failure with the exit code and the last log line, shortened from JSON", async () => {
    const { name } = await runner.submit({ requestId: "req-broken", model: "broken", datasetId: DATASET });
    const status = await finished(name);
    expect(status.state).toBe("failed");
    expect(status.message).toBe("exit code 1: training failed: dataset not found");
    expect((await meta.get("jobs", name))?.data).toMatchObject({ exitCode: 1, state: "failed" });
  });

  it("lists running jobs as active until they end", async () => {
    const { name } = await runner.submit({
      requestId: "req-slow",
      model: "slow",
      datasetId: DATASET,
      reason: "drift report d1",
    });
    await waitFor(async () => (await runner.status(name))?.state === "running", "the slow job to run");
    const active = await runner.active();
    expect(active.map((s) => s.name)).toEqual([name]);
    expect(active[0]).toMatchObject({ requestId: "req-slow", state: "running" });
    writeFileSync(join(config.home, "release-req-slow"), "");
    expect((await finished(name)).state).toBe("succeeded");
    expect(await runner.active()).toEqual([]);
  });

  it("records a run its trainer left running as killed when the trainer is SIGKILLed, failed when it exits early", async () => {
    const { name } = await runner.submit({
      requestId: "req-kill",
      model: "records",
      datasetId: DATASET,
      trigger: "retrain",
      driftReportId: "drift-42",
    });
    await waitFor(
      async () => (await getRun(meta, "run-req-kill").catch(() => undefined))?.status === "running",
      "the run to start",
    );
    const pid = (await Jobs.get(meta, name))!.pid!;
    process.kill(pid, "SIGKILL");
    await waitFor(async () => (await getRun(meta, "run-req-kill")).status === "killed", "the run to be settled");
    expect(await getRun(meta, "run-req-kill")).toMatchObject({
      status: "killed",
      reason: "the trainer's process was killed by SIGKILL before it finished the run",
      finishedAt: expect.any(String),
      // The job spec's trigger reached the run through the trainer's environment.
      tags: { trigger: "retrain", drift_report: "drift-42", actor: "trainer" },
    });
    const listed = await listRuns(meta, { filter: 'status = "killed" and tags.trigger = "retrain"' });
    expect(listed.runs.map((r) => r.runId)).toEqual(["run-req-kill"]);
    expect((await finished(name)).message).toMatch(/^killed by SIGKILL/);

    const early = await runner.submit({ requestId: "req-exit", model: "records", datasetId: DATASET, trigger: "ci" });
    await waitFor(
      async () => (await getRun(meta, "run-req-exit").catch(() => undefined)) !== undefined,
      "the run to start",
    );
    writeFileSync(join(config.home, "release-req-exit"), "3");
    expect((await finished(early.name)).state).toBe("failed");
    await waitFor(async () => (await getRun(meta, "run-req-exit")).status !== "running", "the run to be settled");
    expect(await getRun(meta, "run-req-exit")).toMatchObject({
      status: "failed",
      reason: "the trainer's process exited with code 3 before it finished the run",
      tags: { trigger: "ci" },
    });
  });

  it(
    "hands the trigger to the real trainer, whose run carries it (a dataset that does not exist: the run fails fast)",
    { timeout: 120_000 },
    async () => {
      const real = new LocalJobRunner({ config, meta, log: quiet });
      try {
        const { name } = await real.submit({
          requestId: "req-real-retrain",
          model: "tagged",
          datasetId: "f".repeat(64),
          trigger: "retrain",
          driftReportId: "drift-7",
        });
        await waitFor(async () => (await real.status(name))?.state === "failed", "the real trainer to fail", 100_000);
        const { runs } = await listRuns(meta, { filter: 'request = "req-real-retrain"' });
        expect(runs).toHaveLength(1);
        expect(runs[0]).toMatchObject({
          status: "failed",
          tags: { trigger: "retrain", drift_report: "drift-7", trainer: "builtin" },
        });
      } finally {
        await real.close();
      }
    },
  );

  it("is what openJobRunner opens for local://", async () => {
    const opened = await openJobRunner(config.jobs, { config, meta, log: quiet });
    expect(opened).toBeInstanceOf(LocalJobRunner);
    await opened.close();
  });

  it("reports a job whose runner and trainer are both gone as failed, and an unknown one as undefined", async () => {
    // Pids of processes that have certainly exited.
    const deadPid = (): number => {
      const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
      return Number(r.stdout.toString());
    };
    const base = {
      requestId: "req-orphan",
      model: "ok",
      datasetId: DATASET,
      host: hostname(),
      log: "/x.log",
      createdAt: new Date().toISOString(),
    };
    await meta.put("jobs", "train-orphan", {
      ...base,
      name: "train-orphan",
      state: "running",
      runnerPid: deadPid(),
      pid: deadPid(),
    });
    await meta.put("jobs", "train-unstarted", {
      ...base,
      name: "train-unstarted",
      state: "pending",
      runnerPid: deadPid(),
    });
    // A live runner (this process) still owns its job: no verdict from a missing trainer pid alone.
    await meta.put("jobs", "train-owned", {
      ...base,
      name: "train-owned",
      state: "running",
      runnerPid: process.pid,
      pid: deadPid(),
    });

    expect(await runner.status("train-orphan")).toMatchObject({
      state: "failed",
      message: expect.stringMatching(/trainer \(pid \d+\) is gone .* without recording/),
    });
    expect(await runner.status("train-unstarted")).toMatchObject({
      state: "failed",
      message: expect.stringMatching(/exited before it started/),
    });
    expect(await runner.status("train-owned")).toMatchObject({ state: "running" });
    expect((await runner.active()).map((s) => s.name)).toEqual(["train-owned"]);
    expect(await runner.status("train-nothing")).toBeUndefined();
    await meta.delete("jobs", "train-owned");
  });
});

describe("LocalJobRunner for the console: list, get and logTail", () => {
  let home: string;
  let store: SqliteStore;
  let r: LocalJobRunner;
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "sightline-jobs-read-"));
    const cfg = loadConfig({ SIGHTLINE_HOME: home }, home);
    store = new SqliteStore(join(home, "read.db"));
    r = new LocalJobRunner({ config: cfg, meta: store, entry: FAKE_TRAINER, log: quiet });
    const record = (name: string, minute: number, extra: Partial<JobRecord> = {}): JobRecord => ({
      name,
      requestId: `req-${name}`,
      model: "fashion",
      datasetId: DATASET,
      state: "succeeded",
      host: hostname(),
      runnerPid: process.pid,
      log: join(home, "jobs", `${name}.log`),
      createdAt: new Date(Date.UTC(2026, 11, 3, 9, minute)).toISOString(),
      ...extra,
    });
    mkdirSync(join(home, "jobs"));
    writeFileSync(
      join(home, "jobs", "j-old.log"),
      Array.from({ length: 300 }, (_, i) => `line ${i + 1}`).join("\n") + "\n",
    );
    await Jobs.put(store, "j-old", record("j-old", 1, { exitCode: 0, finishedAt: "2026-12-03T09:05:00.000Z" }));
    await Jobs.put(store, "j-new", record("j-new", 3, { state: "failed", exitCode: 1, message: "exit code 1" }));
    await Jobs.put(store, "j-mid", record("j-mid", 2, { reason: "drift report d1" }));
  });
  afterAll(async () => {
    await r.close();
    await store.close();
  });

  it("lists the records newest first without the runner's bookkeeping (host, pids, log path)", async () => {
    const all = await r.list();
    expect(all.map((j) => [j.name, j.state])).toEqual([
      ["j-new", "failed"],
      ["j-mid", "succeeded"],
      ["j-old", "succeeded"],
    ]);
    expect(Object.keys(all[2]!).sort()).toEqual(
      ["createdAt", "datasetId", "exitCode", "finishedAt", "model", "name", "requestId", "state"].sort(),
    );
    expect((await r.list({ limit: 1 })).map((j) => j.name)).toEqual(["j-new"]);
    expect(await r.get("j-mid")).toMatchObject({ reason: "drift report d1", requestId: "req-j-mid" });
    expect(await r.get("nope")).toBeUndefined();
  });

  it("tails the job's log file; a job without one, or unknown, has its log missing", async () => {
    const log = await r.logTail("j-old", { maxLines: 200, maxBytes: 64 * 1024 });
    expect(log).toMatchObject({ truncated: true, missing: false });
    expect([log.lines.length, log.lines[0], log.lines.at(-1)]).toEqual([200, "line 101", "line 300"]);
    expect(await r.logTail("j-new")).toEqual({ lines: [], truncated: false, missing: true });
    expect(await r.logTail("nope")).toEqual({ lines: [], truncated: false, missing: true });
  });

  it("answers the same through localJobReader and openJobReader, which need no runner", async () => {
    const reader = await openJobReader({ kind: "local" }, { meta: store });
    expect(await reader.list()).toEqual(await r.list());
    expect(await localJobReader(store).logTail("j-old", { maxLines: 2 })).toEqual({
      lines: ["line 299", "line 300"],
      truncated: true,
      missing: false,
    });
  });
});
