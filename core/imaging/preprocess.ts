import sharp, { type Sharp } from "sharp";
import { z } from "zod";
import { FEATURE_MAX_PIXELS, rawFeatures, type ImageFeatures } from "./features.ts";
import { checkImageFormat } from "./formats.ts";
import { decodePlainPng, readPngHeader } from "./png.ts";
import { MAX_INPUT_PIXELS } from "./probe.ts";

/**
 * How pixels become model input — recorded in every model card, so serving reproduces training exactly:
 * EXIF orientation applied, converted to `channels` (1 = luminance, 3 = sRGB without alpha), resized to
 * width×height with `fit`, then each channel c becomes (value × scale − mean[c]) / std[c], laid out NHWC
 * (channels last, the built-in trainer's) or NCHW (channel planes, PyTorch's).
 */
export const PreprocessSpecSchema = z
  .object({
    width: z.number().int().positive().max(4096),
    height: z.number().int().positive().max(4096),
    channels: z.union([z.literal(1), z.literal(3)]),
    fit: z.enum(["fill", "contain", "cover"]).default("fill"),
    scale: z
      .number()
      .positive()
      .default(1 / 255),
    mean: z.array(z.number()).default([0]),
    std: z.array(z.number().positive()).default([1]),
    layout: z.enum(["NHWC", "NCHW"]).default("NHWC"),
  })
  .strict()
  .refine((s) => s.mean.length === 1 || s.mean.length === s.channels, "mean needs 1 or `channels` values")
  .refine((s) => s.std.length === 1 || s.std.length === s.channels, "std needs 1 or `channels` values");

export type PreprocessSpec = z.infer<typeof PreprocessSpecSchema>;

/** Decodes one image and returns its model input (height × width × channels floats). */
export async function preprocess(data: Uint8Array, spec: PreprocessSpec): Promise<Float32Array> {
  return (await prepareImage(data, spec)).input;
}

export interface PreparedImage {
  /** Model input, height × width × channels floats in the spec's layout. */
  input: Float32Array;
  /** Drift features of the image as the model sees it (see FEATURE_NAMES), when asked for. */
  features?: ImageFeatures;
}

/**
 * Model input for one image, and optionally its drift features. A plain PNG already at the target size and
 * channels is decoded in-process (see decodePlainPng); everything else goes through sharp. Throws
 * UnsupportedImageFormatError for bytes that are not an allowed format (see formats.ts).
 */
export async function prepareImage(
  data: Uint8Array,
  spec: PreprocessSpec,
  options: { features?: boolean; storedSize?: { width: number; height: number } } = {},
): Promise<PreparedImage> {
  const plain = preparePlainPng(data, spec, options);
  if (plain) return plain;
  const image = sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" });
  // The stored size is a feature; the header gives it without decoding (a caller that read it already passes it:
  // another sharp call costs about as much as the features themselves).
  const stored = options.features ? (options.storedSize ?? readPngHeader(data) ?? (await image.metadata())) : undefined;
  const pixels = await sharpPixels(image, spec);
  const input = normalise(pixels, spec);
  if (!stored) return { input };
  return { input, features: await modelViewFeatures(pixels, spec, { width: stored.width, height: stored.height }) };
}

/**
 * Drift features from the pixels preprocessing produced for the model (one decode serves both), so their cost is
 * bounded by the model's input size, not by what a client uploads. An input larger than FEATURE_MAX_PIXELS is
 * shrunk by sharp (on libvips' threads) before the statistics run on the event loop.
 */
async function modelViewFeatures(
  pixels: Uint8Array,
  spec: PreprocessSpec,
  stored: { width: number; height: number },
): Promise<ImageFeatures> {
  let view = { pixels, width: spec.width, height: spec.height, channels: spec.channels as number };
  if (spec.width * spec.height > FEATURE_MAX_PIXELS) {
    const side = Math.floor(Math.sqrt(FEATURE_MAX_PIXELS));
    const { data, info } = await sharp(pixels, {
      raw: { width: spec.width, height: spec.height, channels: spec.channels },
    })
      .resize(side, side, { fit: "inside" })
      .raw()
      .toBuffer({ resolveWithObject: true });
    view = { pixels: data, width: info.width, height: info.height, channels: info.channels };
  }
  return { ...rawFeatures(view), width: stored.width, height: stored.height };
}

/**
 * prepareImage's in-process path alone, synchronous: the model input (and features) of a plain PNG already at the
 * spec's size and channels, or undefined when the image needs sharp. Throws for a corrupt plain PNG. A caller
 * with many small images (a dataset's split) runs these in its own thread and sends only the rest to the pool.
 */
export function preparePlainPng(
  data: Uint8Array,
  spec: PreprocessSpec,
  options: { features?: boolean } = {},
): PreparedImage | undefined {
  checkImageFormat(data);
  const plain = decodePlainPng(data, spec);
  if (!plain) return undefined;
  const input = normalise(plain, spec);
  if (!options.features) return { input };
  return {
    input,
    features: rawFeatures({ pixels: plain, width: spec.width, height: spec.height, channels: spec.channels }),
  };
}

async function sharpPixels(input: Sharp, spec: PreprocessSpec): Promise<Uint8Array> {
  let image = input.rotate().resize(spec.width, spec.height, {
    fit: spec.fit,
    ...(spec.fit === "contain" ? { background: { r: 0, g: 0, b: 0 } } : {}),
  });
  image = spec.channels === 1 ? image.toColourspace("b-w") : image.removeAlpha().toColourspace("srgb");
  const { data: pixels, info } = await image.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== spec.channels || info.width !== spec.width || info.height !== spec.height) {
    throw new Error(
      `preprocessing gave ${info.width}×${info.height}×${info.channels}, expected ${spec.width}×${spec.height}×${spec.channels}`,
    );
  }
  return pixels;
}

/**
 * Interleaved 8-bit pixels (HWC) → normalised floats in the spec's layout. Each channel maps its 256 possible values
 * through a table computed with the same expression, so the result is bit-identical to evaluating it per pixel, at
 * a fraction of the cost (this runs on the server's event loop for every image).
 */
function normalise(pixels: Uint8Array, spec: PreprocessSpec): Float32Array {
  const out = new Float32Array(pixels.length);
  const c = spec.channels;
  const plane = pixels.length / c;
  const planar = spec.layout === "NCHW" && c > 1;
  const table = new Float32Array(256);
  for (let ch = 0; ch < c; ch++) {
    const mean = spec.mean[spec.mean.length === 1 ? 0 : ch] ?? 0;
    const std = spec.std[spec.std.length === 1 ? 0 : ch] ?? 1;
    for (let v = 0; v < 256; v++) table[v] = (v * spec.scale - mean) / std;
    if (planar) {
      for (let i = 0, j = ch, o = ch * plane; i < plane; i++, j += c, o++) out[o] = table[pixels[j]!]!;
    } else {
      for (let j = ch; j < pixels.length; j += c) out[j] = table[pixels[j]!]!;
    }
  }
  return out;
}

/**
 * Drift features of a model input that arrived already preprocessed (an OIP FP32 tensor): the normalisation is
 * undone back to 8-bit pixels, so a tensor and the image it was made from give the same features (up to rounding),
 * except the stored size, which a tensor no longer has (the model's own size stands in).
 */
export function tensorFeatures(input: Float32Array, spec: PreprocessSpec): ImageFeatures {
  const c = spec.channels;
  const plane = spec.width * spec.height;
  const planar = spec.layout === "NCHW" && c > 1;
  const pixels = new Uint8Array(plane * c);
  for (let i = 0; i < pixels.length; i++) {
    const ch = i % c;
    const mean = spec.mean[spec.mean.length === 1 ? 0 : ch] ?? 0;
    const std = spec.std[spec.std.length === 1 ? 0 : ch] ?? 1;
    const x = input[planar ? ch * plane + (i - ch) / c : i] ?? 0;
    pixels[i] = Math.min(255, Math.max(0, Math.round((x * std + mean) / spec.scale)));
  }
  return rawFeatures({ pixels, width: spec.width, height: spec.height, channels: c });
}

/** The shape of one preprocessed image, without the batch axis: [H, W, C] (NHWC) or [C, H, W] (NCHW). */
export function inputShape(
  spec: Pick<PreprocessSpec, "width" | "height" | "channels" | "layout">,
): [number, number, number] {
  return spec.layout === "NCHW" ? [spec.channels, spec.height, spec.width] : [spec.height, spec.width, spec.channels];
}
