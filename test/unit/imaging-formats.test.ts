import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import {
  allowImageFormats,
  parseImageFormats,
  sniffImageFormat,
  UnsupportedImageFormatError,
} from "../../core/imaging/formats.ts";
import { ImagePool } from "../../core/imaging/image-pool.ts";
import { prepareImage, preparePlainPng, PreprocessSpecSchema } from "../../core/imaging/preprocess.ts";
import { probeImage, readImageSize } from "../../core/imaging/probe.ts";

const GREY = PreprocessSpecSchema.parse({ width: 28, height: 28, channels: 1 });

// Made before any Sightline decode runs in this file: encoding is never blocked, but keep the fixtures independent.
const pixels = Buffer.alloc(28 * 28 * 3, 128);
const raw = () => sharp(pixels, { raw: { width: 28, height: 28, channels: 3 } });
const fixtures = Promise.all([
  raw().png().toBuffer(),
  raw().jpeg().toBuffer(),
  raw().webp().toBuffer(),
  raw().gif().toBuffer(),
  raw().tiff().toBuffer(),
]).then(([png, jpeg, webp, gif, tiff]) => ({ png, jpeg, webp, gif, tiff }));
// A small, harmless SVG: libvips renders any SVG it is handed, including filter bombs.
const SVG = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><rect width="28" height="28" fill="#888"/></svg>',
);

describe("image formats: decoded by what the bytes are, only from the allow-list", () => {
  afterAll(() => void allowImageFormats());

  it("recognises the formats by their magic bytes", async () => {
    const f = await fixtures;
    expect(sniffImageFormat(f.png)).toBe("png");
    expect(sniffImageFormat(f.jpeg)).toBe("jpeg");
    expect(sniffImageFormat(f.webp)).toBe("webp");
    expect(sniffImageFormat(f.gif)).toBe("gif");
    expect(sniffImageFormat(f.tiff)).toBe("tiff");
    expect(sniffImageFormat(SVG)).toBe("svg");
    expect(sniffImageFormat(Buffer.from('\uFEFF  <?xml version="1.0"?><svg/>'))).toBe("svg");
    expect(sniffImageFormat(Buffer.from("definitely not an image"))).toBeUndefined();
    expect(sniffImageFormat(new Uint8Array([0x89, 0x50]))).toBeUndefined();
  });

  it("preprocesses PNG, JPEG and WebP and refuses SVG, GIF and TIFF before decoding (default allow-list)", async () => {
    allowImageFormats(parseImageFormats(undefined));
    const f = await fixtures;
    for (const ok of [f.png, f.jpeg, f.webp])
      expect((await prepareImage(ok, GREY, { features: true })).input).toHaveLength(28 * 28);
    for (const [name, bad] of [
      ["svg", SVG],
      ["gif", f.gif],
      ["tiff", f.tiff],
    ] as const) {
      await expect(prepareImage(bad, GREY), name).rejects.toBeInstanceOf(UnsupportedImageFormatError);
      await expect(readImageSize(bad), name).rejects.toBeInstanceOf(UnsupportedImageFormatError);
      await expect(probeImage(bad), name).rejects.toBeInstanceOf(UnsupportedImageFormatError);
      expect(() => preparePlainPng(bad, GREY), name).toThrow(UnsupportedImageFormatError);
    }
    await expect(prepareImage(SVG, GREY)).rejects.toThrow(/SVG images are not accepted; send PNG, JPEG, WEBP/);
    await expect(prepareImage(f.gif, GREY)).rejects.toThrow(/GIF images are not accepted/);
    await expect(prepareImage(Buffer.from("definitely not an image"), GREY)).rejects.toThrow(
      /not a known image format/,
    );
  });

  it("blocks the other loaders in sharp itself, so a path that skips the sniffing cannot reach them", async () => {
    allowImageFormats(["png", "jpeg", "webp"]);
    const f = await fixtures;
    await expect(sharp(SVG).raw().toBuffer()).rejects.toThrow(/blocked|not a known|unsupported/i);
    await expect(sharp(f.gif).raw().toBuffer()).rejects.toThrow(/blocked|unsupported/i);
    await expect(sharp(f.tiff).raw().toBuffer()).rejects.toThrow(/blocked|unsupported/i);
    expect((await sharp(f.jpeg).raw().toBuffer()).length).toBe(28 * 28 * 3);
    expect((await sharp(f.webp).raw().toBuffer()).length).toBe(28 * 28 * 3);
    expect((await sharp(f.png).raw().toBuffer()).length).toBe(28 * 28 * 3);
  });

  it("follows the configured list: GIF allowed on request, PNG can be turned off", async () => {
    const f = await fixtures;
    allowImageFormats(parseImageFormats("png, gif"));
    expect((await prepareImage(f.gif, GREY)).input).toHaveLength(28 * 28);
    await expect(prepareImage(f.jpeg, GREY)).rejects.toBeInstanceOf(UnsupportedImageFormatError);
    allowImageFormats(parseImageFormats("jpeg"));
    await expect(prepareImage(f.png, GREY)).rejects.toBeInstanceOf(UnsupportedImageFormatError);
    expect(() => parseImageFormats("png,svg")).toThrow(/SIGHTLINE_IMAGE_FORMATS="png,svg"/);
    expect(() => parseImageFormats(" , ")).toThrow(/at least one format/);
  });

  it("refuses them in the image pool's processes too (dataset validation and training decode there)", async () => {
    const f = await fixtures;
    const pool = new ImagePool(1);
    try {
      const probes = await pool.probeBatch([f.png, SVG, f.gif, f.tiff, f.webp]);
      expect(probes[0]).toMatchObject({ format: "png", width: 28, height: 28 });
      expect(probes[1]).toEqual({ error: expect.stringMatching(/SVG images are not accepted/) });
      expect(probes[2]).toEqual({ error: expect.stringMatching(/GIF images are not accepted/) });
      expect(probes[3]).toEqual({ error: expect.stringMatching(/TIFF images are not accepted/) });
      expect(probes[4]).toMatchObject({ format: "webp" });
      const prepared = await pool.prepareBatch([SVG, f.jpeg], GREY);
      expect(prepared[0]).toEqual({ error: expect.stringMatching(/SVG images are not accepted/) });
      expect(prepared[1]).toHaveProperty("features");
    } finally {
      await pool.close();
    }
  });
});
