import { readFile } from "node:fs/promises";
import { join } from "node:path";
import canonicalize from "canonicalize";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { z } from "zod";
import type { PreprocessSpec } from "../../core/imaging/preprocess.ts";
import {
  INTERFACE_FILE,
  MODEL_FILE,
  ModelInterfaceSchema,
  type MetricsLine,
  type ModelInterface,
} from "../../core/jobs/trainer-contract.ts";
import type { ModelCard, TrainerIdentity } from "../../core/registry/model-card.ts";
import type { ModelVersion } from "../../core/registry/model-version.ts";
import { robustnessMetrics } from "../../core/registry/robustness.ts";
import { SightlineError } from "../../core/errors.ts";
import { sha256Hex } from "../../core/util/digest.ts";
import { loadTrainingData } from "../../core/datasets/training-data.ts";
import { evaluateClassifier, flatMetrics } from "../../core/evaluation/metrics.ts";
import { classifySplit } from "../../evaluation/onnx-classifier.ts";
import { registerRun, testProfile, type RunRequest, type Runtime } from "../register-run.ts";
import { classifyWith, robustnessReport } from "../robustness.ts";

/** What a trainer left, and what the platform knows about the run that made it. */
export interface IngestInput {
  request: RunRequest;
  runId: string;
  /** AIP_MODEL_DIR after the trainer exited 0. */
  modelDir: string;
  trainer: TrainerIdentity;
  seed: number;
  gitCommit: string | null;
  image: string | null;
  /** The trainer's metrics.jsonl lines (kept on the card as its history; never used to judge the model). */
  history: MetricsLine[];
  trainingSeconds: number;
  trainImages: number;
  parentVersion?: number;
}

/** The trainer's output is not a model Sightline can serve; the message says what is wrong. */
export class TrainerOutputError extends SightlineError {
  constructor(message: string) {
    super("invalid", "trainer_output_invalid", message);
  }
}

/**
 * The platform's half of a contract run: loads model.onnx as serving will, checks it against sightline.json and
 * the dataset's classes, evaluates it on the held-out test split through the serving preprocessing (so a decoder
 * or normalisation mismatch shows up here as a low score), builds the drift profile and the card, and registers
 * it. Nothing the trainer reported about itself is used to judge it.
 */
export async function ingestModel(
  rt: Runtime,
  input: IngestInput,
): Promise<{ version: ModelVersion; card: ModelCard }> {
  const { request } = input;
  const iface = await readInterface(input.modelDir);
  const onnx = await readOutput(
    join(input.modelDir, MODEL_FILE),
    `${MODEL_FILE} (the trainer must write it into AIP_MODEL_DIR)`,
  );
  const opset = opsetOf(onnx);
  const { width, height, channels, fit, scale, mean, std, layout } = iface.input;
  const spec: PreprocessSpec = { width, height, channels, fit, scale, mean, std, layout };
  const outputs = {
    scores: iface.output.name,
    kind: iface.output.kind,
    ...(iface.embedding ? { embedding: iface.embedding } : {}),
  };

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(onnx);
  } catch (err) {
    throw new TrainerOutputError(`${MODEL_FILE} does not load in ONNX Runtime: ${(err as Error).message}`);
  }
  try {
    const missing = [iface.input.name].filter((n) => !session.inputNames.includes(n));
    if (missing.length)
      throw new TrainerOutputError(
        `${INTERFACE_FILE} names input ${missing[0]}; ${MODEL_FILE} has inputs ${session.inputNames.join(", ")}`,
      );
    for (const name of [outputs.scores, outputs.embedding].filter((n) => n !== undefined)) {
      if (!session.outputNames.includes(name))
        throw new TrainerOutputError(
          `${INTERFACE_FILE} names output ${name}; ${MODEL_FILE} has outputs ${session.outputNames.join(", ")}`,
        );
    }
    const data = await loadTrainingData(rt, request.datasetId, spec, { splits: ["test"], testFeatures: true });
    const classes = data.classes;
    let scores;
    try {
      scores = await classifySplit(
        session,
        { classes, preprocessing: spec, onnx: { input: iface.input.name, outputs } },
        data.test,
      );
    } catch (err) {
      throw new TrainerOutputError(`${MODEL_FILE} on the test split: ${(err as Error).message}`);
    }
    if (outputs.kind === "probabilities") checkRowsSumToOne(scores.probabilities, classes.length, outputs.scores);
    const evaluation = evaluateClassifier({ probabilities: scores.probabilities, labels: data.test.y, classes });
    const classify = classifyWith(data.test.pixels, (split) =>
      classifySplit(session, { classes, preprocessing: spec, onnx: { input: iface.input.name, outputs } }, split, {
        embeddings: false,
      }),
    );
    const robustness = await robustnessReport({
      blobs: rt.blobs,
      test: data.test,
      spec,
      cleanAccuracy: evaluation.accuracy,
      classify,
      classes: classes.length,
      seed: input.seed,
    });
    const metrics = { ...flatMetrics(evaluation), ...robustnessMetrics(robustness) };
    const profile = testProfile(data.test, scores, classes, input.seed);
    const configHash = sha256Hex(canonicalize({ trainer: input.trainer, interface: iface }) ?? "");
    const epochs = Math.max(0, ...input.history.map((m) => m.epoch ?? 0)) || Number(input.trainer.args.epochs ?? 1);
    return await registerRun(rt, request, {
      runId: input.runId,
      onnx,
      profile,
      card: ({ modelDigest, profileDigest }): ModelCard => ({
        schema: "sightline.model-card/v1",
        name: request.model,
        runId: input.runId,
        requestId: request.requestId,
        datasetId: request.datasetId,
        manifestDigest: data.record.manifestDigest,
        classes,
        preprocessing: spec,
        onnx: {
          modelDigest,
          opset,
          input: iface.input.name,
          outputs,
          ...(scores.embeddingDim ? { embeddingDim: scores.embeddingDim } : {}),
        },
        profileDigest,
        architecture: input.trainer.name ?? `external ${input.trainer.kind}`,
        config: { trainer: input.trainer, interface: iface },
        configHash,
        gitCommit: input.gitCommit,
        image: input.image,
        metrics,
        evaluation: evaluation as unknown as Record<string, unknown>,
        robustness,
        history: input.history,
        trainedAt: new Date().toISOString(),
        trainingSeconds: input.trainingSeconds,
        imagesPerSecond: input.trainingSeconds > 0 ? (input.trainImages * epochs) / input.trainingSeconds : 0,
        backend:
          input.trainer.kind === "image"
            ? `image ${input.trainer.image}`
            : `command ${(input.trainer.command ?? []).join(" ")}`,
        trainer: input.trainer,
        ...(input.parentVersion !== undefined ? { parentVersion: input.parentVersion } : {}),
      }),
    });
  } finally {
    await session.release();
  }
}

async function readInterface(modelDir: string): Promise<ModelInterface> {
  const text = await readOutput(
    join(modelDir, INTERFACE_FILE),
    `${INTERFACE_FILE} (how to feed and read the model; see docs/trainer-contract.md)`,
  );
  let raw: unknown;
  try {
    raw = JSON.parse(text.toString("utf8"));
  } catch (err) {
    throw new TrainerOutputError(`${INTERFACE_FILE} is not JSON: ${(err as Error).message}`);
  }
  const parsed = ModelInterfaceSchema.safeParse(raw);
  if (!parsed.success) throw new TrainerOutputError(`${INTERFACE_FILE} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

async function readOutput(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new TrainerOutputError(`the trainer wrote no ${what}`);
    throw new TrainerOutputError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The default-domain opset the model was exported with. */
function opsetOf(onnx: Uint8Array): number {
  let proto;
  try {
    proto = onnxProto.onnx.ModelProto.decode(onnx);
  } catch (err) {
    throw new TrainerOutputError(`${MODEL_FILE} is not an ONNX model: ${(err as Error).message}`);
  }
  const main = proto.opsetImport.find((o) => !o.domain || o.domain === "ai.onnx");
  if (!main) throw new TrainerOutputError(`${MODEL_FILE} imports no default-domain opset`);
  return Number(main.version);
}

function checkRowsSumToOne(p: Float32Array, k: number, name: string): void {
  for (let start = 0; start < p.length; start += k) {
    let sum = 0;
    for (let c = 0; c < k; c++) sum += p[start + c]!;
    if (Math.abs(sum - 1) > 1e-3)
      throw new TrainerOutputError(
        `output ${name} is declared "probabilities" but a row sums to ${sum.toFixed(4)}; declare it "logits" if it is not softmaxed`,
      );
  }
}
