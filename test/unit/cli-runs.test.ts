import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { putRun, type RunRecord } from "../../core/jobs/run-record.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import type { RunComparison, RunDetail, RunsPage } from "../../core/runs/queries.ts";
import { runCli } from "../support/cli.ts";

const D = "4".repeat(64);

function run(id: string, minute: number, patch: Partial<RunRecord>): RunRecord {
  return {
    runId: id,
    requestId: `req-${id}`,
    model: "fmnist",
    datasetId: D,
    trainer: { kind: "builtin", args: {} },
    status: "succeeded",
    startedAt: new Date(Date.UTC(2026, 0, 2, 9, minute)).toISOString(),
    finishedAt: new Date(Date.UTC(2026, 0, 2, 9, minute, 42)).toISOString(),
    metrics: [
      { epoch: 1, loss: 0.9, accuracy: 0.7, timestamp: Date.UTC(2026, 0, 2, 9, minute, 20) },
      { epoch: 2, loss: 0.5, accuracy: 0.85, timestamp: Date.UTC(2026, 0, 2, 9, minute, 40) },
    ],
    invalidMetricLines: 0,
    params: { epochs: 2, learningRate: 0.001, "preprocessing.width": 28 },
    tags: { trigger: "cli" },
    phases: { load: 1.5, train: 38, evaluate: 2 },
    imagesPerSecond: 812.5,
    ...patch,
  };
}

describe("sightline runs list / show / compare (the real command)", () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-cli-runs-"));
  const env = { SIGHTLINE_HOME: join(cwd, "home"), SIGHTLINE_ACTOR: "tester" };
  const cli = (...args: string[]) => runCli(args, { cwd, env });

  beforeAll(async () => {
    const meta = new SqliteStore(join(cwd, "home", "meta.db"));
    await putRun(
      meta,
      run("run-a", 1, {
        version: 1,
        heldOut: { accuracy: 0.88, macro_f1: 0.87 },
        artefacts: [{ kind: "onnx", digest: "e".repeat(64) }],
      }),
    );
    await putRun(
      meta,
      run("run-b", 2, {
        version: 2,
        params: { epochs: 5, learningRate: 0.001, "preprocessing.width": 28 },
        tags: { trigger: "drift" },
        heldOut: { accuracy: 0.93, macro_f1: 0.92 },
      }),
    );
    await putRun(
      meta,
      run("run-d", 0, {
        status: "running",
        finishedAt: undefined,
        progress: { epoch: 2, epochs: 5, batch: 7, batches: 10, etaSeconds: 61.4 },
      }),
    );
    await putRun(
      meta,
      run("run-c", 3, { status: "failed", reason: "dataset ffff is not registered", metrics: [], heldOut: undefined }),
    );
    await meta.close();
  });

  it("lists runs as a table and as JSON, filtered and paged", async () => {
    const table = await cli("runs", "list");
    expect(table.stderr).toBe("");
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(
      /^RUN\s+MODEL\s+TRAINER\s+STATUS\s+STARTED\s+SECONDS\s+VERSION\s+test_accuracy\s+test_macro_f1$/,
    );
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(["run-c", "run-b", "run-a", "run-d"]);
    expect(lines[2]).toMatch(
      /^run-b\s+fmnist\s+builtin\s+succeeded\s+2026-01-02T09:02:00Z\s+42\.0\s+2\s+0\.9300\s+0\.9200$/,
    );
    expect(lines[1]).toMatch(/^run-c\s+fmnist\s+builtin\s+failed\s+.*—\s+—\s+—$/);

    const filtered = await cli(
      "runs",
      "list",
      "--model",
      "fmnist",
      "--filter",
      'metrics.test_accuracy > 0.9 and tags.trigger = "drift"',
      "--json",
    );
    expect(filtered.code).toBe(0);
    expect((JSON.parse(filtered.stdout) as RunsPage).runs.map((r) => r.runId)).toEqual(["run-b"]);

    const page = await cli("runs", "list", "--limit", "2");
    expect(page.stdout).toMatch(/more: --cursor \S+/);
    const cursor = /more: --cursor (\S+)/.exec(page.stdout)![1]!;
    const rest = JSON.parse(
      (await cli("runs", "list", "--limit", "2", "--cursor", cursor, "--json")).stdout,
    ) as RunsPage;
    expect(rest.runs.map((r) => r.runId)).toEqual(["run-a", "run-d"]);

    const sorted = JSON.parse(
      (await cli("runs", "list", "--sort", "metrics.test_accuracy desc", "--json")).stdout,
    ) as RunsPage;
    expect(sorted.runs.map((r) => r.runId)).toEqual(["run-b", "run-a", "run-c", "run-d"]);

    const none = await cli("runs", "list", "--filter", 'status = "running" and tags.trigger = "drift"');
    expect(none.stdout.trim()).toBe("no runs match");
  });

  it("refuses a bad filter with the parser's message", async () => {
    const bad = await cli("runs", "list", "--filter", "metrics.accuracy >> 1");
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toMatch(/invalid filter at column 19: expected a number/);
  });

  it("shows one run with its params, phases, final metrics and metric stream", async () => {
    const show = await cli("runs", "show", "run-b");
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^run-b {2}succeeded {2}registered fmnist:2$/m);
    expect(show.stdout).toMatch(/^ {2}epochs\s+5$/m);
    expect(show.stdout).toMatch(/^ {2}trigger\s+drift$/m);
    expect(show.stdout).toMatch(/^ {2}train\s+38\.00$/m);
    expect(show.stdout).toMatch(/^ {2}test_accuracy\s+0\.9300$/m);
    expect(show.stdout).toMatch(/^ {2}epoch\s+loss\s+accuracy\s+timestamp$/m);
    expect(show.stdout).toMatch(/^ {2}2\s+0\.5000\s+0\.8500\s+2026-01-02T09:02:40\.000Z$/m);

    const running = await cli("runs", "show", "run-d");
    expect(running.stdout).toMatch(/^ {2}progress\s+epoch 2\/5, batch 7\/10, about 61 s left$/m);
    expect(running.stdout).toMatch(/^ {2}heard\s+\d{4}-/m);

    const failed = JSON.parse((await cli("runs", "show", "run-c", "--json")).stdout) as RunDetail;
    expect(failed).toMatchObject({ status: "failed", reason: "dataset ffff is not registered", final: {} });
    const missing = await cli("runs", "show", "run-zzz");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no run run-zzz/);
  });

  it("compares runs: the params that differ and the final metrics side by side", async () => {
    const human = await cli("runs", "compare", "run-a", "run-b", "run-c");
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^params that differ:\n {2}\s+run-a\s+run-b\s+run-c\n {2}epochs\s+2\s+5\s+2$/m);
    expect(human.stdout).not.toMatch(/learningRate/);
    expect(human.stdout).toMatch(/^ {2}test_accuracy\s+0\.8800\s+0\.9300\s+—$/m);

    const json = JSON.parse((await cli("runs", "compare", "run-a", "run-b", "--json")).stdout) as RunComparison;
    expect(json.params).toEqual([{ key: "epochs", values: { "run-a": 2, "run-b": 5 } }]);
    expect(json.metrics).toContainEqual({ key: "test_macro_f1", values: { "run-a": 0.87, "run-b": 0.92 } });
    const one = await cli("runs", "compare", "run-a");
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/at least two runs/);
  });
});
