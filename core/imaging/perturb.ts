import sharp from "sharp";
import { seededRandom } from "../drift/random.ts";
import { MAX_INPUT_PIXELS } from "./probe.ts";

/**
 * The fixed perturbations a candidate is scored under (its robustness, on the model card). Fixed and named so that
 * numbers on two cards, or in a promotion rule, mean the same thing:
 * - `brightness+30` / `brightness-30`: every colour value × 1.3 / × 0.7, rounded and clamped to 0–255;
 * - `noise`: additive Gaussian noise, σ = 0.1 of the range (25.5), independent per value, seeded per image;
 * - `rotation`: 15° clockwise about the centre, same size, corners filled with black;
 * - `blur`: Gaussian blur, σ = 1 pixel.
 */
export const PERTURBATIONS = ["brightness+30", "brightness-30", "noise", "rotation", "blur"] as const;
export type Perturbation = (typeof PERTURBATIONS)[number];

export const NOISE_SIGMA = 25.5;
export const ROTATION_DEGREES = 15;
export const BLUR_SIGMA = 1;
const BRIGHTNESS: Partial<Record<Perturbation, number>> = { "brightness+30": 1.3, "brightness-30": 0.7 };

/** 8-bit interleaved pixels of a source image, oriented as preprocessing sees it. */
interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  /** 1 grey, 2 grey + alpha, 3 sRGB, 4 sRGB + alpha. */
  channels: 1 | 2 | 3 | 4;
}

/**
 * The source image under one perturbation, as a lossless PNG of the same size and channels (alpha kept, untouched
 * except by blur), so that preprocessing it (core/imaging/preprocess.ts) gives what serving would compute for such
 * an image, the same bytes on every run. `seed` drives the noise; the other perturbations are deterministic.
 */
export async function perturbImage(bytes: Uint8Array, p: Perturbation, seed: number): Promise<Buffer> {
  return perturbPixels(await decodeSource(bytes), p, seed);
}

/** Every perturbation of one image, decoding it once (what robustness evaluation uses). */
export async function perturbAll(bytes: Uint8Array, seed: number): Promise<Record<Perturbation, Buffer>> {
  const source = await decodeSource(bytes);
  const out = await Promise.all(PERTURBATIONS.map((p) => perturbPixels(source, p, seed)));
  return Object.fromEntries(PERTURBATIONS.map((p, i) => [p, out[i]])) as Record<Perturbation, Buffer>;
}

/**
 * Decodes as preprocessing does (EXIF orientation applied; 16-bit, palette and CMYK brought to 8-bit grey or sRGB),
 * so the PNG written afterwards, which carries no orientation or profile, decodes to the same pixels.
 */
async function decodeSource(bytes: Uint8Array): Promise<Pixels> {
  const image = sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" });
  let meta;
  try {
    meta = await image.metadata();
  } catch (err) {
    throw new Error(`cannot perturb an image that does not decode: ${(err as Error).message}`, { cause: err });
  }
  const grey = meta.space === "b-w" || meta.space === "grey16";
  const { data, info } = await image.rotate().toColourspace(grey ? "b-w" : "srgb").raw().toBuffer({ resolveWithObject: true });
  if (info.channels < 1 || info.channels > 4) throw new Error(`cannot perturb a ${meta.format} image decoding to ${info.channels} channels`);
  return { data, width: info.width, height: info.height, channels: info.channels as Pixels["channels"] };
}

async function perturbPixels(source: Pixels, p: Perturbation, seed: number): Promise<Buffer> {
  const { width, height, channels } = source;
  const colour = channels === 2 || channels === 4 ? channels - 1 : channels;
  const raw = { raw: { width, height, channels } };
  const factor = BRIGHTNESS[p];
  if (factor !== undefined) {
    // Point operations are done here rather than by sharp's `linear`, so the rounding and clamping are exactly
    // the documented ones (libvips' float → uchar cast truncates).
    const out = Buffer.from(source.data);
    forEachColourValue(out, channels, colour, (v) => v * factor);
    return encodePng(out, source);
  }
  if (p === "noise") {
    const out = Buffer.from(source.data);
    const gaussian = gaussianSource(seededRandom(seed));
    forEachColourValue(out, channels, colour, (v) => v + NOISE_SIGMA * gaussian());
    return encodePng(out, source);
  }
  if (p === "blur") return asSource(sharp(source.data, raw).blur(BLUR_SIGMA), channels).png(PNG).toBuffer();
  if (p === "rotation") {
    // sharp grows the canvas to hold the whole rotated image; the centred original-size window is cut back out
    // (offsets rounded down when the growth is odd).
    const rotated = await asSource(sharp(source.data, raw).rotate(ROTATION_DEGREES, { background: { r: 0, g: 0, b: 0, alpha: 1 } }), channels)
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width: w, height: h, channels: c } = rotated.info;
    if (c !== channels || w < width || h < height) throw new Error(`rotation gave ${w}×${h}×${c} from ${width}×${height}×${channels}`);
    const window = { left: Math.floor((w - width) / 2), top: Math.floor((h - height) / 2), width, height };
    return asSource(sharp(rotated.data, { raw: { width: w, height: h, channels } }).extract(window), channels)
      .png(PNG)
      .toBuffer();
  }
  throw new Error(`unknown perturbation ${JSON.stringify(p)} (one of ${PERTURBATIONS.join(", ")})`);
}

// Fast to write and lossless; palette output would change pixels and keep the PNG off the in-process decoder.
const PNG = { compressionLevel: 1, palette: false } as const;

function encodePng(data: Buffer, like: Pixels): Promise<Buffer> {
  return asSource(sharp(data, { raw: { width: like.width, height: like.height, channels: like.channels } }), like.channels)
    .png(PNG)
    .toBuffer();
}

/** sharp writes sRGB unless told otherwise: a grey source stays grey (1 or 2 channels). */
function asSource(image: sharp.Sharp, channels: number): sharp.Sharp {
  return channels <= 2 ? image.toColourspace("b-w") : image;
}

/** Applies `f` to each colour value (not alpha), rounding and clamping the result to 0–255. */
function forEachColourValue(data: Buffer, channels: number, colour: number, f: (v: number) => number): void {
  for (let i = 0; i < data.length; i++) {
    if (i % channels >= colour) continue;
    data[i] = Math.max(0, Math.min(255, Math.round(f(data[i]!))));
  }
}

/** Standard normal samples (Box–Muller, both values of each pair used) from a uniform source. */
function gaussianSource(random: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - random(); // (0, 1]: log(0) would be -Infinity
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * random();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}
