import type { BlobStore } from "../core/blobs/blob-store.ts";
import type { MetadataStore } from "../core/meta/metadata-store.ts";
import { inputShape } from "../core/imaging/preprocess.ts";
import { parseModelCard, type ModelCard } from "../core/registry/model-card.ts";
import { toProbabilities } from "../core/registry/scores.ts";
import { getVersion, type ModelVersion } from "../core/registry/model-version.ts";
import { MicroBatcher, type BatcherOptions } from "./batcher.ts";
import { OrtSession } from "./ort-session.ts";
import type { ServingMetrics } from "./metrics.ts";

export interface ModelOutput {
  /** Class probabilities, in the card's class order. */
  probabilities: Float32Array;
  /** Penultimate-layer activations (drift detection), when the model has an embedding output. */
  embedding?: Float32Array;
}

export interface LoadOptions {
  ortThreads: number;
  batch: Omit<BatcherOptions, "onBatch">;
  metrics: ServingMetrics;
}

/**
 * One model version ready to answer: its ONNX Runtime session, card and micro-batcher. Requests hold a lease while
 * they use it, so a hot swap can retire it without cutting anything short: `retire()` waits for the leases.
 */
export class LoadedModel {
  readonly record: ModelVersion;
  readonly card: ModelCard;
  readonly loadedAt = new Date();
  private readonly session: OrtSession;
  private readonly batcher: MicroBatcher<Float32Array, ModelOutput>;
  private leases = 0;
  private released: Promise<void> | undefined;
  private onLeasesDone: (() => void) | undefined;

  private constructor(record: ModelVersion, card: ModelCard, session: OrtSession, options: LoadOptions) {
    this.record = record;
    this.card = card;
    this.session = session;
    const { metrics } = options;
    this.batcher = new MicroBatcher((inputs) => this.runBatch(inputs, metrics), { ...options.batch, onBatch: (n) => metrics.batchSize.observe(n) });
  }

  /**
   * Loads a version from the registry and proves it works before anyone can use it: the card parses, the ONNX
   * file has the card's input and outputs, and a warm-up run gives one probability per class summing to 1.
   */
  static async load(rt: { blobs: BlobStore; meta: MetadataStore }, name: string, version: number, options: LoadOptions): Promise<LoadedModel> {
    const record = await getVersion(rt.meta, name, version);
    const card = parseModelCard(await rt.blobs.get(record.cardDigest), `${name}:${version}`);
    const session = await OrtSession.create(await rt.blobs.get(record.modelDigest), {
      intraOpNumThreads: options.ortThreads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
    try {
      const model = new LoadedModel(record, card, session, options);
      await model.warmUp();
      return model;
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  get name(): string {
    return this.record.name;
  }

  get version(): number {
    return this.record.version;
  }

  /** One image's input shape in the model's layout: [H, W, C] or [C, H, W]. */
  get inputShape(): [number, number, number] {
    return inputShape(this.card.preprocessing);
  }

  get inputSize(): number {
    return this.inputShape.reduce((a, b) => a * b, 1);
  }

  /** Classifies preprocessed images (each `inputSize` floats, in the card's layout), batched with other requests' images. */
  infer(inputs: Float32Array[]): Promise<ModelOutput[]> {
    return Promise.all(inputs.map((x) => this.batcher.submit(x)));
  }

  /** Takes a lease; call the returned function when done with the model. */
  lease(): () => void {
    this.leases++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.leases--;
      if (this.leases === 0) this.onLeasesDone?.();
    };
  }

  /** Frees the session once every lease is returned and every queued image has run. */
  retire(): Promise<void> {
    this.released ??= (async () => {
      if (this.leases > 0) await new Promise<void>((resolve) => (this.onLeasesDone = resolve));
      await this.batcher.idle();
      await this.session.release();
    })();
    return this.released;
  }

  private async warmUp(): Promise<void> {
    const { input, outputs } = this.card.onnx;
    if (!this.session.inputNames.includes(input)) throw new Error(`ONNX model has inputs ${this.session.inputNames.join(", ")}, card says ${input}`);
    for (const out of [outputs.scores, outputs.embedding]) {
      if (out !== undefined && !this.session.outputNames.includes(out)) throw new Error(`ONNX model has outputs ${this.session.outputNames.join(", ")}, card says ${out}`);
    }
    const [out] = await this.runOnce([new Float32Array(this.inputSize)]);
    const k = this.card.classes.length;
    if (out?.probabilities.length !== k) throw new Error(`warm-up gave ${out?.probabilities.length} scores for ${k} classes`);
    const { embeddingDim } = this.card.onnx;
    if (out.embedding && embeddingDim !== undefined && out.embedding.length !== embeddingDim) throw new Error(`warm-up gave a ${out.embedding.length}-d embedding, card says ${embeddingDim}`);
    const sum = out.probabilities.reduce((a, b) => a + b, 0);
    if (!(Math.abs(sum - 1) < 1e-3)) throw new Error(`warm-up probabilities sum to ${sum}, not 1`);
  }

  private async runBatch(inputs: Float32Array[], metrics: ServingMetrics): Promise<ModelOutput[]> {
    const stop = metrics.inferenceDuration.startTimer({ model: this.name, version: String(this.version) });
    try {
      return await this.runOnce(inputs);
    } finally {
      stop();
    }
  }

  private async runOnce(inputs: Float32Array[]): Promise<ModelOutput[]> {
    const n = inputs.length;
    const size = this.inputSize;
    const data = new Float32Array(n * size);
    inputs.forEach((x, i) => {
      if (x.length !== size) throw new Error(`input ${i} has ${x.length} values, model wants ${size}`);
      data.set(x, i * size);
    });
    const { input, outputs } = this.card.onnx;
    const names = outputs.embedding === undefined ? [outputs.scores] : [outputs.scores, outputs.embedding];
    const result = await this.session.run(input, data, [n, ...this.inputShape], names);
    const scores = result[outputs.scores];
    const embedding = outputs.embedding === undefined ? undefined : result[outputs.embedding];
    if (!scores || (outputs.embedding !== undefined && !embedding)) throw new Error("ONNX Runtime returned no scores or no embedding");
    const k = scores.length / n;
    const probabilities = toProbabilities(scores, k, outputs.kind);
    const d = embedding ? embedding.length / n : 0;
    return inputs.map((_, i) => ({
      probabilities: probabilities.subarray(i * k, (i + 1) * k),
      ...(embedding ? { embedding: embedding.subarray(i * d, (i + 1) * d) } : {}),
    }));
  }
}
