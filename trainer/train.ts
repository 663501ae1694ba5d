import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import { seededRandom, shuffle } from "../core/util/random.ts";
import type { TrainConfig } from "./config.ts";
import type { SplitData, TrainingData } from "../core/datasets/training-data.ts";
import { fusedAdam } from "./kernels/adam.ts";
import { EMBEDDING_LAYER } from "./model.ts";
import { SightlineError } from "../core/errors.ts";

export interface BatchProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface EpochStats {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss: number | null;
  valAccuracy: number | null;
  seconds: number;
  imagesPerSecond: number;
}

/**
 * Trains with Adam on shuffled mini-batches. Reproducible: the shuffle is seeded, the initialisers are seeded
 * (model.ts), and dropout's masks come from tfjs's random ops, which seed themselves from Math.random — so Math.random
 * is replaced by a seeded generator for the duration of training. No tensor outlives its batch.
 */
export async function trainModel(
  model: tfl.Sequential,
  data: TrainingData,
  config: TrainConfig,
  hooks: { onBatch?: (p: BatchProgress) => void; onEpoch?: (e: EpochStats) => void } = {},
): Promise<EpochStats[]> {
  const classes = data.classes.length;
  const optimizer = fusedAdam(config.learningRate);
  model.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });
  const { train } = data;
  const { height, width, channels } = config.preprocessing;
  const batches = Math.ceil(train.n / config.batchSize);
  const history: EpochStats[] = [];
  const realRandom = Math.random;
  Math.random = seededRandom(config.seed * 7919 + 1);
  const started = performance.now();
  let seen = 0;
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      const order = Int32Array.from({ length: train.n }, (_, i) => i);
      shuffle(order, seededRandom(config.seed * 100_003 + epoch));
      const epochStart = performance.now();
      let lossSum = 0;
      let accSum = 0;
      for (let b = 0; b < batches; b++) {
        const idx = order.subarray(b * config.batchSize, Math.min(train.n, (b + 1) * config.batchSize));
        const { xs, ys } = batchTensors(train, idx, classes, [height, width, channels], config);
        optimizer.setLearningRate(learningRateAt(config, ((epoch - 1) * batches + b) / (config.epochs * batches)));
        try {
          const [loss = NaN, acc = NaN] = (await model.trainOnBatch(xs, ys)) as number[];
          if (!Number.isFinite(loss))
            throw new SightlineError(
              "invalid",
              "training_diverged",
              `training diverged: loss is ${loss} at epoch ${epoch}, batch ${b + 1}`,
            );
          lossSum += loss * idx.length;
          accSum += acc * idx.length;
        } finally {
          xs.dispose();
          ys.dispose();
        }
        seen += idx.length;
        const elapsed = (performance.now() - started) / 1000;
        const rate = seen / Math.max(elapsed, 1e-9);
        hooks.onBatch?.({
          epoch,
          epochs: config.epochs,
          batch: b + 1,
          batches,
          loss: lossSum / Math.min(train.n, (b + 1) * config.batchSize),
          accuracy: accSum / Math.min(train.n, (b + 1) * config.batchSize),
          imagesPerSecond: rate,
          etaSeconds: (config.epochs * train.n - seen) / rate,
        });
      }
      const seconds = (performance.now() - epochStart) / 1000;
      const val =
        data.validation.n > 0
          ? lossAndAccuracy(
              await predictSplit(model, data.validation).then((p) => p.probabilities),
              data.validation.y,
              classes,
            )
          : undefined;
      const stats: EpochStats = {
        epoch,
        loss: lossSum / train.n,
        accuracy: accSum / train.n,
        valLoss: val?.loss ?? null,
        valAccuracy: val?.accuracy ?? null,
        seconds,
        imagesPerSecond: train.n / seconds,
      };
      history.push(stats);
      hooks.onEpoch?.(stats);
    }
  } finally {
    Math.random = realRandom;
  }
  return history;
}

/** The learning rate at `progress` (0 at the first batch, → 1 at the end of the run). */
export function learningRateAt(config: Pick<TrainConfig, "learningRate" | "schedule">, progress: number): number {
  return config.schedule === "cosine"
    ? (config.learningRate * (1 + Math.cos(Math.PI * progress))) / 2
    : config.learningRate;
}

function batchTensors(
  split: SplitData,
  idx: Int32Array,
  classes: number,
  [height, width, channels]: [number, number, number],
  config: TrainConfig,
): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const px = split.pixels;
  const buf = new Float32Array(idx.length * px);
  const labels = new Int32Array(idx.length);
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k] as number;
    const image = split.x.subarray(i * px, (i + 1) * px);
    if (config.augmentation.flipHorizontal || config.augmentation.maxShift > 0)
      augmentInto(buf, k * px, image, [height, width, channels], config);
    else buf.set(image, k * px);
    labels[k] = split.y[i] as number;
  }
  return {
    xs: tf.tensor4d(buf, [idx.length, height, width, channels]),
    ys: tf.tensor2d(targets(labels, classes, config.labelSmoothing), [idx.length, classes]),
  };
}

/** Training targets (n × classes): one-hot rows, smoothed to (1 − ε)·one-hot + ε/classes. */
export function targets(labels: Int32Array, classes: number, epsilon: number): Float32Array {
  const out = new Float32Array(labels.length * classes).fill(epsilon / classes);
  for (let i = 0; i < labels.length; i++) out[i * classes + (labels[i] as number)] = 1 - epsilon + epsilon / classes;
  return out;
}

/** Random flip and shift (zero fill), drawn from Math.random — seeded during training. */
function augmentInto(
  out: Float32Array,
  offset: number,
  image: Float32Array,
  [h, w, c]: [number, number, number],
  config: TrainConfig,
): void {
  const flip = config.augmentation.flipHorizontal && Math.random() < 0.5;
  const s = config.augmentation.maxShift;
  const dy = s > 0 ? Math.floor(Math.random() * (2 * s + 1)) - s : 0;
  const dx = s > 0 ? Math.floor(Math.random() * (2 * s + 1)) - s : 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sy = y - dy;
      const sxRaw = x - dx;
      const sx = flip ? w - 1 - sxRaw : sxRaw;
      for (let ch = 0; ch < c; ch++) {
        out[offset + (y * w + x) * c + ch] =
          sy >= 0 && sy < h && sx >= 0 && sx < w ? (image[(sy * w + sx) * c + ch] as number) : 0;
      }
    }
  }
}

/** Probabilities (n × classes) and embeddings (n × dim) of a split, in inference mode, in batches. */
export async function predictSplit(
  model: tfl.LayersModel,
  split: SplitData,
  batchSize = 256,
): Promise<{ probabilities: Float32Array; embeddings: Float32Array; embeddingDim: number }> {
  const both = tfl.model({
    inputs: model.inputs,
    outputs: [model.getLayer(EMBEDDING_LAYER).output as tfl.SymbolicTensor, model.outputs[0] as tfl.SymbolicTensor],
  });
  const [, h, w, c] = model.inputs[0]?.shape as number[];
  const probs: Float32Array[] = [];
  const embs: Float32Array[] = [];
  let dim = 0;
  for (let start = 0; start < split.n; start += batchSize) {
    const end = Math.min(split.n, start + batchSize);
    const [e, p] = tf.tidy(
      () =>
        both.predict(
          tf.tensor4d(split.x.subarray(start * split.pixels, end * split.pixels), [
            end - start,
            h as number,
            w as number,
            c as number,
          ]),
        ) as tf.Tensor[],
    );
    if (!e || !p) throw new Error("model did not return embedding and probabilities");
    dim = e.shape[1] as number;
    embs.push((await e.data()) as Float32Array);
    probs.push((await p.data()) as Float32Array);
    e.dispose();
    p.dispose();
  }
  return { probabilities: concat(probs), embeddings: concat(embs), embeddingDim: dim };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Mean cross-entropy and accuracy of predicted probabilities against labels. */
export function lossAndAccuracy(
  probabilities: Float32Array,
  labels: Int32Array,
  classes: number,
): { loss: number; accuracy: number } {
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = probabilities.subarray(i * classes, (i + 1) * classes);
    const y = labels[i] as number;
    loss -= Math.log(Math.max(row[y] as number, 1e-7));
    let best = 0;
    for (let k = 1; k < classes; k++) if ((row[k] as number) > (row[best] as number)) best = k;
    if (best === y) correct++;
  }
  return { loss: loss / labels.length, accuracy: correct / labels.length };
}
