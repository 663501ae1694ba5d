import { crc32, createInflate, deflateSync, inflateSync, type Inflate } from "node:zlib";
import { SightlineError } from "../errors.ts";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The fast path walks at most this many chunks and leaves longer chunk streams to sharp. Serving is public: a
 * 10 MiB body holds 870,000 empty chunks, and the walk runs synchronously on the event loop. Plain images have a
 * handful; an encoder splitting the data of a 4096×4096 RGB image into 8 KiB IDATs needs about 3,700.
 */
export const MAX_CHUNKS = 4096;

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  /** IHDR's compression, filter and interlace methods: 0 is the only compression and filter method, 0 or 1 (Adam7) the only interlace methods. */
  compression: number;
  filter: number;
  interlace: number;
}

export const isPng = (data: Uint8Array): boolean => data.length >= 8 && SIGNATURE.every((b, i) => data[i] === b);

const typeAt = (data: Uint8Array, offset: number): string =>
  String.fromCharCode(data[offset + 4]!, data[offset + 5]!, data[offset + 6]!, data[offset + 7]!);

const view = (data: Uint8Array): DataView => new DataView(data.buffer, data.byteOffset, data.byteLength);

/** Whether the chunk whose length field is at `offset` (and which fits in `data`) carries a correct CRC. */
function crcOk(data: Uint8Array, v: DataView, offset: number): boolean {
  const length = v.getUint32(offset);
  return crc32(data.subarray(offset + 4, offset + 8 + length)) === v.getUint32(offset + 8 + length);
}

/**
 * Reads a PNG's header from its first chunk alone, so a decompression bomb is measured before it costs anything and
 * a file of a million chunks costs no more than a small one. Returns undefined for data that does not start like a
 * PNG (signature, then a 13-byte IHDR); nothing past IHDR, nor IHDR's CRC and values, is checked.
 */
export function readPngHeader(data: Uint8Array): PngHeader | undefined {
  if (!isPng(data) || data.length < 33) return undefined;
  const v = view(data);
  if (v.getUint32(8) !== 13 || typeAt(data, 8) !== "IHDR") return undefined;
  return {
    width: v.getUint32(16),
    height: v.getUint32(20),
    bitDepth: data[24]!,
    colorType: data[25]!,
    compression: data[26]!,
    filter: data[27]!,
    interlace: data[28]!,
  };
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const BIT_DEPTHS: Record<number, readonly number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
// Adam7 passes: first column, first row, column step, row step.
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/**
 * How many bytes the image data of a PNG with this header inflates to (each row's filter byte and its packed
 * samples, per Adam7 pass when interlaced), or undefined when the header is not one a decoder accepts (then the
 * decoder's own error is the one to report).
 */
export function imageDataBytes(h: PngHeader): number | undefined {
  const channels = CHANNELS[h.colorType];
  if (channels === undefined || !BIT_DEPTHS[h.colorType]!.includes(h.bitDepth)) return undefined;
  if (h.compression !== 0 || h.filter !== 0 || h.interlace > 1) return undefined;
  if (h.width === 0 || h.height === 0 || h.width > 0x7fffffff || h.height > 0x7fffffff) return undefined;
  const bits = channels * h.bitDepth;
  const rows = (width: number, height: number): number =>
    width > 0 && height > 0 ? (Math.ceil((width * bits) / 8) + 1) * height : 0;
  if (h.interlace === 0) return rows(h.width, h.height);
  return ADAM7.reduce(
    (sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((h.width - x0) / dx), Math.ceil((h.height - y0) / dy)),
    0,
  );
}

const describeHeader = (h: PngHeader, bytes: number): string =>
  `${h.width}×${h.height}, colour type ${h.colorType}, ${h.bitDepth}-bit${h.interlace === 1 ? ", interlaced" : ""}: ${bytes} bytes`;

/**
 * Refuses a PNG whose image data is not one zlib stream inflating to exactly what its IHDR declares: more data (a
 * decompression bomb: a 255 KiB file can hold 255 MiB of zeros after a 28×28 image), bytes after the stream, or
 * less data. libpng, under sharp, decodes the first two (it warns, and inflates all the rest to discard it: 1.1 s
 * for a 10 MB file), so probing with sharp alone accepts them. Dataset validation (probe.ts) holds PNGs to this
 * bound, the one decodePlainPng inflates to, so that a validated dataset holds no bomb for the trainer to decode.
 * The third sharp refuses too, but only after allocating the declared image: a 69-byte file declaring
 * 4,194,309×9 RGB cost probeImage 182 MB and 0.34 s. Inflates as a stream, counting, and stops within one 16 KiB output chunk
 * of the declared size: memory stays small whatever the file holds. Returns without judging what is not a PNG, a
 * header a decoder refuses, missing image data or a truncated or corrupt zlib stream: sharp reports those in its
 * own words.
 */
export async function checkPngImageData(data: Uint8Array): Promise<void> {
  const header = readPngHeader(data);
  const expected = header && imageDataBytes(header);
  if (!header || expected === undefined) return;
  const parts = firstIdatRun(data);
  if (parts.length === 0) return;
  const stream = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  await new Promise<void>((resolve, reject) => {
    const inflate = createInflate();
    let produced = 0;
    inflate.on("data", (chunk: Buffer) => {
      produced += chunk.length;
      if (produced > expected) {
        inflate.destroy();
        reject(
          new Error(`PNG image data inflates to more than its IHDR declares (${describeHeader(header, expected)})`),
        );
      }
    });
    inflate.on("error", () => resolve());
    inflate.on("end", () => {
      const rest = stream.length - inflate.bytesWritten;
      // A stream ending early is an error to libpng whatever follows it.
      if (produced < expected)
        reject(
          new Error(
            `PNG image data inflates to ${produced} bytes; its IHDR declares ${describeHeader(header, expected)}`,
          ),
        );
      else if (rest > 0)
        reject(
          new Error(
            `PNG image data continues for ${rest} byte${rest === 1 ? "" : "s"} after its zlib stream ends (IHDR declares ${describeHeader(header, expected)})`,
          ),
        );
      else resolve();
    });
    inflate.end(stream);
  });
}

/** The data of the first run of consecutive IDAT chunks (libpng reads no other), up to the first chunk that runs past the end. */
function firstIdatRun(data: Uint8Array): Uint8Array[] {
  const v = view(data);
  const parts: Uint8Array[] = [];
  for (let offset = 8; offset + 12 <= data.length;) {
    const length = v.getUint32(offset);
    if (offset + 12 + length > data.length) break;
    const type = typeAt(data, offset);
    if (type === "IDAT") parts.push(data.subarray(offset + 8, offset + 8 + length));
    else if (parts.length > 0 || type === "IEND") break;
    offset += 12 + length;
  }
  return parts;
}

// Ancillary chunks that cannot change how pixels look, and that libpng only ever warns about. Anything else (EXIF
// orientation, ICC profile, gamma, palette, transparency, unknown chunks) goes through sharp, so both paths give
// the same pixels. pHYs must precede the image data; the others may follow it.
const INERT_BEFORE_IDAT = new Set(["pHYs", "tIME", "tEXt", "zTXt", "iTXt"]);
const INERT_AFTER_IDAT = new Set(["tIME", "tEXt", "zTXt", "iTXt"]);
const COLOR_TYPE_CHANNELS: Record<number, number> = { 0: 1, 2: 3 };

interface PlainLayout {
  /** Offsets of the IDAT chunks' length fields, in order (consecutive in the file). */
  idat: number[];
  idatBytes: number;
  /** Offsets of every other chunk after IHDR, IEND included: their CRCs decide between this path and sharp. */
  others: number[];
}

/**
 * The chunk layout of a plain PNG, or undefined when the file is anything else: IHDR, inert ancillary chunks, one
 * run of IDATs, inert text or time chunks, an empty IEND and then the end of the file, at most MAX_CHUNKS in all.
 * sharp decodes some of the files refused here (a missing IEND, data after it, IDATs after a text chunk, pHYs after
 * the data); they go to sharp, which decides.
 */
function plainLayout(data: Uint8Array, v: DataView): PlainLayout | undefined {
  const layout: PlainLayout = { idat: [], idatBytes: 0, others: [] };
  let stage: "before" | "idat" | "after" = "before";
  let offset = 33;
  // n: the chunk's number in the file, IHDR being the first.
  for (let n = 2; offset + 12 <= data.length; n++) {
    if (n > MAX_CHUNKS) return undefined;
    const length = v.getUint32(offset);
    if (length > 0x7fffffff || offset + 12 + length > data.length) return undefined;
    const type = typeAt(data, offset);
    if (type === "IEND") {
      if (stage === "before" || length !== 0 || offset + 12 !== data.length) return undefined;
      layout.others.push(offset);
      return layout;
    }
    if (type === "IDAT") {
      if (stage === "after") return undefined;
      stage = "idat";
      layout.idat.push(offset);
      layout.idatBytes += length;
    } else {
      if (!(stage === "before" ? INERT_BEFORE_IDAT : INERT_AFTER_IDAT).has(type)) return undefined;
      if (stage === "idat") stage = "after";
      layout.others.push(offset);
    }
    offset += 12 + length;
  }
  return undefined;
}

/**
 * Decodes a PNG in-process when its stored pixels already are what the model wants (8-bit, greyscale for one
 * channel or RGB for three, the target size, not interlaced, nothing that alters colour or orientation): then
 * sharp's pipeline is the identity after decoding, and skipping it saves about 1 ms per small image. Written here
 * rather than taken from a package: node:zlib inflates in one native call, where the JS decoders tried allocated
 * ~160 kB per image and made serving spend its time in garbage collection.
 *
 * The contract, which test/unit/imaging-png.test.ts and bench/png-fuzz.ts check against sharp over mutated files:
 * it returns exactly sharp's pixels, or undefined (sharp then decides), or throws where sharp throws too (a bad CRC
 * on IHDR or on image data libpng reads, image data shorter than declared, an unknown row filter). Anything it is
 * not sure of — a file sharp might decode differently, tolerate or refuse — is left to sharp. Inflation is bounded
 * by the declared size: at most one byte more than IHDR declares is ever inflated (64 bytes for images under 63
 * bytes: zlib's smallest buffer), whatever the file holds.
 */
export function decodePlainPng(
  data: Uint8Array,
  want: { width: number; height: number; channels: number },
): Uint8Array | undefined {
  const header = readPngHeader(data);
  if (!header) return undefined;
  const v = view(data);
  // libpng refuses a corrupt IHDR before anything else.
  if (!crcOk(data, v, 8)) throw new SightlineError("invalid", "png_invalid", "PNG IHDR chunk fails its CRC check");
  if (header.bitDepth !== 8 || header.compression !== 0 || header.filter !== 0 || header.interlace !== 0)
    return undefined;
  if (
    header.width !== want.width ||
    header.height !== want.height ||
    COLOR_TYPE_CHANNELS[header.colorType] !== want.channels
  )
    return undefined;
  const stride = want.width * want.channels;
  const expected = (stride + 1) * want.height;
  const layout = plainLayout(data, v);
  // Image data far larger than any encoder makes for this size (stored blocks cost 5 bytes per 64 KiB) is a bomb or
  // padding: not worth inflating synchronously here.
  if (!layout || layout.idatBytes > 2 * expected + 65536) return undefined;

  // libpng checks the CRC of the first IDAT whatever follows; an ancillary chunk's bad CRC only costs a warning.
  if (!crcOk(data, v, layout.idat[0]!))
    throw new SightlineError("invalid", "png_invalid", `PNG IDAT chunk 1 of ${layout.idat.length} fails its CRC check`);
  if (layout.others.some((o) => !crcOk(data, v, o))) return undefined;
  const badIdat = layout.idat.findIndex((o) => !crcOk(data, v, o));

  const parts = layout.idat.map((o) => data.subarray(o + 8, o + 8 + v.getUint32(o)));
  const stream = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  if (!zlibWindowSafe(stream, expected)) return undefined;
  let raw: Buffer;
  let consumed: number;
  try {
    // maxOutputLength makes zlib stop (and throw) one byte past the declared size; chunkSize makes that one buffer.
    const out = inflateSync(stream, {
      maxOutputLength: expected,
      chunkSize: Math.max(64, expected + 1),
      info: true,
    }) as unknown as { buffer: Buffer; engine: Inflate };
    raw = out.buffer;
    consumed = out.engine.bytesWritten;
  } catch {
    // Too much data, a truncated stream or corrupt deflate data: libpng tolerates some of these (it only warns about
    // what follows the last row) and refuses others, in ways node:zlib cannot tell apart from here.
    return undefined;
  }
  // A stream that ends early is an error to libpng whatever follows it.
  if (raw.length < expected)
    throw new SightlineError(
      "invalid",
      "png_invalid",
      `PNG image data inflates to ${raw.length} bytes; its IHDR declares ${describeHeader(header, expected)}`,
    );
  // Bytes after the stream: libpng warns and decodes. Let it.
  if (consumed !== stream.length) return undefined;
  if (badIdat >= 0) {
    // libpng reads, and checks, every IDAT up to the one where the stream ends; later (empty) ones it never reads.
    const last = layout.idat.findLastIndex((o) => v.getUint32(o) > 0);
    if (badIdat <= last)
      throw new SightlineError(
        "invalid",
        "png_invalid",
        `PNG IDAT chunk ${badIdat + 1} of ${layout.idat.length} fails its CRC check`,
      );
    return undefined;
  }
  return unfilter(raw, stride, want.height, want.channels);
}

/**
 * Whether node:zlib and libpng agree on this zlib stream's window. libpng inflates with the window the stream's
 * header declares, row by row, so a match reaching further back than that window fails there; node:zlib inflates
 * with a 32 KiB window into one buffer and accepts it. The two agree when the window is 32 KiB or holds the whole
 * image. Encoders declare a window at least as large as the data (sharp: 1 KiB for 28×28 greyscale).
 */
function zlibWindowSafe(stream: Uint8Array, expected: number): boolean {
  if (stream.length < 2) return false;
  const cmf = stream[0]!;
  const flg = stream[1]!;
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || (flg & 0x20) !== 0 || ((cmf << 8) | flg) % 31 !== 0) return false;
  return cmf >> 4 === 7 || expected <= 1 << ((cmf >> 4) + 8);
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
          throw new SightlineError("invalid", "png_invalid", `PNG row ${y} has unknown filter type ${filter}`);
      }
      out[row + x] = (v + p) & 0xff;
    }
  }
  return out;
}

const PNG_COLOUR_TYPE = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;

/**
 * A plain 8-bit PNG (no filters, no ancillary chunks, stored rather than compressed: these files live for one
 * evaluation and compressing them cost more than anything else here): lossless, and exactly what decodePlainPng
 * decodes in-process. Written by hand rather than by sharp because each sharp call costs about 0.5 ms even for a
 * 28×28 image (measured), which made sharp-encoded perturbations (core/imaging/perturb.ts) cost more than the rest
 * of the robustness evaluation.
 */
export function encodePlainPng(image: {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: Uint8Array;
}): Buffer {
  const { width, height, channels, data } = image;
  const stride = width * channels;
  const rows = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) rows.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, PNG_COLOUR_TYPE[channels], 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from(SIGNATURE),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", deflateSync(rows, { level: 0 })),
    pngChunk("IEND"),
  ]);
}

/** One PNG chunk: length, type, body and its CRC. */
export function pngChunk(type: string, body: Uint8Array = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, "latin1");
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}
