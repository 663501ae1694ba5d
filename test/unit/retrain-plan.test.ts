import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { TrainerDefinitionSchema, type TrainerDefinition } from "../../core/jobs/trainers.ts";
import { moveAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import type { TrainerIdentity } from "../../core/registry/model-card.ts";
import { registerVersion } from "../../core/registry/model-version.ts";
import { retrainJob } from "../../core/retrain/plan.ts";
import { RetrainPolicySchema } from "../../core/retrain/policy.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { digestOf } from "../../core/util/digest.ts";
import { putDataset } from "../support/registry.ts";
import { testCard } from "../support/model-card.ts";

const DATASET = "a".repeat(64);
const IMAGE = `europe-docker.pkg.dev/p/team/cnn@sha256:${"1".repeat(64)}`;

describe("retrain plan: which trainer retrains a model, and how", () => {
  let rt: Runtime;
  const trainers: Record<string, TrainerDefinition> = {
    builtin: TrainerDefinitionSchema.parse({ builtin: true, config: "trainer/configs/reference-cnn-bn.yaml" }),
    "pytorch-cnn": TrainerDefinitionSchema.parse({
      command: "python3 examples/pytorch/train.py",
      image: IMAGE,
      args: { epochs: 2, lr: 0.001 },
    }),
  };
  const produce = async (trainer: TrainerIdentity): Promise<void> => {
    const { digest } = await rt.blobs.put(
      Buffer.from(JSON.stringify(testCard({ name: "rgb", datasetId: DATASET, trainer }))),
    );
    const v = await registerVersion(rt.meta, {
      name: "rgb",
      datasetId: DATASET,
      requestId: "r",
      runId: "run-1",
      modelDigest: digestOf("m"),
      cardDigest: digest,
      profileDigest: null,
      configHash: "h",
      gitCommit: null,
      image: null,
      metrics: {},
    });
    await moveAlias(rt.meta, {
      name: "rgb",
      alias: PRODUCTION,
      to: v.version,
      expected: null,
      actor: "t",
      reason: "t",
      action: "promotion",
    });
  };

  beforeEach(async () => {
    const home = mkdtempSync(join(tmpdir(), "sightline-plan-"));
    rt = await openRuntime(loadConfig({ SIGHTLINE_HOME: home }, home), createLogger({}, { level: "CRITICAL" }));
    await putDataset(rt.meta, DATASET);
  });
  afterEach(async () => rt.close());

  it("uses the built-in trainer when nothing names another and production was trained by it (or there is none)", async () => {
    const policy = RetrainPolicySchema.parse({ epochs: 4 });
    expect(await retrainJob({ meta: rt.meta, blobs: rt.blobs, policy, trainers }, "rgb", DATASET)).toEqual({
      configPath: "trainer/configs/reference-cnn-bn.yaml",
      epochs: 4,
    });
    await produce({ kind: "builtin", args: {} });
    expect(
      await retrainJob(
        { meta: rt.meta, blobs: rt.blobs, policy: RetrainPolicySchema.parse({ mode: "fine-tune" }), trainers },
        "rgb",
        DATASET,
      ),
    ).toEqual({ configPath: "trainer/configs/reference-cnn-bn.yaml", fineTune: true });
  });

  it("retrains with the trainer that made production, by name, in the policy's mode", async () => {
    await produce({
      kind: "command",
      name: "pytorch-cnn",
      command: ["python3", "examples/pytorch/train.py"],
      args: { epochs: 9 },
    });
    const job = await retrainJob(
      { meta: rt.meta, blobs: rt.blobs, policy: RetrainPolicySchema.parse({ mode: "fine-tune" }), trainers },
      "rgb",
      DATASET,
    );
    expect(job.contract).toMatchObject({
      trainerName: "pytorch-cnn",
      trainer: trainers["pytorch-cnn"],
      args: { epochs: 2, lr: 0.001 },
      fineTune: true,
      classes: ["a", "b"],
      seed: 0,
    });
    expect(job.contract?.runId).toMatch(/^run-\d{14}-[0-9a-f]{8}$/);
  });

  it("rebuilds an unnamed trainer from production's card", async () => {
    await produce({ kind: "command", command: ["python3", "train.py", "--x"], cwd: "/work/team", args: { epochs: 3 } });
    const job = await retrainJob(
      { meta: rt.meta, blobs: rt.blobs, policy: RetrainPolicySchema.parse({}), trainers },
      "rgb",
      DATASET,
    );
    expect(job.contract).toMatchObject({
      trainer: { command: ["python3", "train.py", "--x"], cwd: "/work/team", args: { epochs: 3 } },
      fineTune: false,
    });
    expect(job.contract?.trainerName).toBeUndefined();
  });

  it("lets the policy name the trainer per model over its default, and refuses one the trainers file lacks", async () => {
    await produce({ kind: "builtin", args: {} });
    const policy = RetrainPolicySchema.parse({
      trainer: "builtin",
      models: { rgb: { trainer: "pytorch-cnn", mode: "scratch" } },
      epochs: 5,
    });
    const job = await retrainJob({ meta: rt.meta, blobs: rt.blobs, policy, trainers }, "rgb", DATASET);
    expect(job.contract).toMatchObject({ trainerName: "pytorch-cnn", args: { epochs: 5, lr: 0.001 }, fineTune: false });
    expect(await retrainJob({ meta: rt.meta, blobs: rt.blobs, policy, trainers }, "fmnist", DATASET)).toEqual({
      configPath: "trainer/configs/reference-cnn-bn.yaml",
      epochs: 5,
    });
    await expect(
      retrainJob({ meta: rt.meta, policy: RetrainPolicySchema.parse({ trainer: "keras" }), trainers }, "rgb", DATASET),
    ).rejects.toThrow(/trainer "keras", which the trainers file does not define/);
  });
});
