import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { parseProfile } from "../../core/drift/profile.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { LINEAGE_SUBSCRIPTION } from "../../core/events/subscriptions.ts";
import { EVENT_TYPES } from "../../core/events/schemas.ts";
import { catchUp } from "../../core/events/catch-up.ts";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import { getAlias } from "../../core/registry/aliases.ts";
import { parseModelCard } from "../../core/registry/model-card.ts";
import { listVersions } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadTrainConfig } from "../../trainer/config.ts";
import { OnnxEvaluator } from "../../evaluation/onnx-evaluator.ts";
import { runTraining } from "../../trainer/run.ts";
import { runCli } from "../support/cli.ts";
import { SAMPLE } from "../support/datasets.ts";

const CLI = fileURLToPath(new URL("../../cli/sightline.ts", import.meta.url));

describe("trainer on the bundled sample", { timeout: 240_000 }, () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-train-"));
  const env = { SIGHTLINE_HOME: join(cwd, "home"), SIGHTLINE_ACTOR: "tester" };
  let rt: Runtime;
  let datasetId: string;

  beforeAll(async () => {
    rt = await openRuntime(loadConfig(env, cwd), createLogger({}, { level: "CRITICAL" }));
    datasetId = (await versionDataset(rt, SAMPLE)).record.id;
  });
  afterAll(async () => {
    await rt?.close();
  });

  it("trains a model that beats chance by a wide margin and registers it as candidate with card, profile and ONNX", async () => {
    const run = await runCli(
      ["train", "--dataset", datasetId, "--model", "fmnist", "--epochs", "2", "--limit", "1600", "--json"],
      { cwd, env },
    );
    expect(run.code, run.stderr).toBe(0);
    const version = JSON.parse(run.stdout) as {
      version: number;
      metrics: Record<string, number>;
      cardDigest: string;
      profileDigest: string;
      modelDigest: string;
    };
    expect(version.version).toBe(1);
    // Chance is 0.1 on ten balanced classes.
    expect(version.metrics.accuracy).toBeGreaterThan(0.6);
    expect((await getAlias(rt.meta, "fmnist", "candidate"))?.version).toBe(1);

    const card = parseModelCard(await rt.blobs.get(version.cardDigest), version.cardDigest);
    expect(card).toMatchObject({
      name: "fmnist",
      datasetId,
      classes: expect.arrayContaining(["bag", "sneaker"]),
      onnx: { modelDigest: version.modelDigest },
    });
    expect(card.preprocessing).toMatchObject({ width: 28, height: 28, channels: 1 });
    const profile = parseProfile(await rt.blobs.get(version.profileDigest));
    expect(profile).toBeDefined();

    const session = await ort.InferenceSession.create(await rt.blobs.get(version.modelDigest));
    expect([...session.outputNames].sort()).toEqual(["embedding", "probabilities"]);

    const events: AnyCloudEvent[] = [];
    await catchUp(rt.bus, LINEAGE_SUBSCRIPTION, EVENT_TYPES, async (e) => void events.push(e));
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(["sightline.training.requested", "sightline.training.completed"]),
    );
    expect(events.find((e) => e.type === "sightline.training.completed")?.data).toMatchObject({
      model: "fmnist",
      version: 1,
      datasetId,
    });
  });

  it("evaluates a registered version from its ONNX file as the gate does, matching the trainer's own evaluation", async () => {
    const [version] = await listVersions(rt.meta, "fmnist");
    if (!version) throw new Error("the first test registers fmnist:1");
    const metrics = await new OnnxEvaluator(rt).evaluate(version, datasetId);
    expect(metrics.accuracy).toBe(version.metrics.accuracy);
    expect(metrics["recall/bag"]).toBe(version.metrics["recall/bag"]);
    expect(metrics.log_loss).toBeCloseTo(version.metrics.log_loss as number, 4);
  });

  it("gives the same metrics for the same seed, data and config", async () => {
    const config = await loadTrainConfig(undefined, { epochs: 1, limit: 256, seed: 7 });
    const quiet = { ...rt, log: createLogger({}, { level: "CRITICAL" }) };
    const a = await runTraining(quiet, { requestId: "det-a", model: "det", datasetId, config, actor: "tester" });
    const b = await runTraining(quiet, { requestId: "det-b", model: "det", datasetId, config, actor: "tester" });
    expect(b.version.metrics).toEqual(a.version.metrics);
    // The ONNX files differ only in their run ids; the profile holds every test prediction, confidence and a sample
    // of embeddings, so equal profiles mean equal weights.
    expect(b.version.profileDigest).toBe(a.version.profileDigest);
    expect(b.version.modelDigest).not.toBe(a.version.modelDigest);
  });

  it("leaves nothing registered when killed mid-run, and reports a failure with its reason", async () => {
    const child = spawn(
      process.execPath,
      [CLI, "train", "--dataset", datasetId, "--model", "killed", "--epochs", "50"],
      {
        cwd,
        env: { ...process.env, ...env, CI: "true" },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    await new Promise<void>((resolve, reject) => {
      let err = "";
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
        if (err.includes('"phase":"train"')) resolve();
      });
      child.once("exit", (code) => reject(new Error(`trainer exited (${code}) before training: ${err}`)));
    });
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    expect(await listVersions(rt.meta, "killed")).toEqual([]);
    expect(await getAlias(rt.meta, "killed", "candidate")).toBeUndefined();

    const missing = await runCli(["train", "--dataset", "f".repeat(64), "--model", "nodata"], { cwd, env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`dataset ${"f".repeat(64)} is not registered`);
    const events: AnyCloudEvent[] = [];
    await catchUp(rt.bus, LINEAGE_SUBSCRIPTION, EVENT_TYPES, async (e) => void events.push(e));
    expect(events.find((e) => e.type === "sightline.training.failed" && e.data.model === "nodata")?.data).toMatchObject(
      { reason: expect.stringContaining("not registered") },
    );
  });
});
