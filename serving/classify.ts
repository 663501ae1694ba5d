import { UnsupportedImageFormatError } from "../core/imaging/formats.ts";
import { readImageSize } from "../core/imaging/probe.ts";
import { prepareImage, type PreparedImage } from "../core/imaging/preprocess.ts";
import type { DecodeSlots } from "./decode-slots.ts";
import { ApiError } from "./errors.ts";
import type { LoadedModel, ModelOutput } from "./loaded-model.ts";
import type { ServingMetrics } from "./metrics.ts";
import type { PredictionLog } from "./prediction-log.ts";

export interface Prediction {
  label: string;
  index: number;
  confidence: number;
  scores: number[];
}

export interface ClassifyContext {
  model: LoadedModel;
  requestId: string;
  maxPixels: number;
  /** Declared pixels of all the images together. */
  maxRequestPixels?: number;
  /** Bounds the decodes in flight in this process; without it, every image decodes at once. */
  decodeSlots?: DecodeSlots;
  /** Aborted when the client has had its answer (timeout): queued decodes are skipped. */
  signal?: AbortSignal;
  metrics: ServingMetrics;
  predictionLog?: PredictionLog;
}

/**
 * Images → predictions, exactly as in training: each image's format (magic bytes) and declared size are checked
 * from its header (a bomb is refused before decoding), it is preprocessed by core/imaging with the model card's
 * spec in a decode slot, and the batch runs through the micro-batcher. Sampled predictions go to the prediction log
 * with their image features.
 */
export async function classifyImages(images: Uint8Array[], ctx: ClassifyContext): Promise<Prediction[]> {
  const { model } = ctx;
  const where = (i: number): string => (images.length === 1 ? "the image" : `image ${i}`);
  const samples = images.map(() => ctx.predictionLog?.sample() ?? { log: false, embedding: false });
  const sizes = await Promise.all(
    images.map(async (data, i) => {
      let size: { width: number; height: number };
      try {
        size = await readImageSize(data);
      } catch (err) {
        if (err instanceof UnsupportedImageFormatError && err.format !== undefined) throw new ApiError("unsupported_media_type", `${where(i)}: ${err.message}`, { cause: err });
        throw new ApiError("undecodable_image", `${where(i)} is not a readable image: ${(err as Error).message}`, { cause: err });
      }
      if (size.width * size.height > ctx.maxPixels) {
        throw new ApiError("too_many_pixels", `${where(i)} declares ${size.width}×${size.height} pixels; at most ${ctx.maxPixels} are decoded`);
      }
      return size.width * size.height;
    }),
  );
  const total = sizes.reduce((a, b) => a + b, 0);
  if (ctx.maxRequestPixels !== undefined && total > ctx.maxRequestPixels) {
    throw new ApiError("too_many_pixels", `the ${images.length} images declare ${total} pixels together; at most ${ctx.maxRequestPixels} per request`);
  }
  const decode = async (i: number): Promise<PreparedImage> => {
    try {
      return await prepareImage(images[i]!, model.card.preprocessing, { features: samples[i]!.log });
    } catch (err) {
      throw new ApiError("undecodable_image", `${where(i)} does not decode: ${(err as Error).message}`, { cause: err });
    }
  };
  const prepared = ctx.decodeSlots ? await ctx.decodeSlots.run(images.length, decode, ctx.signal) : await Promise.all(images.map((_, i) => decode(i)));
  const outputs = await model.infer(prepared.map((p) => p.input));
  const time = new Date().toISOString();
  return outputs.map((out, i) => {
    const prediction = toPrediction(out, model.card.classes);
    const labels = { model: model.name, version: String(model.version) };
    ctx.metrics.predictions.inc({ ...labels, label: prediction.label });
    ctx.metrics.confidence.observe(labels, prediction.confidence);
    const sample = samples[i]!;
    const features = prepared[i]!.features;
    if (sample.log && features && ctx.predictionLog) {
      ctx.predictionLog.append(model.name, model.version, {
        requestId: images.length === 1 ? ctx.requestId : `${ctx.requestId}/${i}`,
        time,
        label: prediction.label,
        index: prediction.index,
        // float32 softmax can round a hair past 1
        confidence: Math.min(1, prediction.confidence),
        features: { ...features },
        ...(sample.embedding && out.embedding ? { embedding: Array.from(out.embedding) } : {}),
      });
    }
    return prediction;
  });
}

export function toPrediction(out: ModelOutput, classes: readonly string[]): Prediction {
  let index = 0;
  for (let j = 1; j < out.probabilities.length; j++) if (out.probabilities[j]! > out.probabilities[index]!) index = j;
  return { label: classes[index]!, index, confidence: out.probabilities[index]!, scores: Array.from(out.probabilities) };
}
