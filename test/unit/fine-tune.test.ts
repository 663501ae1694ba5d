import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { catchUp } from "../../core/events/catch-up.ts";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import { modelLineage } from "../../core/lineage/queries.ts";
import { recordLineage } from "../../core/lineage/record.ts";
import { moveAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import { listVersions } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadTrainConfig } from "../../trainer/config.ts";
import { useWasmBackend } from "../../trainer/kernels/register.ts";
import { buildModel } from "../../trainer/model.ts";
import { exportOnnx } from "../../trainer/onnx/export.ts";
import { importOnnxWeights, WeightImportError } from "../../trainer/onnx/import-weights.ts";
import { runTraining } from "../../trainer/run.ts";
import { SAMPLE } from "../support/datasets.ts";

const SUB = "fine-tune-test";

describe("built-in trainer: fine-tuning from production", { timeout: 240_000 }, () => {
  const home = mkdtempSync(join(tmpdir(), "sightline-finetune-"));
  let rt: Runtime;
  let datasetId: string;

  beforeAll(async () => {
    rt = await openRuntime(loadConfig({ SIGHTLINE_HOME: home }, home), createLogger({}, { level: "CRITICAL" }));
    await rt.bus.ensureSubscription(SUB, ["sightline.training.completed"]);
    datasetId = (await versionDataset(rt, SAMPLE)).record.id;
  });
  afterAll(async () => rt?.close());

  it("sets a model's weights from the ONNX file it was exported to, exactly; refuses another architecture's", async () => {
    await useWasmBackend(1);
    const shape = { architecture: "cnn-bn" as const, height: 28, width: 28, channels: 1 as const, classes: 10 };
    const trained = buildModel({ ...shape, seed: 1 });
    const onnx = exportOnnx(trained, { metadata: {} });
    const fresh = buildModel({ ...shape, seed: 2 });
    const x = tf.randomUniform([4, 28, 28, 1], 0, 1, "float32", 5);
    const before = Array.from((fresh.predict(x) as tf.Tensor).dataSync());
    expect(importOnnxWeights(fresh, onnx)).toBe(fresh.weights.length);
    const want = Array.from((trained.predict(x) as tf.Tensor).dataSync());
    const got = Array.from((fresh.predict(x) as tf.Tensor).dataSync());
    expect(got).toEqual(want);
    expect(got).not.toEqual(before);
    expect(() => importOnnxWeights(buildModel({ ...shape, architecture: "cnn", seed: 1 }), onnx)).toThrow(
      WeightImportError,
    );
  });

  it("starts from production's weights: the first epoch's loss is far below a from-scratch run's, and lineage names the parent", async () => {
    const config = await loadTrainConfig(undefined, { epochs: 2, limit: 1200 });
    const base = { model: "fmnist", datasetId, config, actor: "tester" };
    const v1 = await runTraining(rt, { ...base, requestId: "req-v1" });
    await moveAlias(rt.meta, {
      name: "fmnist",
      alias: PRODUCTION,
      to: v1.version.version,
      expected: null,
      actor: "tester",
      reason: "test",
      action: "promotion",
    });
    const once = { ...config, epochs: 1 };
    const scratch = await runTraining(rt, { ...base, config: once, requestId: "req-scratch" });
    const tuned = await runTraining(rt, { ...base, config: once, requestId: "req-tuned", fineTune: true });
    const firstLoss = (c: typeof v1.card): number => (c.history[0] as { loss: number }).loss;
    expect(scratch.card.parentVersion).toBeUndefined();
    expect(tuned.card.parentVersion).toBe(1);
    // From scratch, epoch 1 starts at ln(10) ≈ 2.3; production's weights already classify the data.
    expect(firstLoss(tuned.card)).toBeLessThan(0.75 * firstLoss(scratch.card));
    expect(firstLoss(tuned.card)).toBeLessThan((v1.card.history.at(-1) as { loss: number }).loss * 1.1);

    const events: AnyCloudEvent[] = [];
    await catchUp(rt.bus, SUB, ["sightline.training.completed"], async (e) => void events.push(e), { idleMs: 100 });
    for (const e of events) await recordLineage(rt.meta, e);
    const lineage = await modelLineage(rt.meta, "fmnist", tuned.version.version);
    expect(lineage.model.parentVersion).toBe(1);
    expect((await modelLineage(rt.meta, "fmnist", scratch.version.version)).model.parentVersion).toBeUndefined();
  });

  it("fails clearly when there is no production version to start from, and registers nothing", async () => {
    const config = await loadTrainConfig(undefined, { epochs: 1, limit: 100 });
    await expect(
      runTraining(rt, {
        model: "nothing-here",
        datasetId,
        config,
        actor: "tester",
        requestId: "req-none",
        fineTune: true,
      }),
    ).rejects.toThrow(/nothing-here/);
    expect(await listVersions(rt.meta, "nothing-here")).toEqual([]);
  });
});
