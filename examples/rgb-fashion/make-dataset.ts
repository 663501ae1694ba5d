// RGB Fashion-MNIST: each garment of Fashion-MNIST coloured, scaled and placed on a generated texture at 64×64, written
// as PNG and JPEG files in SPLIT/CLASS/ folders with a dataset.yaml, for tests and for the PyTorch example. Every image
// is a pure function of (seed, source, index in the IDX file): the same seed gives byte-identical files.
//
//   node examples/rgb-fashion/make-dataset.ts --out DIR --per-class 100 [--seed 0] [--jpeg-fraction 0.5]
//        [--source train|t10k] [--size 64] [--brightness 1.3] [--noise 0.05] [--idx-dir DIR]
import { readFile, readdir, mkdir, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pLimit from "p-limit";
import sharp from "sharp";
import { readIdx } from "../../core/datasets/idx.ts";
import { SPEC_FILE } from "../../core/datasets/spec.ts";
import type { Split } from "../../core/datasets/split.ts";
import { gaussianSource, seededRandom } from "../../core/util/random.ts";

/** Where Debian's dataset-fashion-mnist puts the IDX files (override with FMNIST_DIR or `idxDir`). */
export const FASHION_MNIST_DIR = process.env.FMNIST_DIR ?? "/usr/share/datasets/fashion-mnist";

/** The Fashion-MNIST classes in label order. */
export const CLASSES = [
  "t-shirt",
  "trouser",
  "pullover",
  "dress",
  "coat",
  "sandal",
  "shirt",
  "sneaker",
  "bag",
  "ankle-boot",
] as const;

const LICENSE = fileURLToPath(new URL("../../data/sample/LICENSE", import.meta.url));

/** A shift applied after compositing, for drift tests: the same garments, layouts and backgrounds, changed pixels. */
export interface RgbShift {
  /** Multiplies every channel (1.3 = 30 % brighter), clamped to 0..255. */
  brightness?: number;
  /** Standard deviation of additive Gaussian noise per channel, as a fraction of 255 (0.05 ≈ 13 levels). */
  noise?: number;
}

export interface MakeRgbFashionOptions {
  /** Output folder; created, and must be empty if it exists (stale files would join the dataset). */
  out: string;
  /** Images per class: the first `perClass` of each class in the IDX file's order. */
  perClass: number;
  /** Default 0. */
  seed?: number;
  /** Probability that an image is written as JPEG (quality 90) rather than PNG; default 0.5. */
  jpegFraction?: number;
  /** Which Fashion-MNIST file pair to read; default "train" (6,000 per class; "t10k" has 1,000). */
  source?: "train" | "t10k";
  /** Width and height of the images; default 64. Garments are scaled to 36/64–56/64 of it. */
  size?: number;
  shift?: RgbShift;
  /** Folder of the IDX files; default FASHION_MNIST_DIR. */
  idxDir?: string;
  /** Images built and encoded at once; default twice the cores. */
  concurrency?: number;
}

/** One output image: where it comes from and where it goes. */
interface Job {
  sourceIndex: number;
  label: number;
  split: Split;
}

/** Writes the dataset; returns how many images it wrote and the classes in label order. */
export async function makeRgbFashion(options: MakeRgbFashionOptions): Promise<{ files: number; classes: string[] }> {
  const { out, perClass } = options;
  const seed = options.seed ?? 0;
  const jpegFraction = options.jpegFraction ?? 0.5;
  const source = options.source ?? "train";
  const size = options.size ?? 64;
  const idxDir = options.idxDir ?? FASHION_MNIST_DIR;
  if (!Number.isInteger(perClass) || perClass < 1)
    throw new Error(`perClass must be a positive integer, got ${perClass}`);
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  if (!(jpegFraction >= 0 && jpegFraction <= 1)) throw new Error(`jpegFraction must be in 0..1, got ${jpegFraction}`);
  if (!Number.isInteger(size) || size < 16) throw new Error(`size must be an integer of at least 16, got ${size}`);
  const brightness = options.shift?.brightness ?? 1;
  const noise = options.shift?.noise ?? 0;
  if (!(brightness >= 0)) throw new Error(`shift.brightness must be a non-negative number, got ${brightness}`);
  if (!(noise >= 0 && noise <= 1)) throw new Error(`shift.noise must be in 0..1, got ${noise}`);

  const existing = await readdir(out).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    throw err;
  });
  if (existing.length > 0) throw new Error(`${out} is not empty; write the dataset to a new folder`);

  const imagesPath = join(idxDir, `${source}-images-idx3-ubyte.gz`);
  const labelsPath = join(idxDir, `${source}-labels-idx1-ubyte.gz`);
  const [images, labels] = await Promise.all([readIdx(imagesPath), readIdx(labelsPath)]);
  const [count = 0, rows = 0, cols = 0] = images.dims;
  if (images.dims.length !== 3 || rows !== 28 || cols !== 28)
    throw new Error(`${imagesPath}: expected N×28×28 images, got ${images.dims.join("×")}`);
  if (labels.dims.length !== 1 || labels.dims[0] !== count)
    throw new Error(`${labelsPath}: expected ${count} labels, got ${labels.dims.join("×")}`);

  // The first perClass images of each class, in file order; within a class the last tenth (at least one image
  // each from 3 per class up) goes to validation and the tenth after it to test.
  const byClass: number[][] = CLASSES.map(() => []);
  for (let i = 0; i < count; i++) {
    const taken = byClass[labels.data[i] ?? 0];
    if (taken === undefined)
      throw new Error(`${labelsPath}: label ${labels.data[i]} at ${i} is not a Fashion-MNIST class`);
    if (taken.length < perClass) taken.push(i);
  }
  const held = perClass >= 3 ? Math.max(1, Math.round(perClass / 10)) : 0;
  const jobs: Job[] = [];
  byClass.forEach((indices, label) => {
    if (indices.length < perClass)
      throw new Error(`${imagesPath} holds only ${indices.length} images of ${CLASSES[label]}, fewer than ${perClass}`);
    indices.forEach((sourceIndex, k) => {
      const split: Split = k < perClass - 2 * held ? "train" : k < perClass - held ? "validation" : "test";
      jobs.push({ sourceIndex, label, split });
    });
  });

  for (const split of ["train", "validation", "test"] as const) {
    if (!jobs.some((j) => j.split === split)) continue;
    for (const name of CLASSES) await mkdir(join(out, split, name), { recursive: true });
  }

  const limit = pLimit(options.concurrency ?? Math.max(2, 2 * availableParallelism()));
  const digits = Math.max(5, String(count - 1).length);
  await Promise.all(
    jobs.map((job) =>
      limit(async () => {
        const garment = images.data.subarray(job.sourceIndex * 784, (job.sourceIndex + 1) * 784);
        const { pixels, jpeg } = await renderImage(garment, imageSeed(seed, source, job.sourceIndex), {
          size,
          jpegFraction,
          brightness,
          noise,
        });
        const raw = sharp(pixels, { raw: { width: size, height: size, channels: 3 } });
        const encoded = jpeg ? await raw.jpeg({ quality: 90 }).toBuffer() : await raw.png().toBuffer();
        const file = `${String(job.sourceIndex).padStart(digits, "0")}.${jpeg ? "jpg" : "png"}`;
        await writeFile(join(out, job.split, CLASSES[job.label] as string, file), encoded);
      }),
    ),
  );

  const shiftNote = options.shift ? `, shift ${JSON.stringify({ brightness, noise })}` : "";
  const spec = [
    `# Generated by examples/rgb-fashion/make-dataset.ts (seed ${seed}, source ${source}, ${perClass} per class, jpegFraction ${jpegFraction}${shiftNote}):`,
    "# Fashion-MNIST garments, coloured, scaled and composited on generated textures, as PNG and JPEG.",
    "name: rgb-fashion",
    `classes: [${CLASSES.join(", ")}]`,
    `image: { width: ${size}, height: ${size}, channels: 3 }`,
    `validation: { minPerClass: ${Math.min(perClass, 5)}, maxImbalance: 1.5 }`,
    "# The files already sit in train/, validation/ and test/. Zero fractions keep them there: by default a declared",
    "# train/ folder still gives up 10 % of its files (by content hash) to validation.",
    "splits: { validation: 0, test: 0 }",
    "license: MIT (Zalando SE); derived from Fashion-MNIST, see LICENSE",
    "",
  ].join("\n");
  await writeFile(join(out, SPEC_FILE), spec);
  await writeFile(join(out, "LICENSE"), await licenseText(source, perClass));
  return { files: jobs.length, classes: [...CLASSES] };
}

/** The sample's licence file with its first paragraph (which describes the sample) replaced by one about this dataset. */
async function licenseText(source: string, perClass: number): Promise<string> {
  const original = await readFile(LICENSE, "utf8");
  const mit = original.indexOf("The MIT License");
  if (mit < 0) throw new Error(`${LICENSE} does not hold the MIT licence text`);
  return [
    "The images in this folder are derived from Fashion-MNIST",
    "(https://github.com/zalandoresearch/fashion-mnist), read from Debian's package",
    `dataset-fashion-mnist: the first ${perClass} images of each class of the ${source === "train" ? "training" : "test"} set`,
    `(${source}-images-idx3-ubyte.gz), each coloured, scaled and composited on a generated texture by`,
    "examples/rgb-fashion/make-dataset.ts.",
    "",
    original.slice(mit),
  ].join("\n");
}

/** A 32-bit seed per image from the run's seed, the source file and the image's index in it (murmur3's finaliser). */
function imageSeed(seed: number, source: string, index: number): number {
  let h =
    (Math.imul(seed | 0, 0x9e3779b1) ^
      Math.imul(index + 1, 0x85ebca6b) ^
      (source === "train" ? 0x27d4eb2f : 0x165667b1)) >>>
    0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

type Rgb = [number, number, number];

/** HSV (each 0..1) to RGB (each 0..255). */
function hsv(h: number, s: number, v: number): Rgb {
  const f = (n: number): number => {
    const k = (n + h * 6) % 6;
    return 255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1)));
  };
  return [f(5), f(3), f(1)];
}

/**
 * One image from one 28×28 garment and its own seed, as raw RGB pixels (size × size × 3) and whether to write it as
 * JPEG. Garment colour, size and place, background texture and format are drawn from the image's generator in a
 * fixed order, before the shift's noise, so a shifted image is the unshifted one plus the shift.
 */
export async function renderImage(
  garment: Uint8Array,
  imageSeedValue: number,
  o: { size: number; jpegFraction: number; brightness: number; noise: number },
): Promise<{ pixels: Buffer; jpeg: boolean }> {
  if (garment.length !== 784) throw new Error(`a garment is 28×28 = 784 bytes, got ${garment.length}`);
  const random = seededRandom(imageSeedValue);
  const uniform = (lo: number, hi: number): number => lo + (hi - lo) * random();
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const { size } = o;

  const hue = random();
  const colour = hsv(hue, uniform(0.5, 1), uniform(0.75, 1));
  const scale = int(Math.round((size * 36) / 64), Math.round((size * 56) / 64));
  const left = int(0, size - scale);
  const top = int(0, size - scale);
  const jpeg = random() < o.jpegFraction;
  // Background hues at least 90° from the garment's, one light and one dark colour so the texture shows.
  const bgHue = (hue + uniform(0.25, 0.75)) % 1;
  const a = hsv(bgHue, uniform(0.2, 0.9), uniform(0.55, 0.95));
  const b = hsv((bgHue + uniform(-0.15, 0.15) + 1) % 1, uniform(0.2, 0.9), uniform(0.15, 0.5));
  const texture = pickTexture(random, size);

  const mask = await sharp(garment, { raw: { width: 28, height: 28, channels: 1 } })
    .resize(scale, scale, { kernel: "lanczos3" })
    .toColourspace("b-w")
    .raw()
    .toBuffer();

  const pixels = Buffer.alloc(size * size * 3);
  const gaussian = o.noise > 0 ? gaussianSource(random) : undefined;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const t = texture(x, y);
      const inside = x >= left && x < left + scale && y >= top && y < top + scale;
      // Grey value as alpha, the garment pixel being colour × intensity (a premultiplied layer over the background).
      const alpha = inside ? (mask[(y - top) * scale + (x - left)] ?? 0) / 255 : 0;
      for (let c = 0; c < 3; c++) {
        const bg = (a[c] as number) * (1 - t) + (b[c] as number) * t;
        let v = (colour[c] as number) * alpha + bg * (1 - alpha);
        v *= o.brightness;
        if (gaussian) v += gaussian() * o.noise * 255;
        pixels[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { pixels, jpeg };
}

/** A background texture as a mix weight 0..1 between its two colours at each pixel: value noise, stripes or a checkerboard. */
function pickTexture(random: () => number, size: number): (x: number, y: number) => number {
  const kind = Math.floor(random() * 3);
  if (kind === 0) {
    // Value noise: random weights on a coarse grid, bilinearly interpolated.
    const cell = 3 + Math.floor(random() * 10);
    const n = Math.ceil(size / cell) + 2;
    const grid = Float64Array.from({ length: n * n }, () => random());
    return (x, y) => {
      const gx = x / cell;
      const gy = y / cell;
      const x0 = Math.floor(gx);
      const y0 = Math.floor(gy);
      const fx = gx - x0;
      const fy = gy - y0;
      const at = (i: number, j: number): number => grid[j * n + i] as number;
      const top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx;
      const bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx;
      return top * (1 - fy) + bottom * fy;
    };
  }
  if (kind === 1) {
    // Stripes at a random angle and period.
    const period = 4 + random() * 12;
    const angle = random() * Math.PI;
    const phase = random() * period;
    const [cos, sin] = [Math.cos(angle), Math.sin(angle)];
    return (x, y) => (Math.floor((x * cos + y * sin + phase) / (period / 2)) & 1 ? 1 : 0);
  }
  // Checkerboard at a random cell size and offset.
  const cell = 3 + Math.floor(random() * 10);
  const dx = Math.floor(random() * cell);
  const dy = Math.floor(random() * cell);
  return (x, y) => ((Math.floor((x + dx) / cell) + Math.floor((y + dy) / cell)) & 1 ? 1 : 0);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      "per-class": { type: "string" },
      seed: { type: "string", default: "0" },
      "jpeg-fraction": { type: "string", default: "0.5" },
      source: { type: "string", default: "train" },
      size: { type: "string", default: "64" },
      brightness: { type: "string" },
      noise: { type: "string" },
      "idx-dir": { type: "string" },
    },
  });
  if (!values.out || !values["per-class"])
    throw new Error(
      "usage: make-dataset.ts --out DIR --per-class N [--seed 0] [--jpeg-fraction 0.5] [--source train|t10k] [--size 64] [--brightness X] [--noise SIGMA] [--idx-dir DIR]",
    );
  if (values.source !== "train" && values.source !== "t10k")
    throw new Error(`--source must be train or t10k, got ${values.source}`);
  const number = (flag: string, text: string): number => {
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n))
      throw new Error(`--${flag} must be a number, got ${JSON.stringify(text)}`);
    return n;
  };
  const shift: RgbShift = {};
  if (values.brightness !== undefined) shift.brightness = number("brightness", values.brightness);
  if (values.noise !== undefined) shift.noise = number("noise", values.noise);
  const started = performance.now();
  const result = await makeRgbFashion({
    out: values.out,
    perClass: number("per-class", values["per-class"]),
    seed: number("seed", values.seed),
    jpegFraction: number("jpeg-fraction", values["jpeg-fraction"]),
    source: values.source,
    size: number("size", values.size),
    ...(Object.keys(shift).length > 0 ? { shift } : {}),
    ...(values["idx-dir"] ? { idxDir: values["idx-dir"] } : {}),
  });
  console.log(
    `wrote ${result.files} images of ${result.classes.length} classes to ${values.out} in ${((performance.now() - started) / 1000).toFixed(2)} s`,
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
