import { crc32, inflateSync } from "node:zlib";

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

interface Chunk {
  type: string;
  data: Uint8Array;
  crcOk: boolean;
}

export const isPng = (data: Uint8Array): boolean => data.length >= 8 && SIGNATURE.every((b, i) => data[i] === b);

/** The chunk stream after the signature; stops at IEND or at the first chunk that runs past the end. */
function readChunks(data: Uint8Array, checkCrc: boolean): Chunk[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const chunks: Chunk[] = [];
  let offset = 8;
  while (offset + 12 <= data.length) {
    const length = view.getUint32(offset);
    if (offset + 12 + length > data.length) break;
    const type = String.fromCharCode(data[offset + 4]!, data[offset + 5]!, data[offset + 6]!, data[offset + 7]!);
    const body = data.subarray(offset + 8, offset + 8 + length);
    const crcOk = !checkCrc || crc32(data.subarray(offset + 4, offset + 8 + length)) === view.getUint32(offset + 8 + length);
    chunks.push({ type, data: body, crcOk });
    offset += 12 + length;
    if (type === "IEND") break;
  }
  return chunks;
}

/**
 * Reads a PNG's header and chunk list without decompressing pixel data, so a decompression bomb is measured
 * before it costs anything. Returns undefined for data that is not a well-formed PNG chunk stream.
 */
export function readPngHeader(data: Uint8Array): PngHeader | undefined {
  if (!isPng(data) || data.length < 33) return undefined;
  const chunks = readChunks(data, false);
  const ihdr = chunks[0];
  if (ihdr?.type !== "IHDR" || ihdr.data.length !== 13) return undefined;
  const view = new DataView(ihdr.data.buffer, ihdr.data.byteOffset, 13);
  return { width: view.getUint32(0), height: view.getUint32(4), bitDepth: ihdr.data[8]!, colorType: ihdr.data[9]!, interlaced: ihdr.data[12] === 1, chunks: chunks.map((c) => c.type) };
}

// Chunks that cannot change how pixels look. Anything else (EXIF orientation, ICC profile, gamma, palette,
// transparency) goes through sharp, so both paths give the same pixels.
const INERT_CHUNKS = new Set(["IHDR", "IDAT", "IEND", "tEXt", "zTXt", "iTXt", "pHYs", "tIME"]);
const COLOR_TYPE_CHANNELS: Record<number, number> = { 0: 1, 2: 3 };

/**
 * Decodes a PNG in-process when its stored pixels already are what the model wants (8-bit, greyscale for one
 * channel or RGB for three, the target size, not interlaced, nothing that alters colour or orientation): then
 * sharp's pipeline is the identity after decoding, and skipping it saves about 1 ms per small image. Returns
 * undefined when the general path is needed; throws for a corrupt file (bad CRC, bad zlib data, short data), as
 * sharp does. Written here rather than taken from a package: node:zlib inflates in one native call, where the JS
 * decoders tried allocated ~160 kB per image and made serving spend its time in garbage collection. Equality with
 * sharp's output is tested over the bundled dataset.
 */
export function decodePlainPng(data: Uint8Array, want: { width: number; height: number; channels: number }): Uint8Array | undefined {
  const header = readPngHeader(data);
  if (!header || header.bitDepth !== 8 || header.interlaced || header.chunks.at(-1) !== "IEND") return undefined;
  if (header.width !== want.width || header.height !== want.height || COLOR_TYPE_CHANNELS[header.colorType] !== want.channels) return undefined;
  if (!header.chunks.every((c) => INERT_CHUNKS.has(c))) return undefined;
  const chunks = readChunks(data, true);
  const bad = chunks.find((c) => !c.crcOk);
  if (bad) throw new Error(`PNG ${bad.type} chunk fails its CRC check`);
  const idat = chunks.filter((c) => c.type === "IDAT").map((c) => c.data);
  const stride = want.width * want.channels;
  let raw: Buffer;
  try {
    raw = inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat));
  } catch (err) {
    throw new Error(`PNG image data does not inflate: ${(err as Error).message}`, { cause: err });
  }
  if (raw.length < (stride + 1) * want.height) throw new Error(`PNG image data holds ${raw.length} bytes, ${(stride + 1) * want.height} expected`);
  return unfilter(raw, stride, want.height, want.channels);
}

/** Reverses PNG's per-row filters (None, Sub, Up, Average, Paeth) for 8-bit samples. */
function unfilter(raw: Uint8Array, stride: number, height: number, bpp: number): Uint8Array {
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const v = raw[src + x]!;
      const a = x >= bpp ? out[row + x - bpp]! : 0;
      const b = y > 0 ? out[prev + x]! : 0;
      let p: number;
      switch (filter) {
        case 0:
          p = 0;
          break;
        case 1:
          p = a;
          break;
        case 2:
          p = b;
          break;
        case 3:
          p = (a + b) >> 1;
          break;
        case 4: {
          const c = x >= bpp && y > 0 ? out[prev + x - bpp]! : 0;
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new Error(`PNG row ${y} has unknown filter type ${filter}`);
      }
      out[row + x] = (v + p) & 0xff;
    }
  }
  return out;
}
