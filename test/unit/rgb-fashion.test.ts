import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateDataset } from "../../core/datasets/validate.ts";
import { buildManifest } from "../../core/datasets/version.ts";
import { CLASSES, FASHION_MNIST_DIR, makeRgbFashion, renderImage } from "../../examples/rgb-fashion/make-dataset.ts";

const haveFmnist = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"].every((f) =>
  existsSync(join(FASHION_MNIST_DIR, f)),
);
const onCi = process.env.CI === "true";
if (!haveFmnist && onCi) throw new Error(`${FASHION_MNIST_DIR} is missing: .ci/run installs dataset-fashion-mnist`);
const skipReason = `skipped: no Fashion-MNIST IDX files in ${FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)`;
if (!haveFmnist) console.warn(`rgb-fashion tests ${skipReason}`);

const PER_CLASS = 6;

/** Every file under `dir`, relative and `/`-separated, sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) =>
      join(e.parentPath, e.name)
        .slice(dir.length + 1)
        .split("\\")
        .join("/"),
    )
    .sort();
}

const imagesOf = (files: string[]): string[] => files.filter((f) => [".png", ".jpg"].includes(extname(f)));

describe("examples/rgb-fashion: renderImage (no Fashion-MNIST needed)", () => {
  it("composites a garment of one saturated colour, 36–56 px square, over a background of other colours", async () => {
    const plain = { size: 64, jpegFraction: 0, brightness: 1, noise: 0 };
    for (let seed = 0; seed < 20; seed++) {
      // A fully opaque garment fills its square with its colour; an empty one leaves only the background.
      const { pixels } = await renderImage(new Uint8Array(784).fill(255), seed, plain);
      const { pixels: background } = await renderImage(new Uint8Array(784), seed, plain);
      const at = (buf: Buffer, i: number): string => `${buf[3 * i]},${buf[3 * i + 1]},${buf[3 * i + 2]}`;
      const changed: number[] = [];
      for (let i = 0; i < 64 * 64; i++) if (at(pixels, i) !== at(background, i)) changed.push(i);
      const xs = changed.map((i) => i % 64);
      const ys = changed.map((i) => Math.floor(i / 64));
      const [left, right, top, bottom] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      const side = right - left + 1;
      expect({ seed, square: bottom - top + 1 === side, sideInRange: side >= 36 && side <= 56 }).toEqual({
        seed,
        square: true,
        sideInRange: true,
      });
      const colour = at(pixels, top * 64 + left);
      const inBox = (i: number): boolean =>
        i % 64 >= left && i % 64 <= right && Math.floor(i / 64) >= top && Math.floor(i / 64) <= bottom;
      const [r, g, b] = colour.split(",").map(Number) as [number, number, number];
      // The background is clearly another colour: over 1,000 seeds no background pixel came within 90 (RGB distance).
      let nearest = Infinity;
      for (let i = 0; i < 64 * 64; i++) {
        if (inBox(i)) expect(at(pixels, i), `seed ${seed}: garment pixel ${i}`).toBe(colour);
        nearest = Math.min(
          nearest,
          Math.hypot(
            (background[3 * i] as number) - r,
            (background[3 * i + 1] as number) - g,
            (background[3 * i + 2] as number) - b,
          ),
        );
      }
      expect(
        nearest,
        `seed ${seed}: RGB distance from the garment's colour ${colour} to the nearest background pixel`,
      ).toBeGreaterThan(60);
      expect(
        (Math.max(r, g, b) - Math.min(r, g, b)) / Math.max(r, g, b),
        `seed ${seed}: saturation of ${colour}`,
      ).toBeGreaterThan(0.49);
    }
  });
});

describe.skipIf(!haveFmnist)(`examples/rgb-fashion: makeRgbFashion${haveFmnist ? "" : ` (${skipReason})`}`, () => {
  const dirs: string[] = [];
  const make = async (
    options: Omit<Parameters<typeof makeRgbFashion>[0], "out" | "perClass" | "source">,
  ): Promise<string> => {
    const out = await mkdtemp(join(tmpdir(), "sightline-rgb-fashion-"));
    dirs.push(out);
    const result = await makeRgbFashion({ out, perClass: PER_CLASS, source: "t10k", ...options });
    expect(result).toEqual({ files: PER_CLASS * CLASSES.length, classes: [...CLASSES] });
    return out;
  };
  let a: string;
  let files: string[];

  beforeAll(async () => {
    a = await make({ seed: 1 });
    files = await listFiles(a);
  });
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("writes SPLIT/CLASS/NNNNN.png and .jpg files for every class, plus dataset.yaml and LICENSE", async () => {
    const images = imagesOf(files);
    expect(images).toHaveLength(PER_CLASS * CLASSES.length);
    expect(files.filter((f) => !images.includes(f))).toEqual(["LICENSE", "dataset.yaml"]);
    for (const f of images) expect(f).toMatch(/^(train|validation|test)\/[a-z-]+\/\d{5}\.(png|jpg)$/);
    const jpegs = images.filter((f) => f.endsWith(".jpg")).length;
    expect(jpegs).toBeGreaterThan(0);
    expect(jpegs).toBeLessThan(images.length);
    for (const c of CLASSES) {
      const of = (split: string): number => images.filter((f) => f.startsWith(`${split}/${c}/`)).length;
      expect({ class: c, train: of("train"), validation: of("validation"), test: of("test") }).toEqual({
        class: c,
        train: 4,
        validation: 1,
        test: 1,
      });
    }
    expect(await readFile(join(a, "LICENSE"), "utf8")).toMatch(
      /Copyright © 2017 Zalando SE[\s\S]*Permission is hereby granted/,
    );
    expect(await readFile(join(a, "dataset.yaml"), "utf8")).toMatch(/^name: rgb-fashion$/m);
  });

  it("writes 64×64 three-channel images in the format their extension names", async () => {
    for (const f of imagesOf(files)) {
      const meta = await sharp(join(a, f)).metadata();
      expect({ f, format: meta.format, width: meta.width, height: meta.height, channels: meta.channels }).toEqual({
        f,
        format: f.endsWith(".jpg") ? "jpeg" : "png",
        width: 64,
        height: 64,
        channels: 3,
      });
    }
  });

  it("gives byte-identical files for the same seed and different ones for another seed", async () => {
    const again = await make({ seed: 1 });
    expect(await listFiles(again)).toEqual(files);
    for (const f of files) expect((await readFile(join(again, f))).equals(await readFile(join(a, f))), f).toBe(true);

    const other = await make({ seed: 2 });
    const otherImages = imagesOf(await listFiles(other));
    const stem = (f: string): string => f.slice(0, -extname(f).length);
    // The same garments (same source images) in the same places, but drawn differently: no image is the same.
    expect(otherImages.map(stem)).toEqual(imagesOf(files).map(stem));
    for (const f of otherImages) {
      const mine = imagesOf(files).find((g) => stem(g) === stem(f)) as string;
      const [x, y] = await Promise.all([sharp(join(other, f)).raw().toBuffer(), sharp(join(a, mine)).raw().toBuffer()]);
      expect(x.equals(y), f).toBe(false);
    }
  });

  it("colours the images of one class differently", async () => {
    for (const c of CLASSES) {
      const means = await Promise.all(
        imagesOf(files)
          .filter((f) => f.split("/")[1] === c)
          .map(async (f) => (await sharp(join(a, f)).stats()).channels.slice(0, 3).map((ch) => ch.mean)),
      );
      const spread = [0, 1, 2].map(
        (k) => Math.max(...means.map((m) => m[k] as number)) - Math.min(...means.map((m) => m[k] as number)),
      );
      expect(Math.max(...spread), `${c}: mean RGB ${JSON.stringify(means)}`).toBeGreaterThan(30);
    }
  });

  it("passes the dataset validation of `sightline data validate`, keeping the declared splits", async () => {
    const { manifest } = await buildManifest(a);
    expect(manifest.classes).toEqual([...CLASSES]);
    expect(manifest.spec.image).toEqual({ width: 64, height: 64, channels: 3 });
    // Each file stays in the split its folder declares (the default fractions would move some of train/).
    for (const f of manifest.files) expect(f.split, f.path).toBe(f.path.split("/")[0]);
    const report = await validateDataset({
      classes: manifest.classes,
      spec: manifest.spec,
      files: manifest.files,
      read: (f) => readFile(join(a, f.path)),
    });
    expect(report.rules.filter((r) => !r.ok)).toEqual([]);
    expect(report).toMatchObject({ ok: true, files: PER_CLASS * CLASSES.length });
  });

  it("applies a shift to the same images: brighter with brightness > 1, and the same files otherwise", async () => {
    const shifted = await make({ seed: 1, shift: { brightness: 1.3, noise: 0.02 } });
    const shiftedImages = imagesOf(await listFiles(shifted));
    expect(shiftedImages).toEqual(imagesOf(files));
    const brightness = async (dir: string): Promise<number> => {
      const means = await Promise.all(
        shiftedImages.map(
          async (f) => (await sharp(join(dir, f)).stats()).channels.slice(0, 3).reduce((s, ch) => s + ch.mean, 0) / 3,
        ),
      );
      return means.reduce((s, m) => s + m, 0) / means.length;
    };
    const [before, after] = await Promise.all([brightness(a), brightness(shifted)]);
    expect(after / before).toBeGreaterThan(1.15);
  });

  it("refuses to write into a folder that already holds files", async () => {
    const out = await mkdtemp(join(tmpdir(), "sightline-rgb-fashion-"));
    dirs.push(out);
    await writeFile(join(out, "stale.png"), "x");
    await expect(makeRgbFashion({ out, perClass: 1, source: "t10k" })).rejects.toThrow(/is not empty/);
  });
});
