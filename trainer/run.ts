import { flattenParams, versionArtefacts } from "../core/jobs/run-record.ts";
import { RunRecorder } from "../core/jobs/run-recorder.ts";
import type { MetricsLine } from "../core/jobs/trainer-contract.ts";
import type { ModelCard } from "../core/registry/model-card.ts";
import type * as tfl from "@tensorflow/tfjs-layers";
import { PRODUCTION, resolveAlias } from "../core/registry/aliases.ts";
import { getVersion, type ModelVersion } from "../core/registry/model-version.ts";
import { robustnessMetrics } from "../core/registry/robustness.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { configHash, type TrainConfig } from "./config.ts";
import { loadTrainingData } from "../core/datasets/training-data.ts";
import { evaluateClassifier, flatMetrics } from "../core/evaluation/metrics.ts";
import { useWasmBackend } from "./kernels/register.ts";
import { buildModel } from "./model.ts";
import { importOnnxWeights } from "./onnx/import-weights.ts";
import { exportOnnx, ONNX_EMBEDDING, ONNX_INPUT, ONNX_OPSET, ONNX_PROBABILITIES } from "./onnx/export.ts";
import { gitState, newRunId, publishFailed, registerRun, testProfile, type Runtime } from "./register-run.ts";
import { classifyWith, robustnessReport } from "./robustness.ts";
import { predictSplit, trainModel, type BatchProgress, type EpochStats } from "./train.ts";
import { SIGHTLINE_GIT_COMMIT } from "../core/config/settings/trainer-job.ts";

export interface TrainingRequest {
  requestId: string;
  model: string;
  datasetId: string;
  config: TrainConfig;
  /** Who asked, for the audit record of the `candidate` alias. */
  actor: string;
  gitCommit?: string | null;
  image?: string | null;
  /** Start from production's weights (its ONNX file, exported by this trainer from the same architecture). */
  fineTune?: boolean;
  /** Recorded on the run (experiment tracking), e.g. `trigger`. */
  tags?: Record<string, string>;
}

export interface TrainingHooks {
  onPhase?: (phase: "load" | "train" | "evaluate" | "export" | "register", detail?: Record<string, unknown>) => void;
  onLoad?: (done: number, total: number) => void;
  onBatch?: (p: BatchProgress) => void;
  onEpoch?: (e: EpochStats) => void;
}

/**
 * One training run, start to finish: load and preprocess the dataset, train, evaluate on the held-out test split,
 * export ONNX, build the drift reference profile, write model, profile and card as blobs, then register the
 * version and point `candidate` at it in ONE transaction, and publish `sightline.training.completed`. Everything
 * before that transaction only writes immutable content-addressed blobs, so a crash or kill leaves no registered
 * version and no card pointing anywhere; a failure publishes `sightline.training.failed` with the reason.
 */
export async function runTraining(
  rt: Runtime,
  request: TrainingRequest,
  hooks: TrainingHooks = {},
): Promise<{ version: ModelVersion; card: ModelCard }> {
  const runId = newRunId();
  const log = rt.log.child({ runId, requestId: request.requestId, model: request.model });
  const recorder = new RunRecorder(
    rt.meta,
    {
      runId,
      requestId: request.requestId,
      model: request.model,
      datasetId: request.datasetId,
      trainer: { kind: "builtin", args: {} },
      params: flattenParams(request.config),
      tags: {
        actor: request.actor,
        trainer: "builtin",
        ...(request.fineTune ? { fine_tune: "true" } : {}),
        ...request.tags,
      },
    },
    log,
  );
  try {
    await recorder.start();
    const result = await run(rt, request, runId, recordedHooks(hooks, recorder), log);
    const { version, card } = result;
    await recorder.succeed({
      ...(card.trainer ? { trainer: card.trainer } : {}),
      version: version.version,
      ...(card.parentVersion !== undefined ? { parentVersion: card.parentVersion } : {}),
      imagesPerSecond: card.imagesPerSecond,
      heldOut: version.metrics,
      artefacts: versionArtefacts(version),
      tags: {
        ...recorder.record.tags,
        config_hash: card.configHash,
        ...(card.gitCommit ? { git_commit: card.gitCommit } : {}),
        ...(card.trainer?.dirty !== undefined ? { git_dirty: String(card.trainer.dirty) } : {}),
        ...(card.image ? { image: card.image } : {}),
        ...(card.backend ? { backend: card.backend } : {}),
      },
    });
    return result;
  } catch (err) {
    log.error("training failed", { err });
    await recorder.fail(err);
    await publishFailed(rt, request, runId, err, log);
    throw err;
  }
}

/** The caller's hooks, with each phase timed and each epoch streamed into the run record. */
function recordedHooks(hooks: TrainingHooks, recorder: RunRecorder): TrainingHooks {
  return {
    ...hooks,
    onPhase: (phase, detail) => {
      // A phase change is rare and always written: the record shows where a run is, and since when.
      recorder.enterPhase(phase);
      recorder.flush(true);
      hooks.onPhase?.(phase, detail);
    },
    onBatch: (p) => {
      recorder.progress({
        epoch: p.epoch,
        epochs: p.epochs,
        batch: p.batch,
        batches: p.batches,
        ...(Number.isFinite(p.etaSeconds) && p.etaSeconds >= 0 ? { etaSeconds: p.etaSeconds } : {}),
      });
      hooks.onBatch?.(p);
    },
    onEpoch: (e) => {
      recorder.metrics(epochLine(e));
      hooks.onEpoch?.(e);
    },
  };
}

/** An epoch as a metrics line (the contract's metrics.jsonl shape), stamped with when it ended (ms since 1970). */
export function epochLine(e: EpochStats, at = Date.now()): MetricsLine {
  return {
    epoch: e.epoch,
    loss: e.loss,
    accuracy: e.accuracy,
    ...(e.valLoss !== null ? { val_loss: e.valLoss } : {}),
    ...(e.valAccuracy !== null ? { val_accuracy: e.valAccuracy } : {}),
    seconds: e.seconds,
    images_per_second: e.imagesPerSecond,
    timestamp: at,
  };
}

async function run(
  rt: Runtime,
  request: TrainingRequest,
  runId: string,
  hooks: TrainingHooks,
  log: Logger,
): Promise<{ version: ModelVersion; card: ModelCard }> {
  const backend = await useWasmBackend(request.config.threads);
  const data = await load(rt, request, hooks, log);
  const trained = await train(rt, request, data, backend, hooks, log);
  const evaluated = await evaluate(rt, request.config, data, trained.model, hooks);
  const exported = exportModel(request, runId, data, trained.model, hooks);
  hooks.onPhase?.("register");
  const { version, card } = await registerRun(rt, request, {
    runId,
    onnx: exported.onnx,
    profile: evaluated.profile,
    card: (digests) => modelCard({ request, runId, data, backend, trained, evaluated, exported }, digests),
  });
  log.info("training completed", {
    version: version.version,
    accuracy: evaluated.metrics.accuracy,
    imagesPerSecond: trained.imagesPerSecond,
  });
  return { version, card };
}

type TrainingData = Awaited<ReturnType<typeof loadTrainingData>>;
type Backend = Awaited<ReturnType<typeof useWasmBackend>>;
type Trained = Awaited<ReturnType<typeof train>>;
type Evaluated = Awaited<ReturnType<typeof evaluate>>;
type Exported = ReturnType<typeof exportModel>;

async function load(rt: Runtime, request: TrainingRequest, hooks: TrainingHooks, log: Logger): Promise<TrainingData> {
  const { config } = request;
  hooks.onPhase?.("load");
  const data = await loadTrainingData(rt, request.datasetId, config.preprocessing, {
    limit: config.limit,
    testFeatures: true,
    ...(hooks.onLoad ? { onProgress: hooks.onLoad } : {}),
  });
  log.info("data loaded", {
    train: data.train.n,
    validation: data.validation.n,
    test: data.test.n,
    classes: data.classes.length,
  });
  return data;
}

async function train(
  rt: Runtime,
  request: TrainingRequest,
  data: TrainingData,
  backend: Backend,
  hooks: TrainingHooks,
  log: Logger,
) {
  const { config } = request;
  const model = buildModel({
    architecture: config.architecture,
    height: config.preprocessing.height,
    width: config.preprocessing.width,
    channels: config.preprocessing.channels,
    classes: data.classes.length,
    seed: config.seed,
  });
  const parentVersion = request.fineTune ? await warmStart(rt, request.model, model, log) : undefined;
  hooks.onPhase?.("train", {
    backend: backend.backend,
    threads: backend.threads,
    ...(parentVersion ? { parentVersion } : {}),
  });
  const started = performance.now();
  const history = await trainModel(model, data, config, hooks);
  const trainingSeconds = (performance.now() - started) / 1000;
  const imagesPerSecond = (data.train.n * config.epochs) / trainingSeconds;
  return { model, parentVersion, history, trainingSeconds, imagesPerSecond };
}

async function evaluate(
  rt: Runtime,
  config: TrainConfig,
  data: TrainingData,
  model: tfl.LayersModel,
  hooks: TrainingHooks,
) {
  hooks.onPhase?.("evaluate");
  const { probabilities, embeddings, embeddingDim } = await predictSplit(model, data.test);
  const evaluation = evaluateClassifier({ probabilities, labels: data.test.y, classes: data.classes });
  const classify = classifyWith(data.test.pixels, (split) => predictSplit(model, split));
  const robustness = await robustnessReport({
    blobs: rt.blobs,
    test: data.test,
    spec: config.preprocessing,
    cleanAccuracy: evaluation.accuracy,
    classify,
    classes: data.classes.length,
    seed: config.seed,
  });
  const metrics = { ...flatMetrics(evaluation), ...robustnessMetrics(robustness) };
  const profile = testProfile(data.test, { probabilities, embeddings, embeddingDim }, data.classes, config.seed);
  return { evaluation, robustness, metrics, profile, embeddingDim };
}

function exportModel(
  request: TrainingRequest,
  runId: string,
  data: TrainingData,
  model: tfl.LayersModel,
  hooks: TrainingHooks,
) {
  const { config } = request;
  hooks.onPhase?.("export");
  const hash = configHash(config);
  // Given by the job, or read from the checkout this runs in (with whether it has uncommitted changes).
  const fromEnv = SIGHTLINE_GIT_COMMIT.read();
  const git = request.gitCommit === undefined && !fromEnv ? gitState() : undefined;
  const gitCommit = request.gitCommit === undefined ? (fromEnv ?? git?.commit ?? null) : request.gitCommit;
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
  return { onnx, hash, git, gitCommit, image };
}

function modelCard(
  run: {
    request: TrainingRequest;
    runId: string;
    data: TrainingData;
    backend: Backend;
    trained: Trained;
    evaluated: Evaluated;
    exported: Exported;
  },
  { modelDigest, profileDigest }: { modelDigest: string; profileDigest: string },
): ModelCard {
  const { request, runId, data, backend, trained, evaluated, exported } = run;
  const { config } = request;
  const { git, gitCommit, image } = exported;
  const { parentVersion } = trained;
  return {
    schema: "sightline.model-card/v1",
    name: request.model,
    runId,
    requestId: request.requestId,
    datasetId: request.datasetId,
    manifestDigest: data.record.manifestDigest,
    classes: data.classes,
    preprocessing: config.preprocessing,
    onnx: {
      modelDigest,
      opset: ONNX_OPSET,
      input: ONNX_INPUT,
      outputs: { scores: ONNX_PROBABILITIES, kind: "probabilities", embedding: ONNX_EMBEDDING },
      embeddingDim: evaluated.embeddingDim,
    },
    profileDigest,
    architecture: config.architecture,
    config: config as unknown as Record<string, unknown>,
    configHash: exported.hash,
    gitCommit,
    image,
    metrics: evaluated.metrics,
    evaluation: evaluated.evaluation as unknown as Record<string, unknown>,
    robustness: evaluated.robustness,
    history: trained.history as unknown as Record<string, unknown>[],
    trainedAt: new Date().toISOString(),
    trainingSeconds: trained.trainingSeconds,
    imagesPerSecond: trained.imagesPerSecond,
    backend: `${backend.backend} (${backend.threads} thread${backend.threads === 1 ? "" : "s"})`,
    trainer: { kind: "builtin", args: {}, ...(git ? { dirty: git.dirty } : {}) },
    ...(parentVersion !== undefined ? { parentVersion } : {}),
  };
}

/** Sets the new model's weights to production's; returns production's version. */
async function warmStart(rt: Runtime, name: string, model: tfl.LayersModel, log: Logger): Promise<number> {
  const version = await resolveAlias(rt.meta, name, PRODUCTION);
  const record = await getVersion(rt.meta, name, version);
  const tensors = importOnnxWeights(model, await rt.blobs.get(record.modelDigest));
  log.info("fine-tuning from production", { version, tensors });
  return version;
}
