import type { BlobStore } from "../core/blobs/blob-store.ts";
import type { MetadataStore } from "../core/meta/metadata-store.ts";
import { inputShape } from "../core/imaging/preprocess.ts";
import { parseModelCard, type ModelCard } from "../core/registry/model-card.ts";
import { toProbabilities } from "../core/registry/scores.ts";
import { getVersion, type ModelVersion } from "../core/registry/model-version.ts";
import { MicroBatcher, type BatcherOptions } from "./batcher.ts";
import {
  InlineSession,
  THREAD_MIN_RUN_MS,
  ThreadedSession,
  type ModelSession,
  type OrtPlacement,
} from "./ort-session.ts";
import type { ServingMetrics } from "./metrics.ts";
import { SightlineError } from "../core/errors.ts";

export interface ModelOutput {
  /** Class probabilities, in the card's class order. */
  probabilities: Float32Array;
  /** Penultimate-layer activations (drift detection), when the model has an embedding output. */
  embedding?: Float32Array;
}

export interface LoadOptions {
  ortThreads: number;
  /** Where the session runs (see OrtPlacement); `auto` unless set. */
  ortPlacement?: OrtPlacement;
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
  private readonly session: ModelSession;
  private readonly batcher: MicroBatcher<Float32Array, ModelOutput>;
  private leases = 0;
  private released: Promise<void> | undefined;
  private onLeasesDone: (() => void) | undefined;

  private constructor(record: ModelVersion, card: ModelCard, session: ModelSession, options: LoadOptions) {
    this.record = record;
    this.card = card;
    this.session = session;
    const { metrics } = options;
    this.batcher = new MicroBatcher((inputs) => this.runBatch(inputs, metrics), {
      ...options.batch,
      onBatch: (n) => metrics.batchSize.observe(n),
    });
  }

  /**
   * Loads a version from the registry and proves it works before anyone can use it: the card parses, the ONNX
   * file has the card's input and outputs, and a warm-up run gives one probability per class summing to 1.
   */
  static async load(
    rt: { blobs: BlobStore; meta: MetadataStore },
    name: string,
    version: number,
    options: LoadOptions,
  ): Promise<LoadedModel> {
    const record = await getVersion(rt.meta, name, version);
    const card = parseModelCard(await rt.blobs.get(record.cardDigest), `${name}:${version}`);
    const bytes = await rt.blobs.get(record.modelDigest);
    const sessionOptions = {
      intraOpNumThreads: options.ortThreads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    } as const;
    const open = (where: "thread" | "inline"): Promise<ModelSession> =>
      where === "thread" ? ThreadedSession.create(bytes, sessionOptions) : InlineSession.create(bytes, sessionOptions);
    const placement = options.ortPlacement ?? "auto";
    let session = await open(placement === "thread" ? "thread" : "inline");
    try {
      let model = new LoadedModel(record, card, session, options);
      await model.warmUp();
      // A model whose one-image run is long would stall the event loop for it; a tiny one is cheaper run in place.
      if (placement === "auto" && (await model.oneRunMs()) >= THREAD_MIN_RUN_MS) {
        await session.release();
        session = await open("thread");
        model = new LoadedModel(record, card, session, options);
        await model.warmUp();
      }
      return model;
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** Where this version's session runs. */
  get runsOn(): "thread" | "inline" {
    return this.session instanceof ThreadedSession ? "thread" : "inline";
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

  /** Classifies preprocessed images (each `inputSize` floats, in the card's layout), batched with other requests' images. The inputs are handed over: do not read them afterwards. */
  infer(inputs: Float32Array[]): Promise<ModelOutput[]> {
    if (inputs.length === 1) return this.batcher.submit(inputs[0]!).then((out) => [out]);
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

  /** The shortest of three one-image runs, in milliseconds (the first run of a session pays one-time costs). */
  private async oneRunMs(): Promise<number> {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await this.runOnce([new Float32Array(this.inputSize)]);
      best = Math.min(best, performance.now() - started);
    }
    return best;
  }

  private async warmUp(): Promise<void> {
    const { input, outputs } = this.card.onnx;
    if (!this.session.inputNames.includes(input))
      throw new SightlineError(
        "corrupt",
        "model_card_mismatch",
        `ONNX model has inputs ${this.session.inputNames.join(", ")}, card says ${input}`,
      );
    for (const out of [outputs.scores, outputs.embedding]) {
      if (out !== undefined && !this.session.outputNames.includes(out))
        throw new SightlineError(
          "corrupt",
          "model_card_mismatch",
          `ONNX model has outputs ${this.session.outputNames.join(", ")}, card says ${out}`,
        );
    }
    const [out] = await this.runOnce([new Float32Array(this.inputSize)]);
    const k = this.card.classes.length;
    if (out?.probabilities.length !== k)
      throw new SightlineError(
        "corrupt",
        "model_card_mismatch",
        `warm-up gave ${out?.probabilities.length} scores for ${k} classes`,
      );
    const { embeddingDim } = this.card.onnx;
    if (out.embedding && embeddingDim !== undefined && out.embedding.length !== embeddingDim)
      throw new SightlineError(
        "corrupt",
        "model_card_mismatch",
        `warm-up gave a ${out.embedding.length}-d embedding, card says ${embeddingDim}`,
      );
    const sum = out.probabilities.reduce((a, b) => a + b, 0);
    if (!(Math.abs(sum - 1) < 1e-3))
      throw new SightlineError("corrupt", "model_card_mismatch", `warm-up probabilities sum to ${sum}, not 1`);
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
    inputs.forEach((x, i) => {
      if (x.length !== size) throw new Error(`input ${i} has ${x.length} values, model wants ${size}`);
    });
    // The batch goes to the ONNX Runtime thread by transfer. A lone image that owns its buffer goes as it is (its
    // caller is done with it), sparing an allocation as large as the model's input; otherwise the batch is one copy.
    const only = inputs[0]!;
    const data =
      n === 1 &&
      only.byteOffset === 0 &&
      only.byteLength === only.buffer.byteLength &&
      only.buffer instanceof ArrayBuffer
        ? only
        : new Float32Array(n * size);
    if (data !== only) inputs.forEach((x, i) => data.set(x, i * size));
    const { input, outputs } = this.card.onnx;
    const names = outputs.embedding === undefined ? [outputs.scores] : [outputs.scores, outputs.embedding];
    const result = await this.session.run(input, data, [n, ...this.inputShape], names);
    const scores = result[outputs.scores];
    const embedding = outputs.embedding === undefined ? undefined : result[outputs.embedding];
    if (!scores || (outputs.embedding !== undefined && !embedding))
      throw new Error("ONNX Runtime returned no scores or no embedding");
    const k = scores.length / n;
    const probabilities = toProbabilities(scores, k, outputs.kind);
    const d = embedding ? embedding.length / n : 0;
    return inputs.map((_, i) => ({
      probabilities: probabilities.subarray(i * k, (i + 1) * k),
      ...(embedding ? { embedding: embedding.subarray(i * d, (i + 1) * d) } : {}),
    }));
  }
}
