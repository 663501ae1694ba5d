import { decode } from "fast-png";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
  /** Chunk types in file order (IHDR first), read without inflating anything. */
  chunks: string[];
}

export const isPng = (data: Uint8Array): boolean => data.length >= 8 && SIGNATURE.every((b, i) => data[i] === b);

/**
 * Reads a PNG's header and chunk list without decompressing pixel data, so a decompression bomb is measured
 * before it costs anything. Returns undefined for data that is not a well-formed PNG chunk stream.
 */
export function readPngHeader(data: Uint8Array): PngHeader | undefined {
  if (!isPng(data) || data.length < 33) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const chunks: string[] = [];
  let offset = 8;
  while (offset + 12 <= data.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(data[offset + 4]!, data[offset + 5]!, data[offset + 6]!, data[offset + 7]!);
    chunks.push(type);
    offset += 12 + length;
    if (type === "IEND") break;
  }
  if (chunks[0] !== "IHDR" || view.getUint32(8) !== 13) return undefined;
  return {
    width: view.getUint32(16),
    height: view.getUint32(20),
    bitDepth: data[24]!,
    colorType: data[25]!,
    interlaced: data[28] === 1,
    chunks,
  };
}

// Chunks that cannot change how pixels look. Anything else (EXIF orientation, ICC profile, gamma, palette,
// transparency) goes through sharp, so both paths give the same pixels.
const INERT_CHUNKS = new Set(["IHDR", "IDAT", "IEND", "tEXt", "zTXt", "iTXt", "pHYs", "tIME"]);
const COLOR_TYPE_CHANNELS: Record<number, number> = { 0: 1, 2: 3 };

/**
 * Decodes a PNG in-process when its stored pixels already are what the model wants (8-bit, greyscale for one
 * channel or RGB for three, the target size, nothing that alters colour or orientation): then sharp's pipeline is
 * the identity after decoding, and skipping it saves about 1 ms per small image. Returns undefined when the
 * general path is needed. Equality with sharp's output is tested over the bundled dataset.
 */
export function decodePlainPng(data: Uint8Array, want: { width: number; height: number; channels: number }): Uint8Array | undefined {
  const header = readPngHeader(data);
  if (!header || header.bitDepth !== 8 || header.interlaced || header.chunks.at(-1) !== "IEND") return undefined;
  if (header.width !== want.width || header.height !== want.height || COLOR_TYPE_CHANNELS[header.colorType] !== want.channels) return undefined;
  if (!header.chunks.every((c) => INERT_CHUNKS.has(c))) return undefined;
  const image = decode(data, { checkCrc: true });
  const pixels = image.data;
  if (!(pixels instanceof Uint8Array) || pixels.length !== want.width * want.height * want.channels) return undefined;
  return pixels;
}
