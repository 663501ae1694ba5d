import sharp from "sharp";
import { gaussianSource, seededRandom } from "../util/random.ts";
import { decodePlainPng, encodePlainPng, readPngHeader } from "./png.ts";
import { MAX_INPUT_PIXELS } from "./probe.ts";

/**
 * The fixed perturbations a candidate is scored under (its robustness, on the model card). Fixed and named so that
 * numbers on two cards, or in a promotion rule, mean the same thing:
 * - `brightness+30` / `brightness-30`: every colour value × 1.3 / × 0.7, rounded and clamped to 0–255;
 * - `noise`: additive Gaussian noise, σ = 0.1 of the range (25.5), independent per value, seeded per image;
 * - `rotation`: 15° clockwise about the centre, same size, the uncovered corners black;
 * - `blur`: Gaussian blur, σ = 1 pixel (sharp's `blur(1)`).
 */
export const PERTURBATIONS = ["brightness+30", "brightness-30", "noise", "rotation", "blur"] as const;
export type Perturbation = (typeof PERTURBATIONS)[number];

export const NOISE_SIGMA = 25.5;
export const ROTATION_DEGREES = 15;
export const BLUR_SIGMA = 1;
const BRIGHTNESS: Partial<Record<Perturbation, number>> = { "brightness+30": 1.3, "brightness-30": 0.7 };

/** 8-bit interleaved pixels of a source image, oriented as preprocessing sees it. */
interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 grey, 2 grey + alpha, 3 sRGB, 4 sRGB + alpha. */
  channels: 1 | 2 | 3 | 4;
}

/**
 * The source image under one perturbation, as a lossless PNG of the same size and channels (alpha kept as it is,
 * except that blur blurs it too), so that preprocessing it (core/imaging/preprocess.ts) gives what serving would
 * compute for such an image, byte for byte the same on every run. `seed` drives the noise; the other perturbations
 * are deterministic.
 */
export async function perturbImage(bytes: Uint8Array, p: Perturbation, seed: number): Promise<Buffer> {
  if (!PERTURBATIONS.includes(p))
    throw new Error(`unknown perturbation ${JSON.stringify(p)} (one of ${PERTURBATIONS.join(", ")})`);
  const source = await decodeSource(bytes);
  if (p === "blur") return encodePlainPng((await blurAll([source]))[0]!);
  if (p === "rotation") return encodePlainPng(await rotate(source));
  return encodePlainPng(pointwise(source, p, seed));
}

/**
 * Every perturbation of each image (what robustness evaluation uses), the same bytes perturbImage gives: each
 * image is decoded once, and the blur of all of them costs a few sharp calls rather than one per image.
 */
export async function perturbBatch(
  images: { bytes: Uint8Array; seed: number }[],
): Promise<Record<Perturbation, Buffer>[]> {
  const sources = await Promise.all(images.map((image) => decodeSource(image.bytes)));
  const [blurred, rotated] = await Promise.all([blurAll(sources), Promise.all(sources.map(rotate))]);
  return sources.map((source, i) => ({
    "brightness+30": encodePlainPng(pointwise(source, "brightness+30", 0)),
    "brightness-30": encodePlainPng(pointwise(source, "brightness-30", 0)),
    noise: encodePlainPng(pointwise(source, "noise", images[i]!.seed)),
    rotation: encodePlainPng(rotated[i]!),
    blur: encodePlainPng(blurred[i]!),
  }));
}

/**
 * Decodes as preprocessing does: a plain 8-bit PNG in-process (core/imaging/png.ts, which gives sharp's pixels),
 * anything else through sharp with EXIF orientation applied and 16-bit, palette, CMYK or ICC-profiled data
 * brought to 8-bit grey or sRGB, so the PNG written afterwards (no orientation, no profile) decodes to these pixels.
 */
async function decodeSource(bytes: Uint8Array): Promise<Pixels> {
  const header = readPngHeader(bytes);
  const plainChannels = header?.colorType === 0 ? 1 : header?.colorType === 2 ? 3 : undefined;
  if (header && plainChannels) {
    const data = decodePlainPng(bytes, { width: header.width, height: header.height, channels: plainChannels });
    if (data) return { data, width: header.width, height: header.height, channels: plainChannels };
  }
  const image = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" });
  try {
    const meta = await image.metadata();
    const grey = meta.space === "b-w" || meta.space === "grey16";
    const { data, info } = await image
      .rotate()
      .toColourspace(grey ? "b-w" : "srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels < 1 || info.channels > 4) throw new Error(`it decodes to ${info.channels} channels`);
    return { data, width: info.width, height: info.height, channels: info.channels as Pixels["channels"] };
  } catch (err) {
    throw new Error(`cannot perturb an image (${bytes.length} bytes) that does not decode: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Brightness and noise: point operations, done here rather than by sharp's `linear`, so rounding and clamping are
 * exactly the documented ones (sharp's `linear` truncates: 3 × 1.3 gives 3) and no sharp call is paid for them.
 */
function pointwise(source: Pixels, p: Perturbation, seed: number): Pixels {
  const { channels } = source;
  const colour = channels === 2 || channels === 4 ? channels - 1 : channels;
  const factor = BRIGHTNESS[p];
  if (factor !== undefined) return { ...source, data: mapColour(source.data, channels, colour, (v) => v * factor) };
  if (p !== "noise") throw new Error(`${p} is not a point operation`);
  const gaussian = gaussianSource(seededRandom(seed));
  return { ...source, data: mapColour(source.data, channels, colour, (v) => v + NOISE_SIGMA * gaussian()) };
}

/**
 * sharp's rotation grows the canvas to hold the whole rotated image; the centred window of the original size is
 * cut back out (its offset rounded down when the canvas grew by an odd number of pixels).
 */
async function rotate(source: Pixels): Promise<Pixels> {
  const { width, height, channels } = source;
  const rotated = sharp(source.data, { raw: { width, height, channels } }).rotate(ROTATION_DEGREES, {
    background: { r: 0, g: 0, b: 0, alpha: 1 },
  });
  const { data, info } = await asSource(rotated, channels).raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== channels || info.width < width || info.height < height) {
    throw new Error(
      `rotating a ${width}×${height}×${channels} image gave ${info.width}×${info.height}×${info.channels}`,
    );
  }
  const left = Math.floor((info.width - width) / 2);
  const top = Math.floor((info.height - height) / 2);
  const out = new Uint8Array(width * height * channels);
  const stride = width * channels;
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * info.width + left) * channels;
    out.set(data.subarray(from, from + stride), y * stride);
  }
  return { ...source, data: out };
}

/**
 * Margin around each tile of a blur mosaic, filled by repeating the tile's edge pixels as libvips extends an
 * image's edges when it blurs it; wider than sharp's mask for σ = 1 (3 taps at its min amplitude 0.2), so every pixel
 * of a tile is blurred from exactly the values it would see alone (checked bit for bit by the tests).
 */
const BLUR_MARGIN = Math.ceil(3 * BLUR_SIGMA) + 1;
/** Bounds the memory of one mosaic (pixels; at most 4 bytes each). */
const MOSAIC_PIXELS = 4_000_000;

/**
 * Gaussian blur of many images: each sharp call costs about 1.7 ms even for a 28×28 image (measured; most of it
 * setting up the convolution), so images of one shape are blurred together as tiles of a mosaic and cut out again.
 */
async function blurAll(sources: Pixels[]): Promise<Pixels[]> {
  const out = new Array<Pixels>(sources.length);
  const groups = new Map<string, number[]>();
  sources.forEach((s, i) => {
    const key = `${s.width}×${s.height}×${s.channels}`;
    const members = groups.get(key);
    if (members) members.push(i);
    else groups.set(key, [i]);
  });
  const jobs: Promise<void>[] = [];
  for (const members of groups.values()) {
    const { width, height } = sources[members[0]!]!;
    const tile = (width + 2 * BLUR_MARGIN) * (height + 2 * BLUR_MARGIN);
    const perMosaic = Math.max(1, Math.floor(MOSAIC_PIXELS / tile));
    for (let start = 0; start < members.length; start += perMosaic) {
      const batch = members.slice(start, start + perMosaic);
      jobs.push(
        blurMosaic(batch.map((i) => sources[i]!)).then((blurred) => blurred.forEach((b, k) => (out[batch[k]!] = b))),
      );
    }
  }
  await Promise.all(jobs);
  return out;
}

/** Blurs images of one shape as tiles of one mosaic (a near-square grid), each with its edges repeated around it. */
async function blurMosaic(images: Pixels[]): Promise<Pixels[]> {
  const { width, height, channels } = images[0]!;
  const m = BLUR_MARGIN;
  const tw = width + 2 * m;
  const th = height + 2 * m;
  const cols = Math.ceil(Math.sqrt(images.length));
  const rows = Math.ceil(images.length / cols);
  const mw = cols * tw;
  const mosaic = Buffer.alloc(mw * rows * th * channels);
  const stride = width * channels;
  images.forEach((image, i) => {
    const ox = (i % cols) * tw;
    const oy = Math.floor(i / cols) * th;
    for (let y = 0; y < th; y++) {
      const row = Math.min(height - 1, Math.max(0, y - m)) * stride;
      const at = ((oy + y) * mw + ox) * channels;
      mosaic.set(image.data.subarray(row, row + stride), at + m * channels);
      for (let x = 0; x < m; x++) {
        mosaic.set(image.data.subarray(row, row + channels), at + x * channels);
        mosaic.set(image.data.subarray(row + stride - channels, row + stride), at + (m + width + x) * channels);
      }
    }
  });
  const blurred = await rawOf(sharp(mosaic, { raw: { width: mw, height: rows * th, channels } }).blur(BLUR_SIGMA), {
    width: mw,
    height: rows * th,
    channels,
  });
  return images.map((image, i) => {
    const ox = (i % cols) * tw + m;
    const oy = Math.floor(i / cols) * th + m;
    const data = new Uint8Array(height * stride);
    for (let y = 0; y < height; y++) {
      const from = ((oy + y) * mw + ox) * channels;
      data.set(blurred.subarray(from, from + stride), y * stride);
    }
    return { ...image, data };
  });
}

/** sharp writes sRGB unless told otherwise: a grey source stays grey (1 or 2 channels). */
function asSource(image: Sharp, channels: number): Sharp {
  return channels <= 2 ? image.toColourspace("b-w") : image;
}

async function rawOf(image: Sharp, like: Pick<Pixels, "width" | "height" | "channels">): Promise<Uint8Array> {
  const { data, info } = await asSource(image, like.channels).raw().toBuffer({ resolveWithObject: true });
  if (info.width !== like.width || info.height !== like.height || info.channels !== like.channels) {
    throw new Error(
      `perturbing a ${like.width}×${like.height}×${like.channels} image gave ${info.width}×${info.height}×${info.channels}`,
    );
  }
  return data;
}

/** A copy of `data` with `f` applied to each colour value (not alpha), rounded and clamped to 0–255. */
function mapColour(data: Uint8Array, channels: number, colour: number, f: (v: number) => number): Uint8Array {
  const out = Uint8Array.from(data);
  for (let i = 0; i < out.length; i++) {
    if (i % channels < colour) out[i] = Math.max(0, Math.min(255, Math.round(f(out[i]!))));
  }
  return out;
}

type Sharp = ReturnType<typeof sharp>;
