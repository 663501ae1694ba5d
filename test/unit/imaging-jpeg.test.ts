// The JPEG frame-header reader against sharp's own header reader, on real JPEGs sharp encodes (baseline,
// progressive, greyscale, with EXIF and ICC segments before the frame) and on broken ones.
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { readJpegHeader } from "../../core/imaging/jpeg.ts";
import { readImageSize } from "../../core/imaging/probe.ts";

const noise = (width: number, height: number, channels: 1 | 3): Buffer =>
  Buffer.from(Array.from({ length: width * height * channels }, (_, i) => (i * 7919) % 256));

async function jpeg(
  width: number,
  height: number,
  options: { channels?: 1 | 3; progressive?: boolean; exif?: boolean } = {},
): Promise<Buffer> {
  const channels = options.channels ?? 3;
  let image = sharp(noise(width, height, channels), { raw: { width, height, channels } });
  if (options.exif) image = image.withMetadata({ orientation: 6, exif: { IFD0: { Copyright: "x".repeat(3000) } } });
  return image.jpeg({ progressive: options.progressive ?? false, quality: 80 }).toBuffer();
}

describe("JPEG frame header", () => {
  it("reads the size sharp reads, for baseline, progressive, greyscale and EXIF-carrying JPEGs", async () => {
    const cases = [
      await jpeg(224, 224),
      await jpeg(1, 1),
      await jpeg(640, 33, { progressive: true }),
      await jpeg(17, 301, { channels: 1 }),
      await jpeg(120, 80, { exif: true }),
    ];
    for (const data of cases) {
      const { width, height } = await sharp(data).metadata();
      expect(readJpegHeader(data)).toEqual({ width, height });
      expect(await readImageSize(data)).toEqual({ format: "jpeg", width, height });
    }
  });

  it("gives up, without throwing, on what it cannot walk: sharp then decides", async () => {
    const good = await jpeg(64, 48);
    expect(readJpegHeader(good.subarray(0, 10))).toBeUndefined();
    expect(readJpegHeader(Buffer.from([0xff, 0xd8, 0x00, 0x00, 0x00]))).toBeUndefined();
    // A segment length running past the data.
    expect(readJpegHeader(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff, 0, 0]))).toBeUndefined();
    // Height 0 (defined later by a DNL marker).
    const dnl = Buffer.from(good);
    const sof = dnl.indexOf(Buffer.from([0xff, 0xc0]));
    dnl[sof + 5] = 0;
    dnl[sof + 6] = 0;
    expect(readJpegHeader(dnl)).toBeUndefined();
    // Every truncation and every single-byte corruption of the header region: an answer or undefined, never a throw,
    // and never a size when the frame header itself was cut off.
    for (let n = 0; n < sof + 9; n++) expect(readJpegHeader(good.subarray(0, n))).toBeUndefined();
    for (let i = 0; i < sof + 12; i++) {
      const bad = Buffer.from(good);
      bad[i] = (bad[i]! + 0x55) & 0xff;
      expect(() => readJpegHeader(bad)).not.toThrow();
    }
  });

  it("finds the frame header after large segments, and stops at maxBytes", async () => {
    const app = Buffer.alloc(4 + 60_000);
    app.set([0xff, 0xe1, (60_002 >> 8) & 0xff, 60_002 & 0xff]);
    const good = await jpeg(32, 16);
    const padded = Buffer.concat([good.subarray(0, 2), app, good.subarray(2)]);
    expect(readJpegHeader(padded)).toEqual({ width: 32, height: 16 });
    expect(readJpegHeader(padded, 1024)).toBeUndefined();
  });
});
