// The bring-your-own-model loop with a real PyTorch trainer (examples/pytorch/train.py, Debian python3-torch) on
// the RGB dataset (examples/rgb-fashion): train → register → gate against a built-in model → serve → /predict (JPEG
// and PNG) and OIP → drift on shifted traffic → retrain with the same trainer → gate → hot swap.
import { spawnSync } from "node:child_process";
import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { steadyLoad, type Image } from "../../cli/demo/traffic.ts";
import { poll } from "../../cli/demo/watch.ts";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { listReports } from "../../core/drift/detect.ts";
import { DriftPolicySchema } from "../../core/drift/drift-policy.ts";
import { preprocess } from "../../core/imaging/preprocess.ts";
import { getRun } from "../../core/jobs/run-record.ts";
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

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PYTHON = "/usr/bin/python3";
const torch = spawnSync(PYTHON, ["-c", "import torch, torchvision, onnx, PIL"], { stdio: "ignore" }).status === 0;
const idx = spawnSync("test", ["-e", "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"]).status === 0;
const ready = torch && idx;
if (!ready && process.env.CI === "true") throw new Error("CI=true: the PyTorch example needs python3-torch python3-torchvision python3-onnx python3-pil and dataset-fashion-mnist (.ci/run installs them)");
if (!ready) console.warn("skipping the PyTorch end-to-end test: apt-get install python3-torch python3-torchvision python3-onnx python3-pil dataset-fashion-mnist");

const quiet = createLogger({ component: "byo-e2e" }, { level: "WARNING" });
type PredictBody = { model: { name: string; version: number }; predictions: { label: string; scores: number[] }[] };

/** Every image of a split folder, with its label. */
async function split(dir: string): Promise<(Image & { file: string })[]> {
  const out: (Image & { file: string })[] = [];
  for (const label of (await readdir(dir)).sort()) for (const f of (await readdir(join(dir, label))).sort()) out.push({ label, file: join(dir, label, f), bytes: await readFile(join(dir, label, f)) });
  return out;
}

describe.skipIf(!ready)("bring your own PyTorch model, end to end", { timeout: 900_000 }, () => {
  const cwd = mkdtempSync(join(tmpdir(), "sightline-byo-"));
  const home = join(cwd, "home");
  const policyFile = join(cwd, "promotion-policy.yaml");
  const trainersFile = join(cwd, "trainers.yaml");
  const env = { SIGHTLINE_HOME: home, SIGHTLINE_ACTOR: "tester", SIGHTLINE_TRAINERS: trainersFile, SIGHTLINE_PROMOTION_POLICY: policyFile };
  let rt: Runtime;
  let clean: string;
  let byo: ModelVersion;
  let byoCard: ModelCard;

  beforeAll(async () => {
    // PNG only, so the platform's evaluation and the script's own decode exactly the same pixels.
    clean = join(cwd, "rgb");
    await makeRgbFashion({ out: clean, perClass: 100, jpegFraction: 0 });
    // Small data and few epochs: the gate's absolute bar is lowered, its comparison with production is real.
    await writeFile(policyFile, "absolute: { accuracy: 0.3, macro_f1: 0.2 }\nrelative: { maxDrop: { accuracy: 0.15, macro_f1: 0.2 }, maxClassRecallDrop: 0.6 }\nrequireValidatedData: true\napproval: auto\n");
    await writeFile(trainersFile, `trainers:\n  pytorch-cnn:\n    command: ${PYTHON} examples/pytorch/train.py\n    cwd: ${ROOT}\n    args: { epochs: 6, lr: 0.003 }\n    timeout: 900\n`);
    rt = await openRuntime(loadConfig(env, cwd), quiet);
  });
  afterAll(async () => rt?.close());

  it("trains with the user's script, evaluates it through serving's preprocessing, and gates it against a built-in model", async () => {
    // Production today: the built-in trainer on the same data.
    const builtinConfig = join(cwd, "builtin.yaml");
    await writeFile(builtinConfig, "architecture: cnn\npreprocessing: { width: 64, height: 64, channels: 3 }\nepochs: 2\nthreads: 2\n");
    const builtin = await runCli(["train", "--dataset", clean, "--model", "rgb", "--config", builtinConfig, "--json"], { cwd, env });
    expect(builtin.code, builtin.stderr).toBe(0);
    const promoteBuiltin = await runCli(["promote", "rgb", "1", "--reason", "first model", "--policy", policyFile], { cwd, env });
    expect(promoteBuiltin.code, promoteBuiltin.stdout + promoteBuiltin.stderr).toBe(0);

    const run = await runCli(["train", "--dataset", clean, "--model", "rgb", "--trainer", "pytorch-cnn", "--json"], { cwd, env });
    expect(run.code, run.stderr).toBe(0);
    byo = JSON.parse(run.stdout) as ModelVersion;
    expect(byo.version).toBe(2);
    byoCard = parseModelCard(await rt.blobs.get(byo.cardDigest), "rgb:2");
    expect(byoCard.trainer).toMatchObject({ kind: "command", name: "pytorch-cnn", command: [PYTHON, "examples/pytorch/train.py"], args: { epochs: 6, lr: 0.003 } });
    expect(byoCard.preprocessing).toMatchObject({ layout: "NCHW", width: 64, height: 64, channels: 3, mean: [0.485, 0.456, 0.406] });
    expect(byoCard.onnx.outputs).toEqual({ scores: "logits", kind: "logits", embedding: "features" });
    expect(byoCard.gitCommit).toMatch(/^[0-9a-f]{40}$/);
    expect(byo.metrics.accuracy).toBeGreaterThan(0.4); // chance: 0.1

    // The script's own test accuracy (its last metrics line) against the platform's, on the same PNG pixels.
    const record = await getRun(rt.meta, byo.runId);
    expect(record?.status).toBe("succeeded");
    const own = record!.metrics.findLast((m) => m.test_accuracy !== undefined)?.test_accuracy;
    expect(own).toBeDefined();
    expect(Math.abs(own! - byo.metrics.accuracy!)).toBeLessThanOrEqual(0.002);
    expect(record!.metrics.filter((m) => m.loss !== undefined).length).toBeGreaterThanOrEqual(6);

    // The gate compares the PyTorch candidate with the built-in production model on the candidate's held-out data.
    const promote = await runCli(["promote", "rgb", "2", "--reason", "bring-your-own model", "--policy", policyFile, "--json"], { cwd, env });
    const decision = JSON.parse(promote.stdout) as Decision;
    const relative = decision.rules.find((r) => r.rule === "relative:accuracy");
    expect(relative?.detail, JSON.stringify(decision.rules)).toMatch(/production v1/);
    expect(promote.code, promote.stdout).toBe(0);
    expect((await getAlias(rt.meta, "rgb", PRODUCTION))?.version).toBe(2);
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
        retrainPolicy: RetrainPolicySchema.parse({ minSeverity: 0.25, minWindowSize: 200, cooldownMinutes: 0, maxConcurrentJobs: 1, dataset: "latest" }),
      });
      functions = await startEmbeddedFunctions(fctx);
      const config = loadServingConfig({}, { host: "127.0.0.1", port: 0, workers: 1, model: { name: "rgb", alias: PRODUCTION }, reloadPollMs: 300 });
      server = await startServer(rt, { ...config, predictionLog: { ...config.predictionLog, sampleRate: 1, embeddingRate: 0.2, flushMs: 250 } }, quiet);
    });
    afterAll(async () => {
      await server?.shutdown();
      await functions?.stop();
      await fctx?.close();
    });

    it("answers /predict for PNG and JPEG, and OIP with the same scores for the same pixels", async () => {
      const jpegDir = join(cwd, "jpeg");
      await makeRgbFashion({ out: jpegDir, perClass: 3, jpegFraction: 1, source: "t10k" });
      const jpegs = (await split(join(jpegDir, "train"))).slice(0, 6);
      for (const image of jpegs) {
        const res = await fetch(`${server.url}/predict`, { method: "POST", headers: { "content-type": "image/jpeg" }, body: image.bytes });
        expect(res.status).toBe(200);
        const body = (await res.json()) as PredictBody;
        expect(body.model).toEqual({ name: "rgb", version: 2 });
        expect(body.predictions[0]!.scores).toHaveLength(10);
      }
      const png = (await split(join(clean, "test")))[0]!;
      const predicted = (await (await fetch(`${server.url}/predict`, { method: "POST", headers: { "content-type": "image/png" }, body: png.bytes })).json()) as PredictBody;
      const pixels = await preprocess(png.bytes, byoCard.preprocessing);
      const oip = await fetch(`${server.url}/v2/models/rgb/infer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ inputs: [{ name: "pixels", datatype: "FP32", shape: [1, 3, 64, 64], data: Array.from(pixels) }], outputs: [{ name: "probabilities" }] }),
      });
      expect(oip.status).toBe(200);
      const answer = (await oip.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
      expect(answer.outputs[0]).toMatchObject({ name: "probabilities", shape: [1, 10] });
      answer.outputs[0]!.data.forEach((p, i) => expect(p).toBeCloseTo(predicted.predictions[0]!.scores[i]!, 5));
    });

    it("detects drift in shifted traffic, retrains with the same PyTorch trainer, gates and hot-swaps", async () => {
      // The labelling team's shifted images join the data (dataset: latest), and shifted traffic starts.
      const shiftedDir = join(cwd, "shifted");
      await makeRgbFashion({ out: shiftedDir, perClass: 60, source: "t10k", shift: { brightness: 1.35, noise: 0.08 } });
      const next = join(cwd, "rgb-next");
      await cp(clean, next, { recursive: true });
      for (const s of ["train", "validation", "test"]) {
        for (const label of await readdir(join(shiftedDir, s))) {
          await mkdir(join(next, s, label), { recursive: true });
          for (const f of await readdir(join(shiftedDir, s, label))) await cp(join(shiftedDir, s, label, f), join(next, s, label, `shifted-${f}`));
        }
      }
      const versioned = await runCli(["data", "version", next, "--json"], { cwd, env });
      expect(versioned.code, versioned.stderr).toBe(0);
      const traffic = [...(await split(join(shiftedDir, "train"))), ...(await split(join(shiftedDir, "test")))];
      const since = new Date().toISOString();
      const load = steadyLoad(server.url, traffic, 80);
      try {
        const report = await poll("a drifting report for rgb:2", async () => (await listReports(rt.meta, "rgb", 2)).find((r) => r.createdAt > since && r.drift), 120_000);
        const decision = await poll("the retrain decision", async () => (await rt.meta.get(RETRAIN_DECISIONS, report.reportId))?.data as Record<string, string> | undefined, 30_000);
        expect(decision.outcome, decision.reason).toBe("started");
        const v3 = await poll(
          "the retrained version",
          async () => {
            const status = await fctx.jobs.status(decision.job!);
            if (status?.state === "failed") throw new Error(`retraining failed: ${status.message}`);
            return (await listVersions(rt.meta, "rgb")).find((v) => v.requestId === decision.requestId);
          },
          600_000,
          500,
        );
        const card = parseModelCard(await rt.blobs.get(v3.cardDigest), "rgb:3");
        expect(card.trainer).toMatchObject({ kind: "command", name: "pytorch-cnn", command: [PYTHON, "examples/pytorch/train.py"] });
        expect(v3.datasetId).not.toBe(byo.datasetId);
        const gate = await poll(
          "the gate's decision",
          async () => (await rt.meta.query(DECISIONS, { where: [{ field: "model", op: "==", value: "rgb" }] })).map((d) => d.data as Decision).find((d) => d.version === v3.version && d.outcome !== "deciding"),
          120_000,
        );
        expect(gate.outcome, JSON.stringify(gate.rules.filter((r) => !r.passed))).toBe("promoted");
        await poll("serving to swap to rgb:3", async () => (server.context.host.current?.version === v3.version ? true : undefined), 60_000);
        const served = load.stats.sent;
        await poll("requests on the new version", async () => (load.stats.served.some((s) => s.version === v3.version) && load.stats.sent > served + 20 ? true : undefined), 60_000);
      } finally {
        await load.stop();
      }
      expect(load.stats.failed, JSON.stringify(load.stats.failures)).toBe(0);
    });
  });
});
