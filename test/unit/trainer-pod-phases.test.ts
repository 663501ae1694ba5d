// The GKE pod of a contract trainer, played here as three processes sharing one folder, as its containers share
// one volume: `node trainer/main.ts stage`, the user's trainer with the contract's environment only, then
// `node trainer/main.ts ingest`. The Job's shape is pinned in jobs-gke.test.ts; this runs what its containers run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { catchUp } from "../../core/events/catch-up.ts";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import { getRun } from "../../core/jobs/run-record.ts";
import { argvOf, contractEnv, runLayout } from "../../core/jobs/trainer-contract.ts";
import { TrainerDefinitionSchema, type ContractJob } from "../../core/jobs/trainers.ts";
import { parseModelCard } from "../../core/registry/model-card.ts";
import { listVersions } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { smallDataset } from "../support/datasets.ts";

const MAIN = fileURLToPath(new URL("../../trainer/main.ts", import.meta.url));
const TRAINER = fileURLToPath(new URL("../support/contract-trainer.ts", import.meta.url));
const IMAGE = `europe-docker.pkg.dev/p/team/cnn@sha256:${"3".repeat(64)}`;
const CLASSES = ["ankle-boot", "bag", "coat", "dress", "pullover", "sandal", "shirt", "sneaker", "t-shirt", "trouser"];
const SUB = "pod-phases-test";

describe("a contract trainer's pod: stage, the user's image, ingest", { timeout: 60_000 }, () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-pod-"));
  const home = join(cwd, "home");
  let rt: Runtime;
  let datasetId: string;
  let trainFiles: number;
  let dir: string;

  beforeAll(async () => {
    rt = await openRuntime(loadConfig({ SIGHTLINE_HOME: home }, cwd), createLogger({}, { level: "CRITICAL" }));
    await rt.bus.ensureSubscription(SUB, ["sightline.training.completed", "sightline.training.failed"]);
    dir = await smallDataset({ classes: CLASSES, perClass: 12, splits: true });
    const { record } = await versionDataset(rt, dir);
    datasetId = record.id;
    trainFiles = record.splits.train!;
  }, 60_000);
  afterAll(async () => {
    await rt?.close();
    rmSync(cwd, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  /** One pod: the three containers in order, each a process; returns their exit codes. */
  function pod(name: string, mode: string): { codes: number[]; root: string } {
    const root = join(cwd, name);
    const job: ContractJob = {
      trainerName: "team-cnn",
      trainer: TrainerDefinitionSchema.parse({ image: IMAGE, args: { mode } }),
      args: { mode },
      seed: 0,
      fineTune: false,
      classes: CLASSES,
      runId: `run-${name}`,
    };
    // What GkeJobRunner gives Sightline's containers (the stores, the job) and, separately, the user's.
    const sightline = {
      ...process.env,
      SIGHTLINE_HOME: home,
      SIGHTLINE_DATASET: datasetId,
      SIGHTLINE_MODEL: name,
      SIGHTLINE_REQUEST_ID: `req-${name}`,
      SIGHTLINE_CONTRACT_JOB: JSON.stringify(job),
      SIGHTLINE_RUN_ROOT: root,
    };
    const user = {
      PATH: process.env.PATH,
      ...contractEnv({
        layout: runLayout(root),
        classes: CLASSES,
        seed: 0,
        args: job.args,
        runId: job.runId,
        fineTune: false,
      }),
    };
    const run = (args: string[], env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, args, { env, encoding: "utf8", timeout: 45_000 }).status ?? -1;
    const codes = [run([MAIN, "stage"], sightline)];
    codes.push(run([TRAINER, ...argvOf(job.args)], user));
    codes.push(run([MAIN, "ingest"], sightline));
    return { codes, root };
  }

  const events = async (): Promise<AnyCloudEvent[]> => {
    const out: AnyCloudEvent[] = [];
    await catchUp(
      rt.bus,
      SUB,
      ["sightline.training.completed", "sightline.training.failed"],
      async (e) => void out.push(e),
      { idleMs: 100 },
    );
    return out;
  };

  it("registers the image's model with the image as its trainer, timed from the end of staging", async () => {
    const { codes, root } = pod("pod-good", "fixed");
    expect(codes).toEqual([0, 0, 0]);
    expect(existsSync(join(root, "data", "training.jsonl"))).toBe(true);
    expect(
      readFileSync(join(root, "data", "training.jsonl"), "utf8")
        .trim()
        .split("\n"),
    ).toHaveLength(trainFiles);
    const [version] = await listVersions(rt.meta, "pod-good");
    expect(version?.image).toBe(IMAGE);
    const card = parseModelCard(await rt.blobs.get(version!.cardDigest), "pod-good:1");
    expect(card.trainer).toEqual({ kind: "image", name: "team-cnn", image: IMAGE, args: { mode: "fixed" } });
    expect(card.runId).toBe("run-pod-good");
    expect(card.trainingSeconds).toBeGreaterThan(0);
    expect(card.imagesPerSecond).toBeGreaterThan(0);
    expect(card.history).toEqual([{ step: 1, loss: 1 }]);
    expect((await events()).map((e) => [e.type, (e.data as { runId: string }).runId])).toContainEqual([
      "sightline.training.completed",
      "run-pod-good",
    ]);
  });

  it("registers nothing when the image wrote no model, and the ingest container publishes training.failed", async () => {
    const { codes } = pod("pod-bad", "no-model");
    expect(codes).toEqual([0, 0, 1]);
    expect(await listVersions(rt.meta, "pod-bad")).toEqual([]);
    const failed = (await events()).find(
      (e) => e.type === "sightline.training.failed" && (e.data as { runId: string }).runId === "run-pod-bad",
    );
    expect((failed?.data as { reason: string } | undefined)?.reason).toMatch(/wrote no model\.onnx/);
  });

  it("tracks both pods' runs: started by the stage container, finished by ingest with its outcome", async () => {
    const good = await getRun(rt.meta, "run-pod-good");
    const [version] = await listVersions(rt.meta, "pod-good");
    expect(good).toMatchObject({
      status: "succeeded",
      requestId: "req-pod-good",
      version: 1,
      trainer: { kind: "image", name: "team-cnn", image: IMAGE },
      params: { mode: "fixed" },
      tags: { trainer: "team-cnn", image: IMAGE },
      metrics: [{ step: 1, loss: 1 }],
      heldOut: version!.metrics,
    });
    expect(Date.parse(good!.startedAt)).toBeLessThan(Date.parse(good!.finishedAt!));
    expect(Object.keys(good!.phases ?? {})).toEqual(["train", "evaluate"]);
    expect(good!.artefacts?.map((a) => a.digest)).toContain(version!.modelDigest);
    const bad = await getRun(rt.meta, "run-pod-bad");
    expect(bad).toMatchObject({ status: "failed", reason: expect.stringMatching(/wrote no model\.onnx/) });
    expect(bad!.version).toBeUndefined();
  });
});
