import sharp from "sharp";
import { checkImageFormat } from "./formats.ts";
import { readJpegHeader } from "./jpeg.ts";
import { checkPngImageData, readPngHeader } from "./png.ts";

/** Images larger than this are refused before their pixels are decoded (decompression bombs). */
export const MAX_INPUT_PIXELS = 64 * 1024 * 1024;

export interface ImageShape {
  format: string;
  width: number;
  height: number;
  channels: number;
}

/**
 * Decodes an image completely (proving its pixel data is intact) and returns its stored shape. Throws with
 * sharp's reason when it does not decode, and for a PNG whose image data does not inflate to exactly its declared
 * size or runs on after its zlib stream (see checkPngImageData): sharp decodes some of those.
 */
export async function probeImage(data: Uint8Array): Promise<ImageShape> {
  checkImageFormat(data);
  const image = sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" });
  const { format, width, height, channels } = await image.metadata();
  // Dataset validation probes with this, and the trainer then decodes with core/imaging/preprocess.ts, whose fast
  // path refuses to inflate more than IHDR declares: validation holds a PNG to the same bound, before sharp
  // allocates the declared image. Beyond the pixel limit sharp refuses the image below anyway.
  if (format === "png" && width * height <= MAX_INPUT_PIXELS) await checkPngImageData(data);
  // Decoding to the stored colourspace skips a conversion to sRGB that costs about a third of the time.
  await (channels === 1 ? image.toColourspace("b-w") : image).raw().toBuffer();
  return { format, width, height, channels };
}

/**
 * The declared size of an image, read from its header without decoding pixels (PNG and JPEG parsed directly, other
 * formats by sharp's header reader), so a decompression bomb can be refused before it costs memory. Throws
 * UnsupportedImageFormatError first for bytes that are not an allowed format.
 */
export async function readImageSize(data: Uint8Array): Promise<{ format: string; width: number; height: number }> {
  const header = readHeaderSize(data);
  if (header) return header;
  const { format, width, height } = await sharp(data, { limitInputPixels: false }).metadata();
  return { format, width, height };
}

/**
 * readImageSize's synchronous part: the declared size of a PNG or JPEG from its header, or undefined when the
 * format needs sharp's reader. Throws as readImageSize does for bytes that are not an allowed format.
 */
export function readHeaderSize(data: Uint8Array): { format: string; width: number; height: number } | undefined {
  checkImageFormat(data);
  const png = readPngHeader(data);
  if (png) return { format: "png", width: png.width, height: png.height };
  const jpeg = readJpegHeader(data);
  if (jpeg) return { format: "jpeg", ...jpeg };
  return undefined;
}
