// The bring-your-own-model loop with a real PyTorch trainer (examples/pytorch/train.py, Debian python3-torch):
// train → register → gate against a built-in model → serve → /predict and OIP → drift on shifted traffic → retrain
// with the same trainer → gate → hot swap, on the bundled Fashion-MNIST sample; then the same script on the RGB
// dataset (examples/rgb-fashion), NCHW with ImageNet mean/std, served JPEG requests.
import { spawnSync } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildShiftedDataset } from "../../cli/demo/shifted-dataset.ts";
import { splitImages, steadyLoad } from "../../cli/demo/traffic.ts";
import { poll } from "../../cli/demo/watch.ts";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { listReports } from "../../core/drift/detect.ts";
import { DriftPolicySchema } from "../../core/drift/drift-policy.ts";
import { preprocess, type PreprocessSpec } from "../../core/imaging/preprocess.ts";
import { getRun } from "../../core/jobs/run-record.ts";
import { modelLineage } from "../../core/lineage/queries.ts";
import { getAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import { parseModelCard, type ModelCard } from "../../core/registry/model-card.ts";
import { listVersions, type ModelVersion } from "../../core/registry/model-version.ts";
import { DECISIONS, type Decision } from "../../core/registry/promote.ts";
import { RetrainPolicySchema } from "../../core/retrain/policy.ts";
import { RETRAIN_DECISIONS } from "../../core/retrain/trigger.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { makeRgbFashion } from "../../examples/rgb-fashion/make-dataset.ts";
import { openFunctionContext, type FunctionContext } from "../../functions/context.ts";
import { startEmbeddedFunctions, type EmbeddedFunctions } from "../../functions/embedded.ts";
import { loadServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { runCli } from "../support/cli.ts";
import { SAMPLE } from "../support/datasets.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PYTHON = "/usr/bin/python3";
const torch = spawnSync(PYTHON, ["-c", "import torch, torchvision, onnx, PIL"], { stdio: "ignore" }).status === 0;
const idx = spawnSync("test", ["-e", "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"]).status === 0;
const ready = torch && idx;
if (!ready && process.env.CI === "true")
  throw new Error(
    "CI=true: the PyTorch example needs python3-torch python3-torchvision python3-onnx python3-pil and dataset-fashion-mnist (.ci/run installs them)",
  );
if (!ready)
  console.warn(
    "skipping the PyTorch end-to-end test: apt-get install python3-torch python3-torchvision python3-onnx python3-pil dataset-fashion-mnist",
  );

const quiet = createLogger({ component: "byo-e2e" }, { level: "WARNING" });
type PredictBody = { model: { name: string; version: number }; predictions: { label: string; scores: number[] }[] };

const predict = async (url: string, image: Buffer, type: string): Promise<{ status: number; body: PredictBody }> => {
  const res = await fetch(`${url}/predict`, { method: "POST", headers: { "content-type": type }, body: image });
  return { status: res.status, body: (await res.json()) as PredictBody };
};

/** OIP's answer for one image preprocessed by the model's card, as a client holding the card would send it. */
async function oipScores(url: string, model: string, card: ModelCard, image: Buffer): Promise<number[]> {
  const spec: PreprocessSpec = card.preprocessing;
  const pixels = await preprocess(image, spec);
  const shape =
    spec.layout === "NCHW" ? [1, spec.channels, spec.height, spec.width] : [1, spec.height, spec.width, spec.channels];
  const res = await fetch(`${url}/v2/models/${model}/infer`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      inputs: [{ name: card.onnx.input, datatype: "FP32", shape, data: Array.from(pixels) }],
      outputs: [{ name: "probabilities" }],
    }),
  });
  expect(res.status).toBe(200);
  const answer = (await res.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
  expect(answer.outputs[0]).toMatchObject({ name: "probabilities", shape: [1, card.classes.length] });
  return answer.outputs[0]!.data;
}

describe.skipIf(!ready)("bring your own PyTorch model, end to end", { timeout: 900_000 }, () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-byo-"));
  const home = join(cwd, "home");
  const policyFile = join(cwd, "promotion-policy.yaml");
  const trainersFile = join(cwd, "trainers.yaml");
  const env = {
    SIGHTLINE_HOME: home,
    SIGHTLINE_ACTOR: "tester",
    SIGHTLINE_TRAINERS: trainersFile,
    SIGHTLINE_PROMOTION_POLICY: policyFile,
  };
  let rt: Runtime;
  let byo: ModelVersion;
  let byoCard: ModelCard;

  beforeAll(async () => {
    // The demo's policy, with room for two short runs of different trainers on 3,600 images.
    await writeFile(
      policyFile,
      "absolute: { accuracy: 0.6, macro_f1: 0.55 }\nrelative: { maxDrop: { accuracy: 0.05, macro_f1: 0.06 }, maxClassRecallDrop: 0.3 }\nrequireValidatedData: true\napproval: auto\n",
    );
    await writeFile(
      trainersFile,
      `trainers:\n  pytorch-cnn:\n    command: ${PYTHON} examples/pytorch/train.py\n    cwd: ${ROOT}\n    args: { epochs: 5, batch-size: 32, width: 28, height: 28, channels: 1 }\n    timeout: 900\n`,
    );
    rt = await openRuntime(loadConfig(env, cwd), quiet);
  });
  afterAll(async () => rt?.close());

  it("trains with the user's script, evaluates it through serving's preprocessing, and gates it against a built-in model", async () => {
    // Production today: a short run of the built-in CNN, which the PyTorch candidate must not be worse than.
    const builtin = await runCli(
      ["train", "--dataset", SAMPLE, "--model", "fmnist", "--epochs", "1", "--limit", "1200", "--json"],
      { cwd, env },
    );
    expect(builtin.code, builtin.stderr).toBe(0);
    const first = await runCli(["promote", "fmnist", "1", "--reason", "first model"], { cwd, env });
    expect(first.code, first.stdout + first.stderr).toBe(0);

    const run = await runCli(
      ["train", "--dataset", SAMPLE, "--model", "fmnist", "--trainer", "pytorch-cnn", "--json"],
      { cwd, env },
    );
    expect(run.code, run.stderr).toBe(0);
    byo = JSON.parse(run.stdout) as ModelVersion;
    expect(byo.version).toBe(2);
    byoCard = parseModelCard(await rt.blobs.get(byo.cardDigest), "fmnist:2");
    expect(byoCard.trainer).toMatchObject({
      kind: "command",
      name: "pytorch-cnn",
      command: [PYTHON, "examples/pytorch/train.py"],
      args: { epochs: 5, "batch-size": 32, width: 28, height: 28, channels: 1 },
    });
    expect(byoCard.preprocessing).toMatchObject({ layout: "NCHW", width: 28, height: 28, channels: 1 });
    expect(byoCard.onnx.outputs).toEqual({ scores: "logits", kind: "logits", embedding: "features" });
    expect(byoCard.gitCommit).toMatch(/^[0-9a-f]{40}$/);
    expect(byoCard.robustness?.images).toBeGreaterThan(0);
    expect(byo.metrics.accuracy).toBeGreaterThan(0.6); // chance: 0.1

    // The script's own test accuracy (its last metrics line) against the platform's, on the same PNG pixels.
    const record = await getRun(rt.meta, byo.runId);
    expect(record?.status).toBe("succeeded");
    const own = record!.metrics.findLast((m) => m.test_accuracy !== undefined)?.test_accuracy;
    expect(own).toBeDefined();
    expect(Math.abs(own! - byo.metrics.accuracy!)).toBeLessThanOrEqual(0.002);
    expect(record!.metrics.filter((m) => m.loss !== undefined)).toHaveLength(5);

    // The gate compares the PyTorch candidate with the built-in production model on the candidate's held-out data.
    const promote = await runCli(["promote", "fmnist", "2", "--reason", "bring-your-own model", "--json"], {
      cwd,
      env,
    });
    const decision = JSON.parse(promote.stdout) as Decision;
    const relative = decision.rules.find((r) => r.rule === "relative:accuracy");
    expect(relative?.detail, JSON.stringify(decision.rules)).toMatch(/production v1/);
    expect(promote.code, JSON.stringify(decision.rules.filter((r) => !r.passed))).toBe(0);
    expect((await getAlias(rt.meta, "fmnist", PRODUCTION))?.version).toBe(2);
  });

  describe("served, watched and retrained", () => {
    let server: RunningServer;
    let functions: EmbeddedFunctions;
    let fctx: FunctionContext;

    beforeAll(async () => {
      fctx = await openFunctionContext({
        env: { ...process.env, ...env },
        config: rt.config,
        log: quiet,
        driftPolicy: DriftPolicySchema.parse({}),
        // No trainer named: the one that trained production (the PyTorch script) retrains it.
        retrainPolicy: RetrainPolicySchema.parse({
          minSeverity: 0.25,
          minWindowSize: 200,
          cooldownMinutes: 0,
          maxConcurrentJobs: 1,
          dataset: "latest",
        }),
      });
      functions = await startEmbeddedFunctions(fctx);
      const config = loadServingConfig(
        {},
        { host: "127.0.0.1", port: 0, workers: 1, model: { name: "fmnist", alias: PRODUCTION }, reloadPollMs: 300 },
      );
      server = await startServer(
        rt,
        { ...config, predictionLog: { ...config.predictionLog, sampleRate: 1, embeddingRate: 0.2, flushMs: 250 } },
        quiet,
      );
    });
    afterAll(async () => {
      await server?.shutdown();
      await functions?.stop();
      await fctx?.close();
    });

    it("answers /predict, and OIP with the same scores for the same pixels (NCHW)", async () => {
      const image = (await splitImages(join(SAMPLE, "test")))[0]!;
      const { status, body } = await predict(server.url, image.bytes, "image/png");
      expect(status).toBe(200);
      expect(body.model).toEqual({ name: "fmnist", version: 2 });
      const scores = await oipScores(server.url, "fmnist", byoCard, image.bytes);
      scores.forEach((p, i) => expect(p).toBeCloseTo(body.predictions[0]!.scores[i]!, 5));
    });

    it("detects drift in shifted traffic, retrains with the same PyTorch trainer, gates and hot-swaps without a failed request", async () => {
      // The labelling team's shifted images join the data (dataset: latest), and shifted traffic starts.
      const shiftedDir = join(cwd, "fmnist-shifted");
      await buildShiftedDataset(SAMPLE, shiftedDir);
      const versioned = await runCli(["data", "version", shiftedDir, "--json"], { cwd, env });
      expect(versioned.code, versioned.stderr).toBe(0);
      const traffic = await splitImages(join(shiftedDir, "test"), (f) => f.startsWith("shifted-"));
      const since = new Date().toISOString();
      const load = steadyLoad(server.url, traffic, 80);
      let v3: ModelVersion;
      try {
        const report = await poll(
          "a drifting report for fmnist:2",
          async () => (await listReports(rt.meta, "fmnist", 2)).find((r) => r.createdAt > since && r.drift),
          120_000,
        );
        const decision = await poll(
          "the retrain decision",
          async () =>
            (await rt.meta.get(RETRAIN_DECISIONS, report.reportId))?.data as Record<string, string> | undefined,
          30_000,
        );
        expect(decision.outcome, decision.reason).toBe("started");
        v3 = await poll(
          "the retrained version",
          async () => {
            const status = await fctx.jobs.status(decision.job!);
            if (status?.state === "failed") throw new Error(`retraining failed: ${status.message}`);
            return (await listVersions(rt.meta, "fmnist")).find((v) => v.requestId === decision.requestId);
          },
          600_000,
          500,
        );
        const card = parseModelCard(await rt.blobs.get(v3.cardDigest), "fmnist:3");
        expect(card.trainer).toMatchObject({
          kind: "command",
          name: "pytorch-cnn",
          command: [PYTHON, "examples/pytorch/train.py"],
        });
        expect(v3.datasetId).not.toBe(byo.datasetId);
        const gate = await poll(
          "the gate's decision",
          async () =>
            (await rt.meta.query(DECISIONS, { where: [{ field: "model", op: "==", value: "fmnist" }] }))
              .map((d) => d.data as Decision)
              .find((d) => d.version === v3.version && d.outcome !== "deciding"),
          120_000,
        );
        expect(gate.outcome, JSON.stringify(gate.rules.filter((r) => !r.passed))).toBe("promoted");
        await poll(
          "serving to swap to fmnist:3",
          async () => (server.context.host.current?.version === v3.version ? true : undefined),
          60_000,
        );
        const served = load.stats.sent;
        await poll(
          "requests on the new version",
          async () =>
            load.stats.served.some((s) => s.version === v3.version) && load.stats.sent > served + 20 ? true : undefined,
          60_000,
        );
      } finally {
        await load.stop();
      }
      expect(load.stats.failed, JSON.stringify(load.stats.failures)).toBe(0);
      // Lineage names the run's trainer: the retrained version's run points at the PyTorch command's commit.
      const lineage = await modelLineage(rt.meta, "fmnist", v3.version);
      expect(lineage.run?.gitCommit).toMatch(/^[0-9a-f]{40}$/);
      expect(lineage.request?.trigger).toBe("retrain");
    });
  });

  it("trains the same script on RGB images (NCHW, ImageNet mean/std) and serves JPEG requests", async () => {
    const rgb = join(cwd, "rgb");
    await makeRgbFashion({ out: rgb, perClass: 40 });
    const run = await runCli(
      [
        "train",
        "--dataset",
        rgb,
        "--model",
        "rgb",
        "--command",
        `${PYTHON} ${join(ROOT, "examples/pytorch/train.py")}`,
        "--arg",
        "epochs=1",
        "--json",
      ],
      { cwd, env },
    );
    expect(run.code, run.stderr).toBe(0);
    const version = JSON.parse(run.stdout) as ModelVersion;
    const card = parseModelCard(await rt.blobs.get(version.cardDigest), "rgb:1");
    expect(card.preprocessing).toMatchObject({
      layout: "NCHW",
      width: 64,
      height: 64,
      channels: 3,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
    });
    const config = loadServingConfig(
      {},
      { host: "127.0.0.1", port: 0, workers: 1, model: { name: "rgb", version: version.version }, reloadPollMs: 300 },
    );
    const server = await startServer(rt, config, quiet);
    try {
      const test = join(rgb, "test");
      const images: { file: string; bytes: Buffer }[] = [];
      for (const label of await readdir(test))
        for (const f of await readdir(join(test, label)))
          images.push({ file: f, bytes: await readFile(join(test, label, f)) });
      const jpegs = images.filter((i) => i.file.endsWith(".jpg"));
      expect(jpegs.length).toBeGreaterThan(3);
      for (const image of jpegs) {
        const { status, body } = await predict(server.url, image.bytes, "image/jpeg");
        expect(status).toBe(200);
        expect(body.model).toEqual({ name: "rgb", version: version.version });
        expect(body.predictions[0]!.scores).toHaveLength(10);
      }
      const png = images.find((i) => i.file.endsWith(".png"))!;
      const { body } = await predict(server.url, png.bytes, "image/png");
      const scores = await oipScores(server.url, "rgb", card, png.bytes);
      scores.forEach((p, i) => expect(p).toBeCloseTo(body.predictions[0]!.scores[i]!, 5));
    } finally {
      await server.shutdown();
    }
  });
});
