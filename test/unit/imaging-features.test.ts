import { readdirSync, readFileSync } from "node:fs";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { FEATURE_NAMES, featureVector, imageFeatures, rawFeatures } from "../../core/imaging/features.ts";
import type { ImageFeatures } from "../../core/imaging/features.ts";

const SAMPLE = new URL("../../data/sample/test/", import.meta.url);

function sampleImages(perClass: number): Buffer[] {
  const out: Buffer[] = [];
  for (const cls of readdirSync(SAMPLE).sort()) {
    const dir = new URL(`${cls}/`, SAMPLE);
    for (const file of readdirSync(dir).sort().slice(0, perClass)) out.push(readFileSync(new URL(file, dir)));
  }
  return out;
}

/** A PNG from raw 8-bit pixels. */
function png(pixels: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4): Promise<Buffer> {
  return sharp(pixels, { raw: { width, height, channels } }).png().toBuffer();
}

/** Straightforward reference implementation (float luma, explicit Laplacian image), independent of the fast one. */
function naiveFeatures(pixels: Uint8Array, width: number, height: number, channels: number): ImageFeatures {
  const n = width * height;
  const y: number[] = [];
  const sums = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const px = pixels.subarray(i * channels, i * channels + channels);
    const [r, g, b] = channels >= 3 ? [px[0]!, px[1]!, px[2]!] : [px[0]!, px[0]!, px[0]!];
    sums[0]! += r / 255;
    sums[1]! += g / 255;
    sums[2]! += b / 255;
    y.push(channels >= 3 ? (0.299 * r + 0.587 * g + 0.114 * b) / 255 : r / 255);
  }
  const mean = (xs: number[]): number => xs.reduce((s, v) => s + v, 0) / xs.length;
  const variance = (xs: number[]): number => mean(xs.map((v) => (v - mean(xs)) ** 2));
  const lap: number[] = [];
  for (let r = 1; r < height - 1; r++) {
    for (let c = 1; c < width - 1; c++) {
      const at = (rr: number, cc: number): number => y[rr * width + cc]!;
      lap.push(at(r - 1, c) + at(r + 1, c) + at(r, c - 1) + at(r, c + 1) - 4 * at(r, c));
    }
  }
  return {
    brightness: mean(y),
    contrast: Math.sqrt(variance(y)),
    sharpness: lap.length ? variance(lap) : 0,
    mean_r: sums[0]! / n,
    mean_g: sums[1]! / n,
    mean_b: sums[2]! / n,
    width,
    height,
  };
}

function expectFeaturesClose(actual: ImageFeatures, expected: ImageFeatures, digits = 12): void {
  for (const name of FEATURE_NAMES) expect(actual[name], name).toBeCloseTo(expected[name], digits);
}

describe("image features", () => {
  it("has a fixed feature order", () => {
    expect(FEATURE_NAMES).toEqual([
      "brightness",
      "contrast",
      "sharpness",
      "mean_r",
      "mean_g",
      "mean_b",
      "width",
      "height",
    ]);
  });

  it("gives a flat grey image zero contrast and zero sharpness, in grey and in colour encodings", async () => {
    const grey = await imageFeatures(await png(new Uint8Array(20 * 10).fill(128), 20, 10, 1));
    const rgb = await imageFeatures(
      await sharp({ create: { width: 20, height: 10, channels: 3, background: { r: 128, g: 128, b: 128 } } })
        .png()
        .toBuffer(),
    );
    for (const f of [grey, rgb]) {
      expect(f.contrast).toBe(0);
      expect(f.sharpness).toBe(0);
      expect(f.brightness).toBeCloseTo(128 / 255, 14);
      expect([f.mean_r, f.mean_g, f.mean_b]).toEqual([128 / 255, 128 / 255, 128 / 255]);
      expect([f.width, f.height]).toEqual([20, 10]);
    }
  });

  it("gives a one-pixel checkerboard the maximum sharpness (16) and contrast 0.5", async () => {
    const w = 8;
    const pixels = new Uint8Array(w * w).map((_, i) => (((i % w) + Math.floor(i / w)) % 2 ? 255 : 0));
    const f = await imageFeatures(await png(pixels, w, w, 1));
    expect(f.brightness).toBe(0.5);
    expect(f.contrast).toBe(0.5);
    expect(f.sharpness).toBe(16);
    // A coarser checkerboard (4-pixel squares) is much less sharp, a flat image not at all.
    const coarse = new Uint8Array(w * w).map((_, i) =>
      (Math.floor((i % w) / 4) + Math.floor(i / w / 4)) % 2 ? 255 : 0,
    );
    const g = await imageFeatures(await png(coarse, w, w, 1));
    expect(g.sharpness).toBeGreaterThan(0);
    expect(g.sharpness).toBeLessThan(f.sharpness / 4);
  });

  it("computes colour means and Rec. 601 luma of a colour image, ignoring alpha", async () => {
    // Left half pure red, right half pure blue, 10×4, half-transparent.
    const w = 10;
    const h = 4;
    const pixels = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) pixels.set(i % w < w / 2 ? [255, 0, 0, 128] : [0, 0, 255, 128], i * 4);
    const f = await imageFeatures(await png(pixels, w, h, 4));
    expect(f.mean_r).toBe(0.5);
    expect(f.mean_g).toBe(0);
    expect(f.mean_b).toBe(0.5);
    expect(f.brightness).toBeCloseTo((0.299 + 0.114) / 2, 14);
    expect(f.contrast).toBeCloseTo((0.299 - 0.114) / 2, 14);
    expectFeaturesClose(f, naiveFeatures(pixels, w, h, 4));
  });

  it("matches a naive implementation on random colour and grey pixels", () => {
    let seed = 7;
    const byte = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % 256;
    for (const [w, h, c] of [
      [13, 9, 3],
      [5, 17, 4],
      [11, 11, 1],
      [6, 7, 2],
      [2, 5, 3],
    ] as const) {
      const pixels = Uint8Array.from({ length: w * h * c }, byte);
      expectFeaturesClose(rawFeatures({ pixels, width: w, height: h, channels: c }), naiveFeatures(pixels, w, h, c));
    }
  });

  it("reduces a 16-bit greyscale PNG to 8 bits", async () => {
    const px = new Uint16Array(12).fill(40000);
    px[5] = 65535;
    const data = await sharp(px, { raw: { width: 4, height: 3, channels: 1 } })
      .toColourspace("grey16")
      .png()
      .toBuffer();
    expect((await sharp(data).metadata()).depth).toBe("ushort");
    const f = await imageFeatures(data);
    // 40000 / 257 → 156 (rounded), 65535 → 255.
    expect(f.brightness).toBeCloseTo((11 * 156 + 255) / 12 / 255, 12);
    expect(f.mean_r).toBe(f.mean_b);
  });

  it("reports the stored size of a non-square JPEG", async () => {
    const jpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 10, g: 200, b: 30 } } })
      .jpeg()
      .toBuffer();
    const f = await imageFeatures(jpeg);
    expect([f.width, f.height]).toEqual([40, 30]);
    expect(f.mean_g).toBeGreaterThan(f.mean_r);
  });

  it("gives real sample images features in range, equal to those of their single grey channel", async () => {
    for (const data of sampleImages(3)) {
      const f = await imageFeatures(data);
      expect([f.width, f.height]).toEqual([28, 28]);
      expect(f.brightness).toBeGreaterThan(0);
      expect(f.brightness).toBeLessThan(1);
      expect(f.contrast).toBeGreaterThan(0);
      expect(f.contrast).toBeLessThanOrEqual(0.5);
      expect(f.sharpness).toBeGreaterThan(0);
      expect(f.sharpness).toBeLessThanOrEqual(16);
      expect(f.mean_r).toBe(f.mean_g);
      expect(f.mean_g).toBe(f.mean_b);
      const { data: grey, info } = await sharp(data).toColourspace("b-w").raw().toBuffer({ resolveWithObject: true });
      expect(info.channels).toBe(1);
      expectFeaturesClose(f, rawFeatures({ pixels: grey, width: info.width, height: info.height, channels: 1 }));
      expectFeaturesClose(f, naiveFeatures(grey, info.width, info.height, 1));
      expect(featureVector(f)).toEqual(FEATURE_NAMES.map((name) => f[name]));
    }
  });

  it("sees a brighter copy as brighter and a blurred copy as less sharp", async () => {
    for (const data of sampleImages(1)) {
      const f = await imageFeatures(data);
      const brighter = await imageFeatures(await sharp(data).linear(1.3, 10).png().toBuffer());
      expect(brighter.brightness).toBeGreaterThan(f.brightness);
      const blurred = await imageFeatures(await sharp(data).blur(1.5).png().toBuffer());
      expect(blurred.sharpness).toBeLessThan(f.sharpness);
    }
  });

  it("throws for bytes that are not an image, and for inconsistent raw input", async () => {
    await expect(imageFeatures(new TextEncoder().encode("not an image"))).rejects.toThrow();
    expect(() => rawFeatures({ pixels: new Uint8Array(5), width: 2, height: 2, channels: 1 })).toThrow(RangeError);
    expect(() => rawFeatures({ pixels: new Uint8Array(0), width: 0, height: 0, channels: 1 })).toThrow(RangeError);
    expect(() => rawFeatures({ pixels: new Uint8Array(20), width: 2, height: 2, channels: 5 })).toThrow(RangeError);
  });
});
