import { randomUUID } from "node:crypto";
import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";
import type { BlobStore } from "../core/blobs/blob-store.ts";
import { buildProfile, serializeProfile } from "../core/drift/profile.ts";
import { makeEvent } from "../core/events/envelope.ts";
import type { EventBus } from "../core/events/event-bus.ts";
import { FEATURE_NAMES, type ImageFeatures } from "../core/imaging/features.ts";
import { forEachBatch, ImagePool } from "../core/imaging/image-pool.ts";
import type { MetadataStore } from "../core/meta/metadata-store.ts";
import { CANDIDATE, setAliasIn } from "../core/registry/aliases.ts";
import type { ModelCard } from "../core/registry/model-card.ts";
import { registerVersion, type ModelVersion } from "../core/registry/model-version.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { configHash, type TrainConfig } from "./config.ts";
import { loadTrainingData, type SplitData } from "./data.ts";
import { evaluateClassifier, flatMetrics } from "./evaluate.ts";
import { useWasmBackend } from "./kernels/register.ts";
import { buildModel } from "./model.ts";
import { exportOnnx, ONNX_EMBEDDING, ONNX_INPUT, ONNX_OPSET, ONNX_PROBABILITIES } from "./onnx/export.ts";
import { predictSplit, trainModel, type BatchProgress, type EpochStats } from "./train.ts";

export interface TrainingRequest {
  requestId: string;
  model: string;
  datasetId: string;
  config: TrainConfig;
  /** Who asked, for the audit record of the `candidate` alias. */
  actor: string;
  gitCommit?: string | null;
  image?: string | null;
}

export interface TrainingHooks {
  onPhase?: (phase: "load" | "train" | "evaluate" | "export" | "register", detail?: Record<string, unknown>) => void;
  onLoad?: (done: number, total: number) => void;
  onBatch?: (p: BatchProgress) => void;
  onEpoch?: (e: EpochStats) => void;
}

type Runtime = { blobs: BlobStore; meta: MetadataStore; bus: EventBus; log: Logger };

/**
 * One training run, start to finish: load and preprocess the dataset, train, evaluate on the held-out test split,
 * export ONNX, build the drift reference profile, write model, profile and card as blobs, then register the
 * version and point `candidate` at it in ONE transaction, and publish `sightline.training.completed`. Everything
 * before that transaction only writes immutable content-addressed blobs, so a crash or kill leaves no registered
 * version and no card pointing anywhere; a failure publishes `sightline.training.failed` with the reason.
 */
export async function runTraining(rt: Runtime, request: TrainingRequest, hooks: TrainingHooks = {}): Promise<{ version: ModelVersion; card: ModelCard }> {
  const runId = `run-${new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}-${randomUUID().slice(0, 8)}`;
  const log = rt.log.child({ runId, requestId: request.requestId, model: request.model });
  try {
    return await run(rt, request, runId, hooks, log);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    log.error("training failed", { err });
    await rt.bus
      .publish(
        makeEvent(
          "sightline.training.failed",
          { requestId: request.requestId, runId, model: request.model, datasetId: request.datasetId, reason: reason.slice(0, 2000) },
          { id: `training.failed:${runId}`, subject: request.model },
        ),
      )
      .catch((publishErr: unknown) => log.error("could not publish training.failed", { err: publishErr }));
    throw err;
  }
}

async function run(rt: Runtime, request: TrainingRequest, runId: string, hooks: TrainingHooks, log: Logger): Promise<{ version: ModelVersion; card: ModelCard }> {
  const { config } = request;
  const backend = await useWasmBackend(config.threads);
  hooks.onPhase?.("load");
  const data = await loadTrainingData(rt, request.datasetId, config.preprocessing, { limit: config.limit, ...(hooks.onLoad ? { onProgress: hooks.onLoad } : {}) });
  log.info("data loaded", { train: data.train.n, validation: data.validation.n, test: data.test.n, classes: data.classes.length });

  const model = buildModel({
    architecture: config.architecture,
    height: config.preprocessing.height,
    width: config.preprocessing.width,
    channels: config.preprocessing.channels,
    classes: data.classes.length,
    seed: config.seed,
  });
  hooks.onPhase?.("train", { backend: backend.backend, threads: backend.threads });
  const started = performance.now();
  const history = await trainModel(model, data, config, hooks);
  const trainingSeconds = (performance.now() - started) / 1000;
  const imagesPerSecond = (data.train.n * config.epochs) / trainingSeconds;

  hooks.onPhase?.("evaluate");
  const { probabilities, embeddings, embeddingDim } = await predictSplit(model, data.test);
  const evaluation = evaluateClassifier({ probabilities, labels: data.test.y, classes: data.classes });
  const metrics = flatMetrics(evaluation);
  const features = await splitFeatures(rt.blobs, data.test);
  const predictedIndex: number[] = [];
  const confidence: number[] = [];
  const k = data.classes.length;
  for (let i = 0; i < data.test.n; i++) {
    const row = probabilities.subarray(i * k, (i + 1) * k);
    let best = 0;
    for (let c = 1; c < k; c++) if ((row[c] as number) > (row[best] as number)) best = c;
    predictedIndex.push(best);
    confidence.push(row[best] as number);
  }
  const profile = buildProfile({ features, predictedIndex, confidence, embeddings, embeddingDim, classes: data.classes, seed: config.seed });

  hooks.onPhase?.("export");
  const hash = configHash(config);
  const gitCommit = request.gitCommit === undefined ? currentCommit() : request.gitCommit;
  const image = request.image ?? null;
  const onnx = exportOnnx(model, {
    metadata: {
      "sightline.dataset_id": request.datasetId,
      "sightline.run_id": runId,
      "sightline.request_id": request.requestId,
      "sightline.config_hash": hash,
      "sightline.git_commit": gitCommit ?? "",
      "sightline.image": image ?? "",
      "sightline.labels": JSON.stringify(data.classes),
      "sightline.preprocessing": JSON.stringify(config.preprocessing),
    },
  });
  const modelRef = await rt.blobs.put(onnx);
  const profileRef = await rt.blobs.put(Buffer.from(serializeProfile(profile)));
  const card: ModelCard = {
    schema: "sightline.model-card/v1",
    name: request.model,
    runId,
    requestId: request.requestId,
    datasetId: request.datasetId,
    manifestDigest: data.record.manifestDigest,
    classes: data.classes,
    preprocessing: config.preprocessing,
    onnx: { modelDigest: modelRef.digest, opset: ONNX_OPSET, input: ONNX_INPUT, outputs: { probabilities: ONNX_PROBABILITIES, embedding: ONNX_EMBEDDING }, embeddingDim },
    profileDigest: profileRef.digest,
    architecture: config.architecture,
    config: config as unknown as Record<string, unknown>,
    configHash: hash,
    gitCommit,
    image,
    metrics,
    evaluation: evaluation as unknown as Record<string, unknown>,
    history: history as unknown as Record<string, unknown>[],
    trainedAt: new Date().toISOString(),
    trainingSeconds,
    imagesPerSecond,
    backend: `${backend.backend} (${backend.threads} thread${backend.threads === 1 ? "" : "s"})`,
  };
  const cardRef = await rt.blobs.put(Buffer.from(JSON.stringify(card, null, 2)));

  hooks.onPhase?.("register");
  const version = await registerVersion(
    rt.meta,
    {
      name: request.model,
      datasetId: request.datasetId,
      requestId: request.requestId,
      runId,
      modelDigest: modelRef.digest,
      cardDigest: cardRef.digest,
      profileDigest: profileRef.digest,
      configHash: hash,
      gitCommit,
      image,
      metrics,
    },
    (tx, v) => setAliasIn(tx, { name: request.model, alias: CANDIDATE, to: v.version, actor: request.actor, reason: `trained by ${runId}` }),
  );
  await rt.bus.publish(
    makeEvent(
      "sightline.training.completed",
      {
        requestId: request.requestId,
        runId,
        model: request.model,
        version: version.version,
        datasetId: request.datasetId,
        modelDigest: modelRef.digest,
        cardDigest: cardRef.digest,
        profileDigest: profileRef.digest,
        configHash: hash,
        ...(gitCommit ? { gitCommit } : {}),
        ...(image ? { image } : {}),
        metrics,
      },
      { id: `training.completed:${runId}`, subject: `${request.model}:${version.version}` },
    ),
  );
  log.info("training completed", { version: version.version, accuracy: metrics.accuracy, imagesPerSecond });
  return { version, card };
}

/** Image features of a split's source images (for the drift reference profile), computed in the image pool. */
async function splitFeatures(blobs: BlobStore, split: SplitData): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = Object.fromEntries(FEATURE_NAMES.map((f) => [f, new Array<number>(split.n)]));
  const pool = new ImagePool(Math.min(2, availableParallelism()));
  try {
    await forEachBatch(split.n, pool.processes * 3, async (indices) => {
      const images = await Promise.all(indices.map((i) => blobs.get(`sha256:${split.files[i]?.sha256}`)));
      const results = await pool.featuresBatch(images);
      results.forEach((r, k) => {
        if ("error" in r) throw new Error(`features of ${split.files[indices[k] as number]?.path}: ${r.error}`);
        for (const f of FEATURE_NAMES) (out[f] as number[])[indices[k] as number] = (r as ImageFeatures)[f];
      });
    });
  } finally {
    await pool.close();
  }
  return out;
}

/** The commit of the working tree when run from a git checkout (best effort; the Job passes it in its env). */
function currentCommit(): string | null {
  if (process.env.SIGHTLINE_GIT_COMMIT) return process.env.SIGHTLINE_GIT_COMMIT;
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || null;
  } catch {
    return null;
  }
}
