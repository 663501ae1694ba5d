import sharp from "sharp";
import { checkImageFormat } from "./formats.ts";
import { MAX_INPUT_PIXELS } from "./probe.ts";

/** Pixels the drift statistics run over per image at most (they run on the event loop). */
export const FEATURE_MAX_PIXELS = 256 * 256;

/**
 * Scalar image features for drift detection, in a fixed order (the order of columns in feature tables and of the
 * features in a reference profile).
 *
 * - What they are computed on: the image as the model sees it, i.e. the 8-bit pixels preprocessing produces
 *   (rotated, resized to the model's input, in its channels; before normalisation), shrunk further to at most
 *   FEATURE_MAX_PIXELS when the model's input is larger (core/imaging/preprocess.ts, prepareImage). Training's
 *   reference profile and serving's prediction log both come from prepareImage, so they always match, and the cost
 *   is bounded by the model's size whatever a client uploads. For a one-channel model the colour means are all the
 *   grey value. imageFeatures below computes the same statistics on a whole stored image (analysis, tests).
 * - Pixels are 8-bit sRGB values (16-bit images are reduced to 8 bits by sharp, CMYK and other spaces converted to
 *   sRGB), scaled to [0, 1]. An alpha channel is ignored: features describe the stored colour values.
 * - Luminance: for greyscale images, the grey value; for colour images, Rec. 601 luma
 *   Y' = 0.299 R' + 0.587 G' + 0.114 B' on the gamma-encoded values (as PIL's "L" mode and OpenCV's
 *   `cvtColor(…, RGB2GRAY)`).
 * - `brightness`: mean luminance, in [0, 1].
 * - `contrast`: standard deviation of the luminance (population, ddof = 0), in [0, 0.5].
 * - `sharpness`: variance (population) of the 4-neighbour Laplacian [[0, 1, 0], [1, −4, 1], [0, 1, 0]] of the
 *   luminance in [0, 1], over the interior pixels only (no padding; 0 when the image is narrower or shorter than 3
 *   pixels). Range [0, 16]: a one-pixel checkerboard of 0 and 1 reaches 16. Multiply by 255² = 65,025 to compare
 *   with OpenCV's usual `Laplacian(gray8, CV_64F).var()` (which pads the border by reflection).
 * - `mean_r`, `mean_g`, `mean_b`: channel means in [0, 1]. One scheme for every image: a greyscale image has
 *   mean_r = mean_g = mean_b = its mean grey value (= brightness), so colour and greyscale traffic share columns.
 * - `width`, `height`: of the image as stored (before any EXIF rotation), in pixels.
 */
export const FEATURE_NAMES = [
  "brightness",
  "contrast",
  "sharpness",
  "mean_r",
  "mean_g",
  "mean_b",
  "width",
  "height",
] as const;
export type FeatureName = (typeof FEATURE_NAMES)[number];
export type ImageFeatures = Record<FeatureName, number>;

// Rec. 601 luma weights in thousandths: integer arithmetic keeps every sum exact (a flat image has exactly zero
// contrast and sharpness) and makes a grey pixel's luma exactly its grey value.
const LUMA_R = 299;
const LUMA_G = 587;
const LUMA_B = 114;
const LUMA_SCALE = 1000;

export interface RawImage {
  /** 8-bit samples, interleaved, row-major. */
  pixels: Uint8Array;
  width: number;
  height: number;
  /** 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). */
  channels: number;
}

/**
 * Decodes an image with sharp and computes its features (see FEATURE_NAMES): one sharp pipeline, decoding to
 * 8-bit sRGB. A greyscale image comes out with three equal channels, which gives the features of its one grey
 * channel (the luma weights are integer thousandths, 299 + 587 + 114 = 1000; equal up to the last bit).
 * Reading the header first to decode greyscale as one channel would save the conversion but costs a second
 * sharp call, which is slower for small images. Throws sharp's error for bytes that do not decode.
 */
export async function imageFeatures(data: Uint8Array): Promise<ImageFeatures> {
  checkImageFormat(data);
  const { data: pixels, info } = await sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" })
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  return rawFeatures({ pixels, width: info.width, height: info.height, channels: info.channels });
}

/**
 * Features of already-decoded 8-bit pixels (for callers that decode anyway, e.g. serving's preprocessing).
 * Same definitions as imageFeatures.
 */
export function rawFeatures(image: RawImage): ImageFeatures {
  const { pixels, width, height, channels } = image;
  if (!(channels >= 1 && channels <= 4) || !Number.isInteger(channels))
    throw new RangeError(`rawFeatures: unsupported channel count ${channels}`);
  const n = width * height;
  if (!Number.isInteger(width) || !Number.isInteger(height) || n <= 0)
    throw new RangeError(`rawFeatures: bad size ${width}×${height}`);
  if (pixels.length !== n * channels)
    throw new RangeError(`rawFeatures: ${pixels.length} bytes for ${width}×${height}×${channels}`);

  // Luminance in integer units of 1/255 (grey) or 1/255,000 (colour); `scale` is applied to the final statistics.
  let luma: Uint8Array | Int32Array;
  let scale = 255;
  let sumR = 0;
  let sumG = 0;
  let sumB = 0;
  if (channels <= 2) {
    if (channels === 1) luma = pixels;
    else {
      luma = new Uint8Array(n);
      for (let i = 0, j = 0; i < n; i++, j += 2) luma[i] = pixels[j]!;
    }
    let s = 0;
    for (let i = 0; i < n; i++) s += luma[i]!;
    sumR = sumG = sumB = s;
  } else {
    const y = new Int32Array(n);
    scale = 255 * LUMA_SCALE;
    for (let i = 0, j = 0; i < n; i++, j += channels) {
      const r = pixels[j]!;
      const g = pixels[j + 1]!;
      const b = pixels[j + 2]!;
      sumR += r;
      sumG += g;
      sumB += b;
      y[i] = LUMA_R * r + LUMA_G * g + LUMA_B * b;
    }
    luma = y;
  }

  // Two passes (mean, then squared deviations): exact 0 for a flat image, no cancellation.
  let sum = 0;
  for (let i = 0; i < n; i++) sum += luma[i]!;
  const meanY = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = luma[i]! - meanY;
    ss += d * d;
  }

  let sharpness = 0;
  if (width >= 3 && height >= 3) {
    const m = (width - 2) * (height - 2);
    let lapSum = 0;
    let lapSq = 0;
    for (let row = 1; row < height - 1; row++) {
      for (let col = 1, i = row * width + 1; col < width - 1; col++, i++) {
        const lap = luma[i - width]! + luma[i + width]! + luma[i - 1]! + luma[i + 1]! - 4 * luma[i]!;
        lapSum += lap;
        lapSq += lap * lap;
      }
    }
    // One pass is safe here: the Laplacian is an integer and its mean is near 0 for any image (its sum is a
    // boundary term), so there is no cancellation to fear.
    const lapMean = lapSum / m;
    sharpness = Math.max(0, lapSq / m - lapMean * lapMean) / (scale * scale);
  }

  return {
    brightness: meanY / scale,
    contrast: Math.sqrt(ss / n) / scale,
    sharpness,
    mean_r: sumR / n / 255,
    mean_g: sumG / n / 255,
    mean_b: sumB / n / 255,
    width,
    height,
  };
}

/** The features as a row in FEATURE_NAMES order. */
export function featureVector(features: ImageFeatures): number[] {
  return FEATURE_NAMES.map((name) => features[name]);
}
