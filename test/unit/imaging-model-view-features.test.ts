import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { FEATURE_MAX_PIXELS, imageFeatures, rawFeatures } from "../../core/imaging/features.ts";
import { ImagePool } from "../../core/imaging/image-pool.ts";
import { prepareImage, PreprocessSpecSchema } from "../../core/imaging/preprocess.ts";

const GREY = PreprocessSpecSchema.parse({ width: 28, height: 28, channels: 1 });

/** Deterministic noise: full-resolution sharpness is far from what the model's 28×28 view keeps. */
function noise(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

const noisyPng = (side: number, channels: 1 | 3) =>
  sharp(noise(side * side * channels, side), { raw: { width: side, height: side, channels } })
    .png({ compressionLevel: 1 })
    .toBuffer();

describe("drift features are computed on the image as the model sees it", () => {
  it("uses the preprocessed pixels (and the stored size) for an upload far larger than the model's input", async () => {
    const big = await noisyPng(1024, 3);
    const { features } = await prepareImage(big, GREY, { features: true });
    const view = await sharp(big).resize(28, 28, { fit: "fill" }).toColourspace("b-w").raw().toBuffer();
    expect(features).toEqual({
      ...rawFeatures({ pixels: view, width: 28, height: 28, channels: 1 }),
      width: 1024,
      height: 1024,
    });
    // The full-resolution statistics differ: the model never sees that pixel-level noise.
    expect((await imageFeatures(big)).sharpness).toBeGreaterThan(features!.sharpness * 2);
  });

  it("shrinks a large model input to a bounded thumbnail before the statistics", async () => {
    const spec = PreprocessSpecSchema.parse({ width: 640, height: 480, channels: 3 });
    const image = await noisyPng(700, 3);
    const { features, input } = await prepareImage(image, spec, { features: true });
    expect(input).toHaveLength(640 * 480 * 3);
    const modelPixels = await sharp(image)
      .resize(640, 480, { fit: "fill" })
      .removeAlpha()
      .toColourspace("srgb")
      .raw()
      .toBuffer();
    const { data, info } = await sharp(modelPixels, { raw: { width: 640, height: 480, channels: 3 } })
      .resize(256, 256, { fit: "inside" })
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(info.width * info.height).toBeLessThanOrEqual(FEATURE_MAX_PIXELS);
    expect(features).toEqual({
      ...rawFeatures({ pixels: data, width: info.width, height: info.height, channels: 3 }),
      width: 700,
      height: 700,
    });
  });

  it("gives the training side (image pool) and the serving side (in process) the same features, so reference and live match", async () => {
    const jpeg = await sharp(noise(300 * 200 * 3, 5), { raw: { width: 300, height: 200, channels: 3 } })
      .jpeg()
      .toBuffer();
    const webp = await sharp(noise(64 * 64, 9), { raw: { width: 64, height: 64, channels: 1 } })
      .webp()
      .toBuffer();
    const pool = new ImagePool(1);
    try {
      const trained = await pool.prepareBatch([jpeg, webp], GREY);
      for (const [i, data] of [jpeg, webp].entries()) {
        const served = await prepareImage(data, GREY, { features: true });
        expect(trained[i]).toEqual(served);
      }
      expect((trained[0] as { features: { width: number } }).features.width).toBe(300);
    } finally {
      await pool.close();
    }
  });
});
