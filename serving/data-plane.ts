import { UnsupportedImageFormatError } from "../core/imaging/formats.ts";
import type { ImageFeatures } from "../core/imaging/features.ts";
import { readHeaderSize, readImageSize } from "../core/imaging/probe.ts";
import { topClass } from "../core/registry/scores.ts";
import { prepareImage, tensorFeatures, type PreparedImage } from "../core/imaging/preprocess.ts";
import { withModel, type ServingContext } from "./context.ts";
import { DecodeSlots } from "./decode-slots.ts";
import { ApiError } from "./errors.ts";
import type { LoadedModel, ModelOutput } from "./loaded-model.ts";
import { currentRequest } from "./request-scope.ts";
import { withTimeout } from "./timeout.ts";

/** The protocols in front of the data plane; each is a thin adapter that parses its request and shapes its answer. */
export type Protocol = "predict" | "oip" | "vertex";

/**
 * What a protocol hands the data plane: encoded images (decoded and preprocessed here, exactly as in training), or
 * model inputs a client preprocessed itself (an OIP FP32 tensor split per image, each `model.inputSize` floats).
 */
export type ModelInput = { kind: "images"; images: Uint8Array[] } | { kind: "tensors"; tensors: Float32Array[] };

export interface Prediction {
  label: string;
  index: number;
  confidence: number;
  scores: number[];
}

export interface Inference {
  /** The version that answered (leased while it ran); its card shapes the protocol's answer. */
  model: LoadedModel;
  predictions: Prediction[];
  /** The model's outputs per input, for protocols that return tensors. */
  outputs: ModelOutput[];
}

/**
 * The one inference path behind every protocol (KServe's data plane is the model): it leases the served version,
 * applies the request limits, decodes in bounded slots, batches, times out, counts `predictions_total` and the
 * confidence by model and version, and writes the sampled prediction log. A protocol that called the model any
 * other way would be invisible to drift detection and lineage.
 */
export class DataPlane {
  private readonly ctx: ServingContext;
  // One per process: every request's decodes share it.
  private readonly decodeSlots: DecodeSlots;

  constructor(ctx: ServingContext) {
    this.ctx = ctx;
    this.decodeSlots = new DecodeSlots(ctx.config.decodes);
  }

  /** Runs `fn` with the served version leased (protocol metadata: names, shapes, classes). */
  withModel<T>(fn: (model: LoadedModel) => Promise<T> | T): Promise<T> {
    return withModel(this.ctx, async (model) => fn(model));
  }

  /**
   * Classifies one request's inputs. `input` may be a function of the served version, for protocols whose request
   * is checked against the model (tensor names and shapes) before anything runs.
   */
  infer(protocol: Protocol, input: ModelInput | ((model: LoadedModel) => ModelInput)): Promise<Inference> {
    const { config } = this.ctx;
    return withModel(this.ctx, async (model) => {
      const request = typeof input === "function" ? input(model) : input;
      const count = inputCount(request);
      if (count === 0) throw new ApiError("bad_request", "the request has no inputs");
      if (count > config.maxImagesPerRequest)
        throw new ApiError("payload_too_large", `${count} inputs; at most ${config.maxImagesPerRequest} per request`);
      return withTimeout(this.run(protocol, model, request), config.requestTimeoutMs, "inference");
    });
  }

  private async run(protocol: Protocol, model: LoadedModel, input: ModelInput): Promise<Inference> {
    const samples = Array.from(
      { length: inputCount(input) },
      () => this.ctx.predictionLog?.sample() ?? { log: false, embedding: false },
    );
    let prepared: PreparedImage[];
    if (input.kind === "images") {
      prepared = await this.decode(model, input.images, samples);
    } else {
      prepared = input.tensors.map((tensor, i) => {
        if (tensor.length !== model.inputSize)
          throw new ApiError(
            "invalid_tensor",
            `input ${i} has ${tensor.length} values; the model takes ${model.inputSize}`,
          );
        return {
          input: tensor,
          ...(samples[i]!.log ? { features: tensorFeatures(tensor, model.card.preprocessing) } : {}),
        };
      });
    }
    const outputs = await model.infer(prepared.map((p) => p.input));
    const predictions = outputs.map((out) => toPrediction(out, model.card.classes));
    this.record(protocol, model, predictions, outputs, prepared, samples);
    return { model, predictions, outputs };
  }

  /**
   * Each image's format (magic bytes) and declared size are checked from its header, so a bomb is refused before
   * decoding; then it is preprocessed with the model card's spec in a decode slot.
   */
  private async decode(
    model: LoadedModel,
    images: Uint8Array[],
    samples: { log: boolean }[],
  ): Promise<PreparedImage[]> {
    const { config } = this.ctx;
    const where = (i: number): string => (images.length === 1 ? "the image" : `image ${i}`);
    const unreadable = (i: number, err: unknown): ApiError =>
      err instanceof UnsupportedImageFormatError && err.format !== undefined
        ? new ApiError("unsupported_media_type", `${where(i)}: ${err.message}`, { cause: err })
        : new ApiError("undecodable_image", `${where(i)} is not a readable image: ${(err as Error).message}`, {
            cause: err,
          });
    const bounded = (i: number, size: { width: number; height: number }): { width: number; height: number } => {
      if (size.width * size.height > config.maxPixels) {
        throw new ApiError(
          "too_many_pixels",
          `${where(i)} declares ${size.width}×${size.height} pixels; at most ${config.maxPixels} are decoded`,
        );
      }
      return size;
    };
    // PNG and JPEG headers are read in place; only other formats wait for sharp's header reader.
    const sizes: { width: number; height: number }[] = new Array(images.length);
    let others: number[] | undefined;
    images.forEach((data, i) => {
      let header: { width: number; height: number } | undefined;
      try {
        header = readHeaderSize(data);
      } catch (err) {
        throw unreadable(i, err);
      }
      if (header) sizes[i] = bounded(i, header);
      else (others ??= []).push(i);
    });
    if (others)
      await Promise.all(
        others.map((i) =>
          readImageSize(images[i]!).then(
            (size) => (sizes[i] = bounded(i, size)),
            (err: unknown) => {
              throw unreadable(i, err);
            },
          ),
        ),
      );
    const total = sizes.reduce((a, b) => a + b.width * b.height, 0);
    if (config.maxRequestPixels !== undefined && total > config.maxRequestPixels) {
      throw new ApiError(
        "too_many_pixels",
        `the ${images.length} images declare ${total} pixels together; at most ${config.maxRequestPixels} per request`,
      );
    }
    const decode = async (i: number): Promise<PreparedImage> => {
      try {
        return await prepareImage(images[i]!, model.card.preprocessing, {
          features: samples[i]!.log,
          storedSize: sizes[i]!,
        });
      } catch (err) {
        throw new ApiError("undecodable_image", `${where(i)} does not decode: ${(err as Error).message}`, {
          cause: err,
        });
      }
    };
    // The request's scope fires once it is answered (a timeout included): its queued decodes are skipped.
    return this.decodeSlots.run(images.length, decode, currentRequest()?.signal);
  }

  private record(
    protocol: Protocol,
    model: LoadedModel,
    predictions: Prediction[],
    outputs: ModelOutput[],
    prepared: PreparedImage[],
    samples: { log: boolean; embedding: boolean }[],
  ): void {
    const { metrics, predictionLog } = this.ctx;
    const labels = { model: model.name, version: String(model.version) };
    metrics.inferenceRequests.inc({ ...labels, protocol });
    const requestId = currentRequest()?.requestId;
    const time = new Date().toISOString();
    predictions.forEach((prediction, i) => {
      metrics.predictions.inc({ ...labels, label: prediction.label });
      metrics.confidence.observe(labels, prediction.confidence);
      const features: ImageFeatures | undefined = prepared[i]!.features;
      const sample = samples[i]!;
      const embedding = outputs[i]!.embedding;
      if (!sample.log || !features || !predictionLog || requestId === undefined) return;
      predictionLog.append(model.name, model.version, {
        requestId: predictions.length === 1 ? requestId : `${requestId}/${i}`,
        time,
        protocol,
        label: prediction.label,
        index: prediction.index,
        // float32 softmax can round a hair past 1
        confidence: Math.min(1, prediction.confidence),
        // The image's own (made for this prediction, used by nothing else): no copy.
        features,
        ...(sample.embedding && embedding ? { embedding: Array.from(embedding) } : {}),
      });
    });
  }
}

const inputCount = (input: ModelInput): number =>
  input.kind === "images" ? input.images.length : input.tensors.length;

/** The predicted class by the same argmax the trainer's evaluation uses, so the two cannot disagree on a label. */
export function toPrediction(out: ModelOutput, classes: readonly string[]): Prediction {
  const index = topClass(out.probabilities, out.probabilities.length);
  return {
    label: classes[index]!,
    index,
    confidence: out.probabilities[index]!,
    scores: Array.from(out.probabilities),
  };
}
