import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { deflateSync, inflateSync } from "node:zlib";
import sharp, { type Sharp } from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import {
  chunk,
  differential,
  fuzz,
  loadCorpus,
  pngOf,
  sharpPixels,
  watchInflate,
  zlibWithZeros,
  type InflateCall,
  type Target,
} from "../../bench/png-fuzz.ts";
import { decodePlainPng, MAX_CHUNKS, readPngHeader } from "../../core/imaging/png.ts";
import { ImagePool } from "../../core/imaging/image-pool.ts";
import { probeImage } from "../../core/imaging/probe.ts";
import { SAMPLE } from "../support/datasets.ts";

// Hostile PNGs from the issue tracker, built here chunk by chunk around one real sample image, and what each path
// makes of them. The rule: the fast path returns sharp's pixels, or undefined (sharp decides), or throws where
// sharp throws — never pixels where sharp throws, never an error where sharp decodes.

const GREY: Target = { width: 28, height: 28, channels: 1, fit: "fill" };
const IEND = chunk("IEND");
const DECLARED = 29 * 28; // filter byte + 28 samples, 28 rows

function ihdr(
  o: {
    width?: number;
    height?: number;
    depth?: number;
    colour?: number;
    compression?: number;
    filter?: number;
    interlace?: number;
  } = {},
): Buffer {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(o.width ?? 28, 0);
  d.writeUInt32BE(o.height ?? 28, 4);
  d.set([o.depth ?? 8, o.colour ?? 0, o.compression ?? 0, o.filter ?? 0, o.interlace ?? 0], 8);
  return chunk("IHDR", d);
}

const badCrc = (c: Buffer): Buffer => {
  const out = Buffer.from(c);
  out[out.length - 1] = out[out.length - 1]! ^ 1;
  return out;
};

let sample: Buffer; // a real sample PNG (IHDR, pHYs, IDAT, IEND, as sharp wrote it)
let rows: Buffer; // its image data, inflated: what IHDR declares
let z: Buffer; // that image data deflated again with zlib's defaults (32 KiB window)
let pixels: Buffer; // what sharp makes of it
const plain = (...middle: Buffer[]): Buffer => pngOf(ihdr(), ...middle, IEND);

beforeAll(async () => {
  const dir = join(SAMPLE, "test", "bag");
  sample = await readFile(join(dir, (await readdir(dir)).sort()[0]!));
  const at = sample.indexOf("IDAT");
  rows = inflateSync(sample.subarray(at + 4, at + 4 + sample.readUInt32BE(at - 4)));
  z = deflateSync(rows);
  pixels = await sharpPixels(sample, GREY);
});

type Outcome = { pixels: Buffer } | { undefined: true } | { throws: string };
const fastOutcome = (data: Buffer, target = GREY): Outcome => {
  try {
    const out = decodePlainPng(data, target);
    return out ? { pixels: Buffer.from(out) } : { undefined: true };
  } catch (err) {
    return { throws: (err as Error).message };
  }
};
const sharpOutcome = async (data: Buffer, target = GREY): Promise<Outcome> =>
  sharpPixels(data, target).then(
    (p) => ({ pixels: p }),
    (err: Error) => ({ throws: err.message }),
  );

/** Asserts the fast path declines the file and sharp does what is noted (decodes to the sample's pixels, or refuses). */
async function declines(files: Record<string, Buffer>, sharpDoes: "decodes" | "refuses"): Promise<void> {
  for (const [what, data] of Object.entries(files)) {
    expect(fastOutcome(data), what).toEqual({ undefined: true });
    const slow = await sharpOutcome(data);
    if (sharpDoes === "decodes") expect(slow, what).toEqual({ pixels });
    else expect(slow, what).toHaveProperty("throws");
  }
}

describe("zlib bombs and image data of the wrong size", () => {
  it("declines the issue's bomb (255 KiB declaring 28×28 grey, 255 MiB of zeros after the image): sharp decodes it", async () => {
    const bomb = plain(chunk("IDAT", zlibWithZeros(rows, 255 << 20)));
    expect(bomb.length).toBeLessThan(270_000);
    await declines({ bomb }, "decodes");
  });

  it("inflates a bomb no further than the 812 bytes IHDR declares, and one that would be 1 GiB not at all", () => {
    const take = watchInflate();
    // Within the compressed size the fast path inflates at all (2 × 812 + 64 KiB): 32 MiB of zeros in ~36 kB.
    const small = plain(chunk("IDAT", zlibWithZeros(rows, 32 << 20)));
    take();
    expect(decodePlainPng(small, GREY)).toBeUndefined();
    const calls: InflateCall[] = take();
    expect(calls).toEqual([{ maxOutputLength: DECLARED, output: -1 }]); // output -1: the bound threw, nothing returned
    const gib = plain(chunk("IDAT", zlibWithZeros(rows, 1 << 30)));
    expect(decodePlainPng(gib, GREY)).toBeUndefined();
    expect(take()).toEqual([]);
    // The genuine image goes through the same bound.
    expect(Buffer.from(decodePlainPng(plain(chunk("IDAT", z)), GREY)!)).toEqual(pixels);
    expect(take()).toEqual([{ maxOutputLength: DECLARED, output: DECLARED }]);
  });

  it("declines image data inflating to more than declared, or with bytes after its zlib stream: sharp decodes those", async () => {
    await declines(
      {
        "1000 bytes too many": plain(chunk("IDAT", deflateSync(Buffer.concat([rows, Buffer.alloc(1000)])))),
        "one byte too many": plain(chunk("IDAT", deflateSync(Buffer.concat([rows, Buffer.alloc(1)])))),
        "garbage after the stream": plain(chunk("IDAT", Buffer.concat([z, Buffer.from([1, 2, 3])]))),
        "an IDAT after the stream ended": plain(chunk("IDAT", z), chunk("IDAT", Buffer.from([1, 2, 3]))),
        "a second zlib stream": plain(chunk("IDAT", Buffer.concat([z, deflateSync(rows)]))),
      },
      "decodes",
    );
  });

  it("throws, as sharp does, for image data inflating to less than declared", async () => {
    const short = plain(chunk("IDAT", deflateSync(rows.subarray(0, rows.length - 29))));
    expect(fastOutcome(short)).toEqual({ throws: expect.stringMatching(/783 bytes.*812/) });
    expect(await sharpOutcome(short)).toHaveProperty("throws");
  });
});

describe("what sharp refuses or reads differently never decodes on the fast path", () => {
  it("declines IHDR methods that do not exist: interlace 2, compression 7, filter 9 (sharp refuses them)", async () => {
    await declines(
      {
        "interlace 2": pngOf(ihdr({ interlace: 2 }), chunk("IDAT", z), IEND),
        "compression 7": pngOf(ihdr({ compression: 7 }), chunk("IDAT", z), IEND),
        "filter 9": pngOf(ihdr({ filter: 9 }), chunk("IDAT", z), IEND),
      },
      "refuses",
    );
  });

  it("declines a duplicate IHDR and a chunk between IDATs (sharp refuses them)", async () => {
    const half = z.length >> 1;
    await declines(
      {
        "duplicate IHDR": pngOf(ihdr(), ihdr(), chunk("IDAT", z), IEND),
        "tEXt between IDATs": plain(
          chunk("IDAT", z.subarray(0, half)),
          chunk("tEXt", Buffer.from("a\0b")),
          chunk("IDAT", z.subarray(half)),
        ),
        "pHYs between IDATs": plain(
          chunk("IDAT", z.subarray(0, half)),
          chunk("pHYs", Buffer.alloc(9)),
          chunk("IDAT", z.subarray(half)),
        ),
      },
      "refuses",
    );
  });

  it("declines a missing IEND, anything after IEND, an IEND with data, and IDATs split by a chunk after a complete stream (sharp decodes them)", async () => {
    const file = plain(chunk("IDAT", z));
    await declines(
      {
        "no IEND": pngOf(ihdr(), chunk("IDAT", z)),
        "bytes after IEND": Buffer.concat([file, Buffer.from("trailing bytes")]),
        "a chunk after IEND": Buffer.concat([file, chunk("tEXt", Buffer.from("k\0v"))]),
        "IEND with data": pngOf(ihdr(), chunk("IDAT", z), chunk("IEND", Buffer.from([0]))),
        "IDAT, tEXt, IDAT": plain(
          chunk("IDAT", z),
          chunk("tEXt", Buffer.from("a\0b")),
          chunk("IDAT", Buffer.from([1, 2])),
        ),
        "pHYs after IDAT": plain(chunk("IDAT", z), chunk("pHYs", Buffer.alloc(9))),
      },
      "decodes",
    );
  });

  it("declines a zlib stream whose declared window is smaller than the image reaches back (libpng refuses it; node:zlib would not)", async () => {
    // The sample's own stream declares a 1 KiB window, enough for 812 bytes; 256 bytes is not.
    const narrow = Buffer.from(z);
    narrow[0] = 0x08;
    narrow[1] = (narrow[1]! & 0xc0) + 31 - ((0x08 * 256 + (narrow[1]! & 0xc0)) % 31);
    expect(inflateSync(narrow)).toEqual(rows);
    await declines({ "256-byte window": plain(chunk("IDAT", narrow)) }, "refuses");
    expect(sample[sample.indexOf("IDAT") + 4]).toBe(0x28); // and the sample itself (1 KiB) is decoded, elsewhere
  });

  it("throws for a bad CRC where libpng reads it (IHDR, any IDAT up to the end of the stream), and declines it where libpng only warns", async () => {
    const half = z.length >> 1;
    const refused = {
      IHDR: pngOf(badCrc(ihdr()), chunk("IDAT", z), IEND),
      "the only IDAT": plain(badCrc(chunk("IDAT", z))),
      "IDAT 2 of 2": plain(chunk("IDAT", z.subarray(0, half)), badCrc(chunk("IDAT", z.subarray(half)))),
      "an empty IDAT mid-stream": plain(
        chunk("IDAT", z.subarray(0, half)),
        badCrc(chunk("IDAT")),
        chunk("IDAT", z.subarray(half)),
      ),
    };
    for (const [what, data] of Object.entries(refused)) {
      expect(fastOutcome(data), what).toEqual({ throws: expect.stringMatching(/CRC/) });
      expect(await sharpOutcome(data), what).toHaveProperty("throws");
    }
    await declines(
      {
        tEXt: plain(badCrc(chunk("tEXt", Buffer.from("a\0b"))), chunk("IDAT", z)),
        IEND: pngOf(ihdr(), chunk("IDAT", z), badCrc(IEND)),
        "an empty IDAT after the stream": plain(chunk("IDAT", z), badCrc(chunk("IDAT"))),
      },
      "decodes",
    );
  });

  it("still decodes what is plain: inert chunks before and after the data, IDATs split anywhere, empty ones", async () => {
    const cuts = [0, 1, 2, 100, z.length - 1];
    const files: Record<string, Buffer> = {
      "text and time": plain(
        chunk("tEXt", Buffer.from("Comment\0hi")),
        chunk("tIME", Buffer.from([7, 234, 12, 1, 0, 0, 0])),
        chunk("IDAT", z),
        chunk("zTXt", Buffer.from("k\0\0x")),
      ),
      ...Object.fromEntries(
        cuts.map((c) => [
          `split at ${c}`,
          plain(chunk("IDAT", z.subarray(0, c)), chunk("IDAT", z.subarray(c)), chunk("IDAT")),
        ]),
      ),
    };
    for (const [what, data] of Object.entries(files)) {
      expect(fastOutcome(data), what).toEqual({ pixels });
      expect(await sharpOutcome(data), what).toEqual({ pixels });
    }
  });
});

describe("chunk count", () => {
  it("declines the issue's 10 MiB file of 870,000 empty chunks, and reads its header from IHDR alone", async () => {
    const empty = chunk("tEXt");
    const spam = Buffer.alloc(870_000 * empty.length);
    for (let i = 0; i < 870_000; i++) spam.set(empty, i * empty.length);
    const many = pngOf(ihdr(), spam, chunk("IDAT", z), IEND);
    expect(many.length).toBeGreaterThan(10_000_000);
    expect(decodePlainPng(many, GREY)).toBeUndefined();
    expect(readPngHeader(many)).toEqual({
      width: 28,
      height: 28,
      bitDepth: 8,
      colorType: 0,
      compression: 0,
      filter: 0,
      interlace: 0,
    });
    // Nothing past IHDR is read for the header: a file cut right after it has the same one.
    expect(readPngHeader(many.subarray(0, 33))).toEqual(readPngHeader(many));
  });

  it(`decodes up to ${MAX_CHUNKS} chunks and declines beyond`, async () => {
    const withText = (n: number): Buffer =>
      pngOf(ihdr(), ...Array<Buffer>(n).fill(chunk("tEXt", Buffer.from("k\0v"))), chunk("IDAT", z), IEND);
    const most = withText(MAX_CHUNKS - 3); // IHDR, the text chunks, IDAT, IEND
    expect(fastOutcome(most)).toEqual({ pixels });
    expect(await sharpOutcome(most)).toEqual({ pixels });
    expect(fastOutcome(withText(MAX_CHUNKS - 2))).toEqual({ undefined: true });
  });
});

describe("dataset validation (probeImage) holds the same bound", () => {
  it("refuses a bomb, bytes after the zlib stream and too little data, naming the declared size (sharp decodes the first two)", async () => {
    const bomb = plain(chunk("IDAT", zlibWithZeros(rows, 255 << 20)));
    await expect(probeImage(bomb)).rejects.toThrow(
      /more than its IHDR declares \(28×28, colour type 0, 8-bit: 812 bytes\)/,
    );
    await expect(probeImage(plain(chunk("IDAT", Buffer.concat([z, Buffer.from([1, 2, 3])]))))).rejects.toThrow(
      /3 bytes after its zlib stream ends.*812 bytes/,
    );
    await expect(probeImage(plain(chunk("IDAT", z), chunk("IDAT", Buffer.from([9]))))).rejects.toThrow(/1 byte after/);
    // Too little data sharp refuses as well, after allocating the declared image: refused before that.
    const wide = pngOf(
      ihdr({ width: 4_194_309, height: 9, colour: 2 }),
      chunk("IDAT", deflateSync(Buffer.alloc(9 * 16))),
      IEND,
    );
    await expect(probeImage(wide)).rejects.toThrow(
      /inflates to 144 bytes; its IHDR declares 4194309×9, colour type 2, 8-bit: 113246352 bytes/,
    );
    await expect(probeImage(sample)).resolves.toEqual({ format: "png", width: 28, height: 28, channels: 1 });
  });

  it("reports the bomb as not decoding from the validation worker pool, as validateDataset sees it", async () => {
    const pool = new ImagePool(1);
    try {
      const [good, bomb] = await pool.probeBatch([sample, plain(chunk("IDAT", zlibWithZeros(rows, 255 << 20)))]);
      expect(good).toEqual({ format: "png", width: 28, height: 28, channels: 1 });
      expect(bomb).toEqual({ error: expect.stringMatching(/812 bytes/) });
    } finally {
      await pool.close();
    }
  });

  it("still accepts PNGs of every colour type, bit depth and interlacing, at odd sizes", async () => {
    const bytes = (n: number, k: number): Buffer =>
      Buffer.from(Array.from({ length: n }, (_, i) => (i * k + 11) & 0xff));
    const made: [string, Buffer, number][] = [];
    for (const [w, h] of [
      [1, 1],
      [3, 9],
      [13, 7],
      [17, 2],
    ] as const) {
      const raw = (channels: 1 | 2 | 3 | 4): Sharp =>
        sharp(bytes(w * h * channels, 37), { raw: { width: w, height: h, channels } });
      const variants: [string, Sharp, number][] = [
        ["grey", raw(1).toColourspace("b-w").png(), 1],
        ["grey 16-bit", raw(1).toColourspace("grey16").png(), 1],
        ["grey+alpha", raw(2).toColourspace("b-w").png(), 2],
        ["RGB", raw(3).png(), 3],
        ["RGB 16-bit", raw(3).toColourspace("rgb16").png(), 3],
        ["RGBA", raw(4).png(), 4],
        ...[2, 4, 16, 256].map((colours): [string, Sharp, number] => [
          `palette of ${colours}`,
          raw(3).png({ palette: true, colours }),
          3,
        ]),
      ];
      for (const [what, image, channels] of variants) {
        made.push([`${what} ${w}×${h}`, await image.toBuffer(), channels]);
        made.push([`${what} ${w}×${h} interlaced`, await image.png({ progressive: true }).toBuffer(), channels]);
      }
      // Greyscale below 8 bits (sharp writes none): rows of packed samples, filter type 0.
      for (const depth of [1, 2, 4]) {
        const stride = Math.ceil((w * depth) / 8);
        const data = Buffer.concat(
          Array.from({ length: h }, (_, y) => Buffer.concat([Buffer.from([0]), bytes(stride, 7 + y)])),
        );
        made.push([
          `grey ${depth}-bit ${w}×${h}`,
          pngOf(ihdr({ width: w, height: h, depth }), chunk("IDAT", deflateSync(data)), IEND),
          1,
        ]);
      }
    }
    // IHDR's colour type, bit depth and interlace method: the kinds made.
    const kinds = new Set(
      made.map(([, png]) =>
        png
          .subarray(24, 29)
          .filter((_, i) => i !== 2 && i !== 3)
          .join("/"),
      ),
    );
    expect(kinds.size).toBeGreaterThanOrEqual(20);
    for (const [what, png] of made) await expect(probeImage(png), what).resolves.toMatchObject({ format: "png" });
  });
});

describe("differential check against sharp over mutated sample PNGs", () => {
  it("never returns pixels where sharp throws, never throws where sharp decodes, and returns sharp's pixels otherwise (4,000 cases)", async () => {
    const corpus = await loadCorpus({ derived: 48 });
    // Declined files need no verdict from sharp (it decides them in any case): skipping it keeps this test short.
    const report = await fuzz(corpus, { seed: 20261201, cases: 4000, askSharpOnDecline: false });
    const failures = report.failures.map((f) => `case ${f.index} (${f.seed}; ${f.ops.join(", ")}): ${f.detail}`);
    expect(failures).toEqual([]);
    expect(report.unbounded).toBe(0);
    // The mutator reaches every outcome, the fast path's decoding included.
    for (const outcome of ["identical", "declined", "both-refuse"] as const)
      expect(report.counts[outcome], outcome).toBeGreaterThan(200);
  });

  it("classifies a known pair of outcomes", async () => {
    expect((await differential(sample, GREY)).outcome).toBe("identical");
    expect((await differential(plain(chunk("IDAT", z), chunk("pHYs", Buffer.alloc(9))), GREY)).outcome).toBe(
      "declined-sharp-decodes",
    );
  });
});
