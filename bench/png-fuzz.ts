// Differential fuzz of the plain-PNG fast path (core/imaging/png.ts decodePlainPng) against sharp, the general path:
// real PNGs from data/sample (and RGB and odd-sized images made from them) are mutated with a seeded PRNG — bit
// flips, byte inserts and deletes, duplicated, moved and dropped chunks, edited length fields and IHDR fields,
// inserted chunks, image data recompressed with other zlib settings (and grown, shrunk, refiltered, split), zlib
// header edits, bad CRCs, chunk spam, data after IEND — and each mutant goes through both paths with a target the
// fast path can take. The fast path must return sharp's pixels, or undefined, or throw where sharp throws; it must
// never return pixels where sharp throws, nor throw where sharp decodes. Every inflate it makes is watched: none
// may be allowed to produce more than the file's IHDR declares. Exits 1 on any mismatch or unbounded inflate and
// writes the offending files to a temp folder; `--only N` re-runs case N of a seed alone.
//
//   node bench/png-fuzz.ts [--cases 100000] [--seed 1] [--only N] [--declines-unjudged]
//
// --declines-unjudged skips sharp for files the fast path declines (any verdict is allowed for those): faster, and
// the time and memory measured are then mostly the fast path's, not sharp's on hostile headers.
//
// The unit test (test/unit/imaging-png.test.ts) runs a few thousand cases of the same fuzz.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import zlib, { constants, deflateRawSync, deflateSync, inflateSync, type ZlibOptions } from "node:zlib";
import sharp, { type Sharp } from "sharp";
import { decodePlainPng, pngChunk, readPngHeader } from "../core/imaging/png.ts";
import { MAX_INPUT_PIXELS } from "../core/imaging/probe.ts";

export interface Target {
  width: number;
  height: number;
  channels: 1 | 3;
  fit: "fill" | "contain" | "cover";
}

export interface Seed {
  name: string;
  data: Buffer;
  target: Target;
}

/** The general path's decode, as core/imaging/preprocess.ts sharpPixels does it (not exported there). */
export async function sharpPixels(data: Uint8Array, t: Target): Promise<Buffer> {
  let image = sharp(data, { limitInputPixels: MAX_INPUT_PIXELS, failOn: "error" })
    .rotate()
    .resize(t.width, t.height, { fit: t.fit, ...(t.fit === "contain" ? { background: { r: 0, g: 0, b: 0 } } : {}) });
  image = t.channels === 1 ? image.toColourspace("b-w") : image.removeAlpha().toColourspace("srgb");
  const { data: pixels, info } = await image.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== t.channels || info.width !== t.width || info.height !== t.height) {
    throw new Error(
      `preprocessing gave ${info.width}×${info.height}×${info.channels}, expected ${t.width}×${t.height}×${t.channels}`,
    );
  }
  return pixels;
}

// ---------------------------------------------------------------------------------------------------------------
// PRNG and PNG plumbing

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
export function rng(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: (items) => items[int(items.length)]!, chance: (p) => next() < p };
}

/** One case's generator: independent of every other case, so `--only N` reproduces case N. */
export const caseRng = (seed: number, index: number): Rng =>
  rng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One PNG chunk (length, type, body, CRC): the writer the fuzzer builds hostile files with. */
export const chunk = pngChunk;

export const pngOf = (...chunks: Uint8Array[]): Buffer => Buffer.concat([SIGNATURE, ...chunks]);

interface Chunk {
  type: string;
  data: Buffer;
  crc: number;
}

/** A PNG's chunks as far as they are well formed, and the bytes after them (after IEND or where the stream breaks). */
function parse(png: Buffer): { chunks: Chunk[]; rest: Buffer } | undefined {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) return undefined;
  const chunks: Chunk[] = [];
  let offset = 8;
  while (offset + 12 <= png.length) {
    const length = png.readUInt32BE(offset);
    if (offset + 12 + length > png.length) break;
    const type = png.toString("latin1", offset + 4, offset + 8);
    chunks.push({
      type,
      data: png.subarray(offset + 8, offset + 8 + length),
      crc: png.readUInt32BE(offset + 8 + length),
    });
    offset += 12 + length;
    if (type === "IEND") break;
  }
  return { chunks, rest: png.subarray(offset) };
}

/** Reassembles chunks; `fixCrc` recomputes every CRC (so a mutation reaches past the CRC checks). */
function build(chunks: Chunk[], rest: Buffer, fixCrc: boolean): Buffer {
  return Buffer.concat([
    SIGNATURE,
    ...chunks.map((c) => {
      if (fixCrc) return chunk(c.type, c.data);
      const out = chunk(c.type, c.data);
      out.writeUInt32BE(c.crc, 8 + c.data.length);
      return out;
    }),
    rest,
  ]);
}

function adler32(data: Uint8Array, a = 1, b = 0): [number, number] {
  for (let i = 0; i < data.length; i++) {
    a = (a + data[i]!) % 65521;
    b = (b + a) % 65521;
  }
  return [a, b];
}

let zeroBlock: Buffer | undefined;

/**
 * A zlib stream of `rows` followed by `zeros` zero bytes, built in time proportional to its compressed size: one
 * compressed MiB of zeros, repeated (each copy only refers back within itself), and the Adler-32 extended
 * arithmetically. 255 MiB of zeros take 260 kB, 1 GiB 1.1 MB, and milliseconds to make.
 */
export function zlibWithZeros(rows: Uint8Array, zeros: number): Buffer {
  zeroBlock ??= deflateRawSync(Buffer.alloc(1 << 20), { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  const blocks = Math.floor(zeros / (1 << 20));
  const tail = zeros % (1 << 20);
  const [a, b0] = adler32(rows);
  const b = Number((BigInt(b0) + BigInt(zeros) * BigInt(a)) % 65521n);
  return Buffer.concat([
    Buffer.from([0x78, 0xda]),
    deflateRawSync(rows, { finishFlush: constants.Z_SYNC_FLUSH }),
    ...Array<Buffer>(blocks).fill(zeroBlock),
    // The remainder, then an empty final fixed-Huffman block (BFINAL=1, BTYPE=01, end-of-block).
    tail > 0 ? deflateRawSync(Buffer.alloc(tail), { finishFlush: constants.Z_SYNC_FLUSH }) : Buffer.alloc(0),
    Buffer.from([0x03, 0x00, b >> 8, b & 0xff, a >> 8, a & 0xff]),
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// The corpus

const SAMPLE = fileURLToPath(new URL("../data/sample", import.meta.url));

function samplePngs(): { name: string; data: Buffer }[] {
  const out: { name: string; data: Buffer }[] = [];
  for (const split of readdirSync(SAMPLE, { withFileTypes: true })) {
    if (!split.isDirectory()) continue;
    for (const label of readdirSync(join(SAMPLE, split.name)).sort()) {
      for (const file of readdirSync(join(SAMPLE, split.name, label)).sort()) {
        if (file.endsWith(".png"))
          out.push({
            name: `${split.name}/${label}/${file}`,
            data: readFileSync(join(SAMPLE, split.name, label, file)),
          });
      }
    }
  }
  return out;
}

/**
 * Every sample PNG (28×28 greyscale, as sharp wrote them), plus images made from them: RGB ones (three samples as
 * the channels) and greyscale crops of other sizes at other compression settings, which the fast path also takes;
 * and palette, 16-bit, alpha, interlaced and EXIF-rotated ones, which it must leave to sharp (and which mutations
 * can turn into ones it takes). `derived` caps how many derived images are made (they cost sharp encodes).
 */
export async function loadCorpus(options: { derived?: number } = {}): Promise<Seed[]> {
  const samples = samplePngs();
  if (samples.length === 0) throw new Error(`no PNGs under ${SAMPLE}`);
  const seeds: Seed[] = samples.map((s) => ({ ...s, target: { width: 28, height: 28, channels: 1, fit: "fill" } }));
  const r = rng(0x5eed);
  const greys = await Promise.all(samples.slice(0, 64).map((s) => sharp(s.data).toColourspace("b-w").raw().toBuffer()));
  const derived = options.derived ?? 240;
  for (let i = 0; i < derived; i++) {
    const kind = i % 8;
    const a = greys[r.int(greys.length)]!;
    let width = 28;
    let height = 28;
    let image: Sharp;
    if (kind <= 2) {
      const [b, c] = [greys[r.int(greys.length)]!, greys[r.int(greys.length)]!];
      const rgb = Buffer.alloc(28 * 28 * 3);
      for (let p = 0; p < 28 * 28; p++) rgb.set([a[p]!, b[p]!, c[p]!], p * 3);
      image = sharp(rgb, { raw: { width: 28, height: 28, channels: 3 } });
      if (kind === 2) {
        width = 1 + r.int(28);
        height = 1 + r.int(28);
        image = sharp(
          await image
            .extract({ left: r.int(29 - width), top: r.int(29 - height), width, height })
            .raw()
            .toBuffer(),
          { raw: { width, height, channels: 3 } },
        );
      }
    } else if (kind <= 4) {
      width = 1 + r.int(28);
      height = 1 + r.int(28);
      const crop = await sharp(a, { raw: { width: 28, height: 28, channels: 1 } })
        .extract({ left: r.int(29 - width), top: r.int(29 - height), width, height })
        .raw()
        .toBuffer();
      image = sharp(crop, { raw: { width, height, channels: 1 } }).toColourspace("b-w");
    } else {
      image = sharp(a, { raw: { width: 28, height: 28, channels: 1 } }).toColourspace("b-w");
    }
    const png = { compressionLevel: r.int(10), adaptiveFiltering: r.chance(0.5) };
    // Each variant on its own clone: sharp's methods change the pipeline they are called on.
    const variants: [string, () => Sharp][] = [
      ["plain", () => image.clone().png(png)],
      ["palette", () => image.clone().png({ ...png, palette: true, colours: r.pick([2, 4, 16, 256]) })],
      [
        "16-bit",
        () =>
          image
            .clone()
            .toColourspace(kind <= 2 ? "rgb16" : "grey16")
            .png(png),
      ],
      ["interlaced", () => image.clone().png({ ...png, progressive: true })],
      ["alpha", () => image.clone().ensureAlpha(0.5).png(png)],
      [
        "rotated",
        () =>
          image
            .clone()
            .withMetadata({ orientation: 1 + r.int(8) })
            .png(png),
      ],
    ];
    const [variant, encode] = r.chance(0.75) ? variants[0]! : variants[1 + r.int(variants.length - 1)]!;
    const channels = kind <= 2 ? 3 : 1;
    seeds.push({
      name: `derived-${i}-${variant}-${channels}ch-${width}x${height}`,
      data: await encode().toBuffer(),
      target: { width, height, channels, fit: "fill" },
    });
  }
  return seeds;
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations

const ANCILLARY = [
  "tEXt",
  "zTXt",
  "iTXt",
  "tIME",
  "pHYs",
  "gAMA",
  "sRGB",
  "iCCP",
  "cHRM",
  "bKGD",
  "tRNS",
  "sBIT",
  "hIST",
  "eXIf",
  "abCd",
  "prVt",
];
const OTHER = ["PLTE", "IHDR", "IDAT", "IEND", "ABCD", "IDat", "Idat", "I\u0000AT"];

function chunkBody(type: string, r: Rng): Buffer {
  switch (r.chance(0.2) ? "" : type) {
    case "tEXt":
      return Buffer.from(
        r.pick([
          "Comment\0made by the fuzzer",
          "\0no keyword",
          "no separator",
          "k\0",
          "Raw profile type exif\0\nexif\n4\n00000000\n",
        ]),
        "latin1",
      );
    case "zTXt":
      return Buffer.concat([
        Buffer.from("Comment\0\0"),
        r.chance(0.8) ? deflateSync(Buffer.from("compressed text")) : Buffer.from("not zlib"),
      ]);
    case "iTXt":
      return Buffer.concat([
        Buffer.from(
          r.pick(["XML:com.adobe.xmp", "Title"]) + "\0" + (r.chance(0.5) ? "\u0001\u0000" : "\u0000\u0000") + "en\0\0",
        ),
        deflateSync(Buffer.from("<x:xmpmeta/>")),
      ]);
    case "tIME":
      return Buffer.from([0x07, 0xea, 1 + r.int(12), 1 + r.int(31), r.int(24), r.int(60), r.int(61)]);
    case "pHYs":
      return Buffer.from([0, 0, 0x0b, 0x13, 0, 0, 0x0b, 0x13, r.int(3)]);
    case "gAMA":
      return Buffer.from([0, 0, r.int(256), r.int(256)]);
    case "sRGB":
      return Buffer.from([r.int(5)]);
    case "tRNS":
      return Buffer.from([0, r.int(256), 0, r.int(256), 0, r.int(256)].slice(0, 2 + 2 * r.int(3)));
    case "PLTE":
      return Buffer.from(Array.from({ length: 3 * (1 + r.int(4)) }, () => r.int(256)));
    case "IHDR":
      return Buffer.from([0, 0, 0, 28, 0, 0, 0, 28, 8, r.pick([0, 2]), 0, 0, 0]);
    default:
      return Buffer.from(Array.from({ length: r.int(24) }, () => r.int(256)));
  }
}

/** Inflated image data of a PNG, or undefined when it does not inflate (or is a bomb an earlier mutation made). */
function imageRows(chunks: Chunk[]): Buffer | undefined {
  try {
    return inflateSync(Buffer.concat(chunks.filter((c) => c.type === "IDAT").map((c) => c.data)), {
      maxOutputLength: 1 << 22,
    });
  } catch {
    return undefined;
  }
}

/** Splits a zlib stream into 1–6 IDAT chunks at random places (empty ones included). */
function splitIdat(stream: Buffer, r: Rng): Chunk[] {
  const cuts = Array.from({ length: r.chance(0.6) ? 0 : r.int(6) }, () => r.int(stream.length + 1)).sort(
    (a, b) => a - b,
  );
  const bounds = [0, ...cuts, stream.length];
  return bounds.slice(1).map((end, i) => ({ type: "IDAT", data: stream.subarray(bounds[i]!, end), crc: 0 }));
}

type Mutation = (png: Buffer, r: Rng) => Buffer | undefined;

/** Each mutation returns the mutant, or undefined when it does not apply to this file. */
const MUTATIONS: Record<string, Mutation> = {
  flipBits(png, r) {
    const out = Buffer.from(png);
    for (let n = 1 + r.int(r.chance(0.7) ? 2 : 8); n > 0; n--) {
      const at = r.chance(0.02) ? r.int(8) : 8 + r.int(out.length - 8);
      out[at] = out[at]! ^ (1 << r.int(8));
    }
    if (r.chance(0.5)) {
      const p = parse(out);
      if (p) return build(p.chunks, p.rest, true);
    }
    return out;
  },
  insertBytes(png, r) {
    const at = 8 + r.int(png.length - 7);
    return Buffer.concat([
      png.subarray(0, at),
      Buffer.from(Array.from({ length: 1 + r.int(16) }, () => r.int(256))),
      png.subarray(at),
    ]);
  },
  deleteBytes(png, r) {
    const at = 8 + r.int(png.length - 8);
    return Buffer.concat([png.subarray(0, at), png.subarray(Math.min(png.length, at + 1 + r.int(16)))]);
  },
  /** Inserts or deletes bytes inside one chunk's data and fixes its length and CRC: the file stays well formed. */
  resizeChunk(png, r) {
    const p = parse(png);
    if (!p || p.chunks.length === 0) return undefined;
    const c = r.pick(p.chunks);
    const at = r.int(c.data.length + 1);
    c.data = r.chance(0.5)
      ? Buffer.concat([
          c.data.subarray(0, at),
          Buffer.from(Array.from({ length: 1 + r.int(8) }, () => r.int(256))),
          c.data.subarray(at),
        ])
      : Buffer.concat([c.data.subarray(0, at), c.data.subarray(Math.min(c.data.length, at + 1 + r.int(8)))]);
    return build(p.chunks, p.rest, true);
  },
  duplicateChunk(png, r) {
    const p = parse(png);
    if (!p || p.chunks.length === 0) return undefined;
    const c = r.pick(p.chunks);
    p.chunks.splice(r.int(p.chunks.length + 1), 0, { ...c });
    return build(p.chunks, p.rest, false);
  },
  dropOrMoveChunk(png, r) {
    const p = parse(png);
    if (!p || p.chunks.length < 2) return undefined;
    const [c] = p.chunks.splice(r.int(p.chunks.length), 1);
    if (r.chance(0.5)) p.chunks.splice(r.int(p.chunks.length + 1), 0, c!);
    return build(p.chunks, p.rest, false);
  },
  editLength(png, r) {
    const p = parse(png);
    if (!p || p.chunks.length === 0) return undefined;
    let offset = 8;
    const i = r.int(p.chunks.length);
    for (let k = 0; k < i; k++) offset += 12 + p.chunks[k]!.data.length;
    const old = png.readUInt32BE(offset);
    const value = r.pick([
      0,
      1,
      old - 1,
      old + 1,
      old + 1 + r.int(64),
      Math.max(0, old - 1 - r.int(64)),
      0x7fffffff,
      0x80000000,
      0xffffffff,
      r.int(2 ** 32),
    ]);
    const out = Buffer.from(png);
    out.writeUInt32BE(Math.max(0, Math.min(0xffffffff, value)) >>> 0, offset);
    return out;
  },
  insertChunk(png, r) {
    const p = parse(png);
    if (!p) return undefined;
    const type = r.chance(0.8) ? r.pick(ANCILLARY) : r.pick(OTHER);
    const c = chunk(type, chunkBody(type, r));
    const crc = r.chance(0.9) ? c.readUInt32BE(c.length - 4) : r.int(2 ** 32);
    p.chunks.splice(1 + r.int(p.chunks.length), 0, { type, data: c.subarray(8, c.length - 4), crc });
    return build(p.chunks, p.rest, false);
  },
  chunkSpam(png, r) {
    const p = parse(png);
    if (!p || !r.chance(0.15)) return undefined;
    const type = r.pick(["tEXt", "abCd", "tIME"]);
    const body = type === "tIME" ? Buffer.from([7, 234, 1, 1, 0, 0, 0]) : Buffer.alloc(0);
    const c = { type, data: body, crc: 0 };
    p.chunks.splice(1 + r.int(p.chunks.length), 0, ...Array<Chunk>(r.pick([10, 1000, 4000, 4100, 6000])).fill(c));
    return build(p.chunks, p.rest, true);
  },
  editIhdr(png, r) {
    const p = parse(png);
    const ihdr = p?.chunks[0];
    if (!p || ihdr?.type !== "IHDR" || ihdr.data.length !== 13) return undefined;
    const d = Buffer.from(ihdr.data);
    const field = r.int(7);
    if (field === 0) d.writeUInt32BE(Math.max(0, d.readUInt32BE(0) + r.pick([-1, 1, -28, 1000, 0x7fffffff])) >>> 0, 0);
    else if (field === 1)
      d.writeUInt32BE(Math.max(0, d.readUInt32BE(4) + r.pick([-1, 1, -28, 1000, 0x7fffffff])) >>> 0, 4);
    else if (field === 2) d[8] = r.pick([1, 2, 4, 8, 16, 0, 3, 255]);
    else if (field === 3) d[9] = r.pick([0, 2, 3, 4, 6, 1, 5, 7]);
    else d[6 + field] = r.pick([0, 0, 1, 2, 7, 9, 255]);
    ihdr.data = d;
    return build(p.chunks, p.rest, r.chance(0.9));
  },
  /** Recompresses the image data with other zlib settings, after optionally growing, shrinking or refiltering it. */
  recompress(png, r) {
    const p = parse(png);
    const rows = p && imageRows(p.chunks);
    if (!p || !rows || rows.length === 0) return undefined;
    let data: Buffer = rows;
    let zeros = 0;
    const edit = r.int(10);
    if (edit === 0)
      data = Buffer.concat([
        rows,
        Buffer.from(Array.from({ length: 1 + r.int(r.chance(0.5) ? 4 : 4096) }, () => r.int(256))),
      ]);
    else if (edit === 1) zeros = r.chance(0.05) ? r.pick([1 << 26, 1 << 30]) : 1 + r.int(r.chance(0.5) ? 64 : 1 << 22);
    else if (edit === 2) data = rows.subarray(0, Math.max(0, rows.length - 1 - r.int(r.chance(0.5) ? 4 : rows.length)));
    else if (edit === 3) {
      data = Buffer.from(rows);
      data[r.int(data.length)] = r.chance(0.5) ? 5 + r.int(251) : r.int(5);
    } else if (edit === 4) {
      data = Buffer.from(rows);
      data[r.int(data.length)] = r.int(256);
    }
    let stream: Buffer;
    if (zeros > 0) stream = zlibWithZeros(data, zeros);
    else {
      const options: ZlibOptions = {
        level: r.int(10),
        windowBits: 8 + r.int(8),
        memLevel: 1 + r.int(9),
        strategy: r.int(5),
      };
      stream = deflateSync(data, options);
    }
    const tweak = r.int(8);
    if (tweak === 0)
      stream = Buffer.concat([stream, Buffer.from(Array.from({ length: 1 + r.int(8) }, () => r.int(256)))]);
    else if (tweak === 1) stream = Buffer.concat([stream, deflateSync(Buffer.alloc(1 + r.int(32)))]);
    else if (tweak === 2) stream = stream.subarray(0, stream.length - 1 - r.int(Math.min(stream.length - 1, 8)));
    const first = p.chunks.findIndex((c) => c.type === "IDAT");
    const others = p.chunks.filter((c) => c.type !== "IDAT");
    const idat = splitIdat(stream, r);
    if (idat.length > 1 && r.chance(0.1))
      idat.splice(1 + r.int(idat.length - 1), 0, { type: "tEXt", data: Buffer.from("between\0IDATs"), crc: 0 });
    others.splice(first < 0 ? 1 : Math.min(first, others.length), 0, ...idat);
    return build(others, p.rest, true);
  },
  zlibHeader(png, r) {
    const p = parse(png);
    const idat = p?.chunks.find((c) => c.type === "IDAT" && c.data.length >= 2);
    if (!p || !idat) return undefined;
    const d = Buffer.from(idat.data);
    const cmf = r.chance(0.8) ? (r.int(16) << 4) | 8 : r.int(256);
    let flg = r.chance(0.1) ? 0x20 : d[1]! & 0xc0;
    if (r.chance(0.9)) flg += 31 - ((cmf * 256 + flg) % 31 || 31);
    d[0] = cmf;
    d[1] = flg & 0xff;
    idat.data = d;
    return build(p.chunks, p.rest, true);
  },
  corruptCrc(png, r) {
    const p = parse(png);
    if (!p || p.chunks.length === 0) return undefined;
    const c = r.pick(p.chunks);
    c.crc = (c.crc ^ (1 << r.int(32))) >>> 0;
    return build(p.chunks, p.rest, false);
  },
  afterIend(png, r) {
    return r.chance(0.5)
      ? Buffer.concat([
          png,
          r.chance(0.5)
            ? chunk(r.pick(["tEXt", "IDAT", "IEND"]), Buffer.from("k\0v"))
            : Buffer.from(Array.from({ length: 1 + r.int(32) }, () => r.int(256))),
        ])
      : png.subarray(0, png.length - 1 - r.int(Math.min(png.length - 9, r.chance(0.5) ? 12 : png.length)));
  },
};

const NAMES = Object.keys(MUTATIONS);
// How often each mutation is drawn: the ones that keep a file well formed reach the deeper checks.
const WEIGHTS: Record<string, number> = {
  recompress: 5,
  flipBits: 3,
  insertChunk: 3,
  editIhdr: 3,
  resizeChunk: 2,
  corruptCrc: 2,
  zlibHeader: 2,
  duplicateChunk: 2,
  dropOrMoveChunk: 2,
};
const DRAW = NAMES.flatMap((n) => Array<string>(WEIGHTS[n] ?? 1).fill(n));

/** 1–3 mutations of `png`; names what was done. */
export function mutate(png: Buffer, r: Rng): { data: Buffer; ops: string[] } {
  let data = png;
  const ops: string[] = [];
  for (let n = 1 + (r.chance(0.6) ? 0 : r.int(3)); n > 0; n--) {
    const name = r.pick(DRAW);
    const out = MUTATIONS[name]!(data, r);
    if (out) {
      data = out;
      ops.push(name);
    }
  }
  return { data, ops };
}

/** Usually the seed's own target (one the fast path can take); sometimes another fit, size or channel count. */
export function targetFor(seed: Seed, r: Rng): Target {
  const t: Target = { ...seed.target, fit: r.chance(0.8) ? "fill" : r.pick(["contain", "cover"] as const) };
  if (r.chance(0.05)) t.channels = t.channels === 1 ? 3 : 1;
  if (r.chance(0.03)) t.width = Math.max(1, t.width + r.pick([-1, 1]));
  return t;
}

// ---------------------------------------------------------------------------------------------------------------
// The differential check

/** `declined` when sharp was not asked (a declined file needs no verdict: sharp decides it in any case). */
export type Outcome =
  "identical" | "declined" | "declined-sharp-decodes" | "declined-sharp-refuses" | "both-refuse" | "mismatch";

export interface CaseResult {
  outcome: Outcome;
  detail?: string;
  fastMs: number;
  sharpMs: number;
  /** Growth of array-buffer memory over the fast-path call (its inflate output and pixels are still held then). */
  fastBytes: number;
  /** The fast path's inflates, when watched (see watchInflate). */
  inflates: InflateCall[];
}

/**
 * Runs one file through both paths and classifies the pair; `mismatch` is a bug in the fast path. `take` (from
 * watchInflate) collects the fast path's inflates: it runs synchronously, so cases run concurrently do not mix.
 * `askSharpOnDecline: false` skips sharp for files the fast path declines (most mutants), which any verdict allows.
 */
export async function differential(
  data: Buffer,
  target: Target,
  options: { take?: () => InflateCall[]; askSharpOnDecline?: boolean } = {},
): Promise<CaseResult> {
  const { take, askSharpOnDecline = true } = options;
  let fast: Uint8Array | undefined;
  let fastError: Error | undefined;
  take?.();
  const bytes0 = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  try {
    fast = decodePlainPng(data, target);
  } catch (err) {
    fastError = err as Error;
  }
  const fastMs = performance.now() - t0;
  const fastBytes = process.memoryUsage().arrayBuffers - bytes0;
  const inflates = take?.() ?? [];
  if (!fast && !fastError && !askSharpOnDecline)
    return { outcome: "declined", fastMs, sharpMs: 0, fastBytes, inflates };
  let slow: Buffer | undefined;
  let slowError: Error | undefined;
  const t1 = performance.now();
  try {
    slow = await sharpPixels(data, target);
  } catch (err) {
    slowError = err as Error;
  }
  const sharpMs = performance.now() - t1;
  const result = (outcome: Outcome, detail?: string): CaseResult => ({
    outcome,
    fastMs,
    sharpMs,
    fastBytes,
    inflates,
    ...(detail ? { detail } : {}),
  });
  if (fastError)
    return slowError
      ? result("both-refuse")
      : result("mismatch", `fast path throws "${fastError.message}" where sharp decodes`);
  if (!fast) return result(slowError ? "declined-sharp-refuses" : "declined-sharp-decodes");
  if (slowError)
    return result("mismatch", `fast path decodes where sharp throws "${slowError.message.split("\n")[0]}"`);
  if (!Buffer.from(fast.buffer, fast.byteOffset, fast.byteLength).equals(slow!)) {
    const at = fast.findIndex((v, i) => v !== slow![i]);
    return result("mismatch", `pixels differ (${fast.length} vs ${slow!.length} bytes, first at ${at})`);
  }
  return result("identical");
}

/** What a PNG's IHDR declares its image data inflates to, when the fast path could decode it (8-bit grey or RGB). */
function declaredBytes(data: Uint8Array): number | undefined {
  const h = readPngHeader(data);
  const channels = h && { 0: 1, 2: 3 }[h.colorType];
  return h && channels ? (h.width * channels + 1) * h.height : undefined;
}

export interface InflateCall {
  maxOutputLength: number | undefined;
  output: number;
}

/**
 * Records every zlib.inflateSync call made through node:zlib's ES module exports (png.ts imports it so) with the
 * bound it was given and what it produced: syncBuiltinESMExports makes the named exports follow the patched
 * function. Returns a function taking the calls recorded since the last take.
 */
export function watchInflate(): () => InflateCall[] {
  const original = zlib.inflateSync;
  let calls: InflateCall[] = [];
  const watched = (buf: zlib.InputType, options?: ZlibOptions): Buffer => {
    const call: InflateCall = { maxOutputLength: options?.maxOutputLength, output: -1 };
    calls.push(call);
    const out = original(buf, options);
    // With `info`, the result is { buffer, engine } (typed as a Buffer all the same).
    call.output = (options as { info?: boolean } | undefined)?.info
      ? (out as unknown as { buffer: Buffer }).buffer.length
      : out.length;
    return out;
  };
  zlib.inflateSync = watched as typeof zlib.inflateSync;
  syncBuiltinESMExports();
  return () => {
    const taken = calls;
    calls = [];
    return taken;
  };
}

/**
 * Why a fast-path call could have allocated beyond what the file declares, or undefined: an inflate with no bound,
 * a bound above the declared size, or output beyond its bound; or array-buffer growth over the call beyond the
 * file (the IDATs joined), the declared image data (inflated, with zlib's one spare byte) and the pixels.
 */
export function unbounded(data: Uint8Array, calls: InflateCall[], fastBytes: number): string | undefined {
  const declared = declaredBytes(data);
  if (fastBytes > data.length + 3 * (declared ?? 0) + 65536)
    return `decodePlainPng grew array buffers by ${fastBytes} bytes for a ${data.length}-byte file declaring ${declared ?? "no plain image"}`;
  for (const c of calls) {
    if (c.maxOutputLength === undefined) return "inflateSync called without maxOutputLength";
    if (declared === undefined || c.maxOutputLength > declared)
      return `inflateSync allowed ${c.maxOutputLength} bytes where IHDR declares ${declared ?? "no plain image"}`;
    if (c.output > c.maxOutputLength) return `inflateSync produced ${c.output} bytes, bound ${c.maxOutputLength}`;
  }
  return undefined;
}

export interface FuzzReport {
  cases: number;
  counts: Record<Outcome, number>;
  unbounded: number;
  failures: { index: number; seed: string; ops: string[]; detail: string; data: Buffer }[];
  maxFast: { ms: number; index: number; data?: Buffer; target?: Target };
  /** Every fast-path call's time, ms, in case order. */
  fastMs: Float64Array;
  maxSharp: { ms: number; index: number };
  /** Largest array-buffer growth over one fast-path call. */
  maxFastBytes: number;
  maxRssGrowth: number;
}

/** Runs `cases` cases of a seed (or case `only` alone) over a corpus, `concurrency` at a time (sharp runs off the main thread). */
export async function fuzz(
  corpus: Seed[],
  options: {
    seed: number;
    cases: number;
    only?: number;
    concurrency?: number;
    askSharpOnDecline?: boolean;
    onProgress?: (done: number) => void;
  },
): Promise<FuzzReport> {
  const take = watchInflate();
  const counts: Record<Outcome, number> = {
    identical: 0,
    declined: 0,
    "declined-sharp-decodes": 0,
    "declined-sharp-refuses": 0,
    "both-refuse": 0,
    mismatch: 0,
  };
  const report: FuzzReport = {
    cases: 0,
    counts,
    unbounded: 0,
    failures: [],
    maxFast: { ms: 0, index: -1 },
    fastMs: new Float64Array(0),
    maxSharp: { ms: 0, index: -1 },
    maxFastBytes: 0,
    maxRssGrowth: 0,
  };
  // Warm the fast path up first, so its slowest call is not the compiler's.
  for (const s of corpus.slice(0, 2000)) decodePlainPng(s.data, s.target);
  take();
  const rss0 = process.memoryUsage.rss();
  const indices = options.only === undefined ? Array.from({ length: options.cases }, (_, i) => i) : [options.only];
  report.fastMs = new Float64Array(indices.length);
  let next = 0;
  const one = async (index: number): Promise<void> => {
    const r = caseRng(options.seed, index);
    const seed = corpus[r.int(corpus.length)]!;
    const { data, ops } = mutate(seed.data, r);
    const target = targetFor(seed, r);
    const result = await differential(data, target, { take, askSharpOnDecline: options.askSharpOnDecline ?? true });
    report.maxFastBytes = Math.max(report.maxFastBytes, result.fastBytes);
    const allocation = unbounded(data, result.inflates, result.fastBytes);
    counts[result.outcome]++;
    report.cases++;
    report.fastMs[report.cases - 1] = result.fastMs;
    if (result.fastMs > report.maxFast.ms) report.maxFast = { ms: result.fastMs, index, data, target };
    if (result.sharpMs > report.maxSharp.ms) report.maxSharp = { ms: result.sharpMs, index };
    if (allocation) report.unbounded++;
    if (result.outcome === "mismatch" || allocation) {
      report.failures.push({
        index,
        seed: seed.name,
        ops,
        detail: [result.detail, allocation].filter(Boolean).join("; "),
        data,
      });
    }
    if (report.cases % 1000 === 0) {
      report.maxRssGrowth = Math.max(report.maxRssGrowth, process.memoryUsage.rss() - rss0);
      options.onProgress?.(report.cases);
    }
  };
  await Promise.all(
    Array.from({ length: options.concurrency ?? 4 }, async () => {
      while (next < indices.length) await one(indices[next++]!);
    }),
  );
  report.failures.sort((a, b) => a.index - b.index);
  report.maxRssGrowth = Math.max(report.maxRssGrowth, process.memoryUsage.rss() - rss0);
  return report;
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string): number | undefined => {
    const i = args.indexOf(`--${name}`);
    if (i < 0) return undefined;
    const value = Number(args[i + 1]);
    if (!Number.isInteger(value) || value < 0)
      throw new Error(`--${name} takes a non-negative integer, got ${JSON.stringify(args[i + 1])}`);
    return value;
  };
  const seed = option("seed") ?? 1;
  const cases = option("cases") ?? 100_000;
  const only = option("only");
  const askSharpOnDecline = !args.includes("--declines-unjudged");
  sharp.cache(false);
  const started = performance.now();
  const corpus = await loadCorpus();
  const samples = corpus.filter((s) => !s.name.startsWith("derived-")).length;
  console.log(
    `png-fuzz: seed ${seed}, ${only === undefined ? `${cases} cases` : `case ${only} only`}; corpus ${samples} sample PNGs + ${corpus.length - samples} derived`,
  );
  const report = await fuzz(corpus, {
    seed,
    cases,
    ...(only === undefined ? {} : { only }),
    askSharpOnDecline,
    onProgress: (done) => {
      if (done % 10_000 === 0) console.log(`  ${done} cases, ${((performance.now() - started) / 1000).toFixed(0)} s`);
    },
  });
  const c = report.counts;
  // The slowest call again, alone: a garbage-collection pause (the process's, sharp's buffers included) lands on
  // whichever call is running, so the maximum above is mostly the collector's.
  let alone = Infinity;
  for (let k = 0; k < 5 && report.maxFast.data; k++) {
    const t = performance.now();
    try {
      decodePlainPng(report.maxFast.data, report.maxFast.target!);
    } catch {
      // what it did the first time
    }
    alone = Math.min(alone, performance.now() - t);
  }
  const sorted = Float64Array.from(report.fastMs).sort();
  const quantile = (q: number): string =>
    `${(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(3)} ms`;
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  const rows: [string, string][] = [
    ["fast path decoded, identical to sharp", String(c.identical)],
    ...(askSharpOnDecline ? [] : [["fast path declined (sharp not asked)", String(c.declined)] as [string, string]]),
    ["fast path declined, sharp decoded", String(c["declined-sharp-decodes"])],
    ["fast path declined, sharp refused", String(c["declined-sharp-refuses"])],
    ["both refused", String(c["both-refuse"])],
    ["mismatches", String(c.mismatch)],
    ["allocations beyond the declared size", String(report.unbounded)],
    [
      "max decodePlainPng call",
      `${report.maxFast.ms.toFixed(2)} ms (case ${report.maxFast.index}; ${alone.toFixed(3)} ms re-timed alone)`,
    ],
    ["decodePlainPng call p50 / p99 / p99.9", `${quantile(0.5)} / ${quantile(0.99)} / ${quantile(0.999)}`],
    ["max sharp call (wall, queueing included)", `${report.maxSharp.ms.toFixed(2)} ms (case ${report.maxSharp.index})`],
    ["max array-buffer growth in a fast call", mb(report.maxFastBytes)],
    ["max RSS growth", mb(report.maxRssGrowth)],
    ["wall time", `${((performance.now() - started) / 1000).toFixed(1)} s`],
  ];
  for (const [k, v] of rows) console.log(`  ${k.padEnd(42)} ${v}`);
  if (report.failures.length > 0) {
    const dir = mkdtempSync(join(tmpdir(), "png-fuzz-"));
    for (const f of report.failures.slice(0, 50)) {
      writeFileSync(join(dir, `case-${f.index}.png`), f.data);
      console.log(`  FAIL case ${f.index} (from ${f.seed}; ${f.ops.join(", ")}): ${f.detail}`);
    }
    console.log(`  failing files in ${dir}; re-run one with --seed ${seed} --only N`);
    process.exitCode = 1;
  }
}

if (import.meta.main) await main();
