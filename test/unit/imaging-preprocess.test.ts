import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { imageFeatures } from "../../core/imaging/features.ts";
import { decodePlainPng, readPngHeader } from "../../core/imaging/png.ts";
import { prepareImage, PreprocessSpecSchema } from "../../core/imaging/preprocess.ts";
import { SAMPLE } from "../support/datasets.ts";
import { grey100k } from "../support/images.ts";

const GREY = PreprocessSpecSchema.parse({ width: 28, height: 28, channels: 1 });
const RGB = PreprocessSpecSchema.parse({
  width: 16,
  height: 12,
  channels: 3,
  mean: [0.5, 0.4, 0.3],
  std: [0.2, 0.25, 0.3],
});

/** The general path, forced: what sharp makes of the image. */
async function viaSharp(data: Buffer, spec: typeof GREY): Promise<Buffer> {
  const image = sharp(data).rotate().resize(spec.width, spec.height, { fit: spec.fit });
  return (spec.channels === 1 ? image.toColourspace("b-w") : image.removeAlpha().toColourspace("srgb"))
    .raw()
    .toBuffer();
}

function randomPixels(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let s = seed;
  for (let i = 0; i < n; i++) out[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

describe("plain PNG fast path", () => {
  it("gives exactly sharp's pixels for every bundled held-out sample image", async () => {
    let checked = 0;
    for (const split of ["test"]) {
      for (const label of await readdir(join(SAMPLE, split))) {
        for (const file of await readdir(join(SAMPLE, split, label))) {
          const data = await readFile(join(SAMPLE, split, label, file));
          const fast = decodePlainPng(data, GREY);
          expect(fast, file).toBeDefined();
          expect(Buffer.from(fast!).equals(await viaSharp(data, GREY)), file).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBe(600);
  });

  it("gives exactly sharp's pixels and features for RGB images, and normalises per channel", async () => {
    const raw = randomPixels(16 * 12 * 3, 7);
    const png = await sharp(raw, { raw: { width: 16, height: 12, channels: 3 } })
      .png()
      .toBuffer();
    expect(Buffer.from(decodePlainPng(png, RGB)!).equals(raw)).toBe(true);
    const prepared = await prepareImage(png, RGB, { features: true });
    expect(prepared.features).toEqual(await imageFeatures(png));
    expect(prepared.input[0]).toBeCloseTo((raw[0]! / 255 - 0.5) / 0.2, 6);
    expect(prepared.input[2]).toBeCloseTo((raw[2]! / 255 - 0.3) / 0.3, 6);
  });

  it("reverses every PNG row filter exactly (adaptive filtering over gradients, noise and flat areas)", async () => {
    const w = 40;
    const h = 30;
    for (const channels of [1, 3] as const) {
      const raw = Buffer.alloc(w * h * channels);
      const noise = randomPixels(raw.length, 11);
      for (let i = 0; i < raw.length; i++) {
        const x = Math.floor(i / channels) % w;
        const y = Math.floor(i / channels / w);
        raw[i] = y < 10 ? (x * 6 + y * 3) & 0xff : y < 20 ? noise[i]! : 77;
      }
      const png = await sharp(raw, { raw: { width: w, height: h, channels } })
        .toColourspace(channels === 1 ? "b-w" : "srgb")
        .png({ adaptiveFiltering: true, compressionLevel: 9 })
        .toBuffer();
      const spec = { width: w, height: h, channels };
      expect(Buffer.from(decodePlainPng(png, spec)!).equals(raw), `${channels} channel(s)`).toBe(true);
      // Which filters the encoder chose: the test is only as good as this variety.
      const { inflateSync } = await import("node:zlib");
      const idat = png.subarray(png.indexOf("IDAT") + 4, png.indexOf("IEND") - 8);
      const rows = inflateSync(idat);
      const filters = new Set(Array.from({ length: h }, (_, y) => rows[y * (w * channels + 1)]));
      expect(filters.size, `filters used: ${[...filters].join(",")}`).toBeGreaterThanOrEqual(3);
    }
  });

  it("refuses a PNG whose data fails its CRC, as sharp does", async () => {
    const data = Buffer.from(
      await readFile(join(SAMPLE, "test", "bag", (await readdir(join(SAMPLE, "test", "bag")))[0]!)),
    );
    const at = data.indexOf("IDAT") + 10;
    data[at] = data[at]! ^ 0xff;
    expect(() => decodePlainPng(data, GREY)).toThrow(/CRC/);
    await expect(sharp(data).raw().toBuffer()).rejects.toThrow();
  });

  it("leaves to sharp what it cannot reproduce: another size, other channels, EXIF orientation, palette, 16 bits", async () => {
    const grey = (w: number, h: number) =>
      sharp(randomPixels(w * h, 3), { raw: { width: w, height: h, channels: 1 } }).toColourspace("b-w");
    const cases: Record<string, Buffer> = {
      "other size": await grey(30, 28).png().toBuffer(),
      "colour for a grey model": await sharp(randomPixels(28 * 28 * 3, 5), {
        raw: { width: 28, height: 28, channels: 3 },
      })
        .png()
        .toBuffer(),
      "EXIF orientation": await grey(28, 28).withMetadata({ orientation: 6 }).png().toBuffer(),
      palette: await grey(28, 28).png({ palette: true, colours: 16 }).toBuffer(),
      "16 bits": await grey(28, 28).toColourspace("grey16").png().toBuffer(),
    };
    for (const [what, png] of Object.entries(cases)) {
      expect(decodePlainPng(png, GREY), what).toBeUndefined();
      const prepared = await prepareImage(png, GREY);
      const expected = await viaSharp(png, GREY);
      expect(
        Array.from(prepared.input, (v) => Math.round(v * 255)),
        what,
      ).toEqual(Array.from(expected));
    }
  });

  it("reads a PNG's declared size without inflating it, and refuses what is not a PNG", async () => {
    const header = readPngHeader(await grey100k());
    expect(header).toMatchObject({ width: 100_000, height: 100_000, bitDepth: 8, colorType: 0 });
    expect(readPngHeader(Buffer.from("not a png at all, just some text here"))).toBeUndefined();
  });

  it("throws for a truncated PNG on both paths", async () => {
    const data = await readFile(join(SAMPLE, "test", "bag", (await readdir(join(SAMPLE, "test", "bag")))[0]!));
    await expect(prepareImage(data.subarray(0, data.length - 30), GREY)).rejects.toThrow();
  });
});
