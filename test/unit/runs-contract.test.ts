/**
 * Experiment tracking of a bring-your-own trainer (trainer/contract/run.ts): the tiny real Node trainer of
 * test/support/contract-trainer.ts, run as a child process; the run record's tracking fields and the read model.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import type { TrainerArgs } from "../../core/jobs/trainer-contract.ts";
import { TrainerDefinitionSchema } from "../../core/jobs/trainers.ts";
import { compareRuns, getRun, listRuns } from "../../core/runs/queries.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { runContractTraining } from "../../trainer/contract/run.ts";
import { smallDataset } from "../support/datasets.ts";

const TRAINER = fileURLToPath(new URL("../support/contract-trainer.ts", import.meta.url));
const CLASSES = ["bag", "sneaker", "trouser"];

describe("experiment tracking of a bring-your-own trainer", { timeout: 60_000 }, () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-runs-contract-"));
  const home = join(cwd, "home");
  let rt: Runtime;
  let datasetId: string;
  let dir: string | undefined;

  beforeAll(async () => {
    rt = await openRuntime(loadConfig({ SIGHTLINE_HOME: home }, cwd), createLogger({}, { level: "CRITICAL" }));
    dir = await smallDataset({ classes: CLASSES, perClass: 8, splits: true });
    datasetId = (await versionDataset(rt, dir)).record.id;
  });
  afterAll(async () => {
    await rt?.close();
    for (const d of [cwd, dir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  const train = (requestId: string, args: TrainerArgs) =>
    runContractTraining(rt, {
      requestId,
      model: "byo",
      datasetId,
      actor: "tester",
      trainer: TrainerDefinitionSchema.parse({ command: [process.execPath, TRAINER], cwd, timeout: 60 }),
      trainerName: "node-nearest-mean",
      args,
      seed: 1,
      fineTune: false,
      home,
      gitCommit: "c0ffee",
      tags: { trigger: "cli" },
    });

  it("records args as params, tags, phases, artefacts and the held-out metrics; a failing trainer's run says failed", async () => {
    const { runId, version } = await train("req-good", { mode: "good", lr: 0.5 });
    const run = await getRun(rt.meta, runId);
    expect(run).toMatchObject({
      status: "succeeded",
      version: version.version,
      params: { mode: "good", lr: 0.5 },
      tags: { trigger: "cli", trainer: "node-nearest-mean", actor: "tester", git_commit: "c0ffee" },
      heldOut: version.metrics,
    });
    expect(Object.keys(run.phases ?? {})).toEqual(["stage", "train", "evaluate"]);
    expect(run.imagesPerSecond).toBeGreaterThan(0);
    expect(run.artefacts?.map((a) => a.kind)).toEqual(["onnx", "card", "profile", "confusion_matrix"]);
    // The platform's accuracy replaces the trainer's self-reported test_accuracy among the final metrics.
    expect(run.final.test_accuracy).toBe(version.metrics.accuracy);
    expect(run.final.step).toBe(run.metrics.findLast((m) => m.step !== undefined)?.step);

    await expect(train("req-fail", { mode: "fail", lr: 0.1 })).rejects.toThrow(/exited with code 3/);
    const { runs } = await listRuns(rt.meta, { filter: 'status = "failed" and params.mode = "fail"' });
    expect(runs).toEqual([
      expect.objectContaining({
        status: "failed",
        trainer: "node-nearest-mean",
        reason: expect.stringMatching(/exited with code 3/),
      }),
    ]);
    expect(Object.keys((await getRun(rt.meta, runs[0]!.runId)).phases ?? {})).toEqual(["stage", "train"]);

    const c = await compareRuns(rt.meta, [runId, runs[0]!.runId]);
    expect(c.params).toEqual([
      { key: "lr", values: { [runId]: 0.5, [runs[0]!.runId]: 0.1 } },
      { key: "mode", values: { [runId]: "good", [runs[0]!.runId]: "fail" } },
    ]);
  });
});
