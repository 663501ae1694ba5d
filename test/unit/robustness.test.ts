import { mkdtempSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FsBlobStore } from "../../core/blobs/fs-blob-store.ts";
import type { ManifestFile } from "../../core/datasets/manifest.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import { perturbBatch, perturbImage, PERTURBATIONS, type Perturbation } from "../../core/imaging/perturb.ts";
import { decodePlainPng } from "../../core/imaging/png.ts";
import { preprocess, PreprocessSpecSchema } from "../../core/imaging/preprocess.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { registerVersion } from "../../core/registry/model-version.ts";
import { loadPolicy, parsePolicy } from "../../core/registry/policy.ts";
import { promote } from "../../core/registry/promote.ts";
import { robustnessMetrics, RobustnessSchema, type Robustness } from "../../core/registry/robustness.ts";
import { topClass } from "../../core/registry/scores.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { digestOf } from "../../core/util/digest.ts";
import type { SplitData } from "../../core/datasets/training-data.ts";
import { robustnessReport } from "../../trainer/robustness.ts";
import { runCli } from "../support/cli.ts";
import { SAMPLE } from "../support/datasets.ts";
import { testCard } from "../support/model-card.ts";
import { GOOD, putDataset, registerTestVersion } from "../support/registry.ts";

const GREY = PreprocessSpecSchema.parse({ width: 28, height: 28, channels: 1 });

type Image = { pixels: Uint8Array; width: number; height: number; channels: number };
async function pixelsOf(png: Uint8Array): Promise<Image> {
  const image = sharp(png);
  const { channels } = await image.metadata();
  const { data, info } = await (channels <= 2 ? image.toColourspace("b-w") : image)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { pixels: data, width: info.width, height: info.height, channels: info.channels };
}

/** The first `perClass` images of each class of one split of the bundled sample, with their class indices. */
async function sampleImages(
  split: "train" | "test",
  perClass: number,
): Promise<{ classes: string[]; images: { path: string; bytes: Buffer; y: number }[] }> {
  const classes = (await readdir(join(SAMPLE, split))).sort();
  const images: { path: string; bytes: Buffer; y: number }[] = [];
  for (const [y, c] of classes.entries()) {
    for (const f of (await readdir(join(SAMPLE, split, c))).sort().slice(0, perClass))
      images.push({ path: `${split}/${c}/${f}`, bytes: await readFile(join(SAMPLE, split, c, f)), y });
  }
  return { classes, images };
}

/** Mean squared difference of horizontally and vertically adjacent values (one channel): high for sharp edges. */
function edgeEnergy(img: Image): number {
  let sum = 0;
  let n = 0;
  const at = (x: number, y: number): number => img.pixels[(y * img.width + x) * img.channels]!;
  for (let y = 0; y < img.height - 1; y++) {
    for (let x = 0; x < img.width - 1; x++) {
      sum += (at(x + 1, y) - at(x, y)) ** 2 + (at(x, y + 1) - at(x, y)) ** 2;
      n += 2;
    }
  }
  return sum / n;
}

/** Orientation (degrees, y down) of an image's principal axis of intensity, from its second central moments. */
function orientation(img: Image): number {
  let m = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++) {
      const v = img.pixels[y * img.width + x]!;
      m += v;
      mx += v * x;
      my += v * y;
    }
  const cx = mx / m;
  const cy = my / m;
  let mu20 = 0;
  let mu02 = 0;
  let mu11 = 0;
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++) {
      const v = img.pixels[y * img.width + x]!;
      mu20 += v * (x - cx) ** 2;
      mu02 += v * (y - cy) ** 2;
      mu11 += v * (x - cx) * (y - cy);
    }
  return (0.5 * Math.atan2(2 * mu11, mu20 - mu02) * 180) / Math.PI;
}

describe("perturbImage on the bundled sample images", () => {
  let images: { path: string; bytes: Buffer; y: number }[];
  beforeAll(async () => {
    images = (await sampleImages("train", 3)).images;
  });

  it("writes plain PNGs of the source's size and channels that the in-process decoder and sharp read alike", async () => {
    const source = images[0]!.bytes;
    for (const p of PERTURBATIONS) {
      const out = await perturbImage(source, p, 7);
      const plain = decodePlainPng(out, { width: 28, height: 28, channels: 1 });
      expect(plain, `${p}: the fast PNG path takes it`).toBeDefined();
      const viaSharp = await pixelsOf(out);
      expect({ p, width: viaSharp.width, height: viaSharp.height, channels: viaSharp.channels }).toEqual({
        p,
        width: 28,
        height: 28,
        channels: 1,
      });
      expect(Buffer.from(plain!).equals(Buffer.from(viaSharp.pixels)), p).toBe(true);
      expect((await preprocess(out, GREY)).length).toBe(28 * 28);
    }
  });

  it("brightness ±30 multiplies every value by 1.3 / 0.7, rounded and clamped", async () => {
    for (const { bytes, path } of images) {
      const src = await pixelsOf(bytes);
      for (const [p, factor] of [
        ["brightness+30", 1.3],
        ["brightness-30", 0.7],
      ] as const) {
        const out = await pixelsOf(await perturbImage(bytes, p, 0));
        expect([...out.pixels], `${path} ${p}`).toEqual(
          [...src.pixels].map((v) => Math.min(255, Math.round(v * factor))),
        );
        const ratios: number[] = [];
        src.pixels.forEach((v, i) => v >= 40 && v * factor < 254 && ratios.push(out.pixels[i]! / v));
        expect(ratios.length, path).toBeGreaterThan(20);
        const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
        expect(Math.abs(mean - factor), `${path} ${p}: mean ratio ${mean}`).toBeLessThan(0.01);
        expect(Math.min(...ratios), path).toBeGreaterThan(factor - 0.5 / 40 - 1e-9);
        expect(Math.max(...ratios), path).toBeLessThan(factor + 0.5 / 40 + 1e-9);
      }
    }
  });

  it("noise is Gaussian with σ 25.5 on mid-grey values, seeded: the same seed gives the same bytes", async () => {
    const residuals: number[] = [];
    for (const [k, { bytes }] of images.entries()) {
      const src = await pixelsOf(bytes);
      const out = await pixelsOf(await perturbImage(bytes, "noise", k));
      // 2σ from either end, so clamping almost never touches them.
      src.pixels.forEach((v, i) => v >= 77 && v <= 178 && residuals.push(out.pixels[i]! - v));
    }
    const grey = await sharp(Buffer.alloc(64 * 64, 128), { raw: { width: 64, height: 64, channels: 1 } })
      .toColourspace("b-w")
      .png()
      .toBuffer();
    const flat = await pixelsOf(await perturbImage(grey, "noise", 1));
    flat.pixels.forEach((v) => residuals.push(v - 128));
    expect(residuals.length).toBeGreaterThan(4000);
    const mean = residuals.reduce((a, b) => a + b, 0) / residuals.length;
    const std = Math.sqrt(residuals.reduce((a, b) => a + (b - mean) ** 2, 0) / residuals.length);
    expect(Math.abs(mean)).toBeLessThan(1.5);
    expect(std).toBeGreaterThan(24.5);
    expect(std).toBeLessThan(26.5);
    // Gaussian, not uniform: about 68% within one σ (a uniform of this σ would put 58% there).
    const within = residuals.filter((r) => Math.abs(r - mean) <= std).length / residuals.length;
    expect(within).toBeGreaterThan(0.65);
    expect(within).toBeLessThan(0.71);

    const bytes = images[0]!.bytes;
    expect((await perturbImage(bytes, "noise", 42)).equals(await perturbImage(bytes, "noise", 42))).toBe(true);
    expect((await perturbImage(bytes, "noise", 42)).equals(await perturbImage(bytes, "noise", 43))).toBe(false);
  });

  it("rotation turns the image 15° clockwise about its centre at the same size, with black corners", async () => {
    // The garments of one class (trousers) are elongated: their principal axis turns with them.
    const trousers = (await sampleImages("train", 4)).images.filter((i) => i.path.includes("/trouser/"));
    for (const { bytes, path } of trousers) {
      const src = await pixelsOf(bytes);
      const out = await pixelsOf(await perturbImage(bytes, "rotation", 0));
      expect([out.width, out.height, out.channels]).toEqual([28, 28, 1]);
      let turned = orientation(out) - orientation(src);
      turned = ((turned + 90 + 180) % 180) - 90;
      expect(Math.abs(turned - 15), `${path}: turned ${turned.toFixed(1)}°`).toBeLessThan(3);
      const moved = src.pixels.reduce((s, v, i) => s + Math.abs(v - out.pixels[i]!), 0) / src.pixels.length;
      expect(moved, path).toBeGreaterThan(10);
    }
    const white = await sharp({ create: { width: 40, height: 30, channels: 3, background: "#ffffff" } })
      .png()
      .toBuffer();
    const out = await pixelsOf(await perturbImage(white, "rotation", 0));
    expect([out.width, out.height, out.channels]).toEqual([40, 30, 3]);
    const at = (x: number, y: number): number[] => [...out.pixels.subarray((y * 40 + x) * 3, (y * 40 + x) * 3 + 3)];
    for (const [x, y] of [
      [0, 0],
      [39, 0],
      [0, 29],
      [39, 29],
    ] as const)
      expect(at(x, y), `corner ${x},${y}`).toEqual([0, 0, 0]);
    expect(at(20, 15)).toEqual([255, 255, 255]);
  });

  it("blur lowers the edge energy and keeps the mean; batch blurring gives sharp's blur(1) bit for bit", async () => {
    const rgb = await sharp(images[0]!.bytes)
      .resize(40, 36)
      .tint("#c06030")
      .removeAlpha()
      .toColourspace("srgb")
      .png()
      .toBuffer();
    const sources = [...images.map((i) => i.bytes), rgb];
    const batch = await perturbBatch(sources.map((bytes, seed) => ({ bytes, seed })));
    for (const [k, bytes] of sources.entries()) {
      const src = await pixelsOf(bytes);
      const out = await pixelsOf(batch[k]!.blur);
      const mean = (img: Image): number => img.pixels.reduce((a, b) => a + b, 0) / img.pixels.length;
      expect(edgeEnergy(out), `image ${k}`).toBeLessThan(0.6 * edgeEnergy(src));
      expect(Math.abs(mean(out) - mean(src)), `image ${k}`).toBeLessThan(1);
      const reference = await sharp(src.pixels, {
        raw: { width: src.width, height: src.height, channels: src.channels as 1 | 3 },
      })
        .blur(1)
        .toColourspace(src.channels === 1 ? "b-w" : "srgb")
        .raw()
        .toBuffer();
      expect(Buffer.from(out.pixels).equals(reference), `image ${k}: the mosaic blur equals blurring it alone`).toBe(
        true,
      );
      for (const p of PERTURBATIONS)
        expect(batch[k]![p].equals(await perturbImage(bytes, p, k)), `image ${k} ${p}: batch = single`).toBe(true);
    }
  });

  it("decodes other formats as preprocessing does and keeps an alpha channel", async () => {
    const rgba = await sharp({
      create: { width: 16, height: 12, channels: 4, background: { r: 100, g: 150, b: 50, alpha: 0.5 } },
    })
      .png()
      .toBuffer();
    const out = await pixelsOf(await perturbImage(rgba, "brightness+30", 0));
    expect([out.width, out.height, out.channels]).toEqual([16, 12, 4]);
    expect([...out.pixels.subarray(0, 4)]).toEqual([130, 195, 65, 128]);
    const jpeg = await sharp(images[0]!.bytes).jpeg().toBuffer();
    const fromJpeg = await perturbImage(jpeg, "brightness-30", 0);
    const decoded = await pixelsOf(jpeg);
    const perturbed = await pixelsOf(fromJpeg);
    expect(perturbed.channels).toBe(decoded.channels);
    expect([...perturbed.pixels]).toEqual([...decoded.pixels].map((v) => Math.round(v * 0.7)));
    await expect(perturbImage(Buffer.from("not an image"), "blur", 0)).rejects.toThrow(
      /cannot perturb an image \(12 bytes\) that does not decode/,
    );
    await expect(perturbImage(rgba, "sepia" as Perturbation, 0)).rejects.toThrow(/unknown perturbation "sepia"/);
  });
});

describe("robustnessReport with a real classifier (nearest class mean on the sample's pixels)", () => {
  const blobs = new FsBlobStore(mkdtempSync(join(tmpdir(), "sightline-robustness-")));
  let test: SplitData;
  const k = 10;
  const pixels = 28 * 28;
  const means = { raw: new Float64Array(k * pixels), normalised: new Float64Array(k * pixels) };
  /** Each image divided by its largest value: brightness-invariant, up to rounding and clipping. */
  const scaleOf = (row: Float32Array): number => 1 / Math.max(1e-6, ...row);

  /** Euclidean nearest class mean, of the raw inputs or of the max-normalised ones. */
  const nearestMean =
    (normalise: boolean) =>
    async (x: Float32Array, n: number): Promise<Float32Array> => {
      const m = normalise ? means.normalised : means.raw;
      const out = new Float32Array(n * k);
      for (let i = 0; i < n; i++) {
        const row = x.subarray(i * pixels, (i + 1) * pixels);
        const scale = normalise ? scaleOf(row) : 1;
        for (let c = 0; c < k; c++) {
          let d = 0;
          for (let j = 0; j < pixels; j++) d += (row[j]! * scale - m[c * pixels + j]!) ** 2;
          out[i * k + c] = -d;
        }
      }
      return out;
    };
  const accuracy = async (classify: (x: Float32Array, n: number) => Promise<Float32Array>): Promise<number> => {
    const p = await classify(test.x, test.n);
    let correct = 0;
    for (let i = 0; i < test.n; i++) if (topClass(p, k, i) === test.y[i]) correct++;
    return correct / test.n;
  };

  beforeAll(async () => {
    const load = async (split: "train" | "test", perClass: number): Promise<SplitData> => {
      const { images } = await sampleImages(split, perClass);
      const x = new Float32Array(images.length * pixels);
      const files: ManifestFile[] = [];
      for (const [i, image] of images.entries()) {
        x.set(await preprocess(image.bytes, GREY), i * pixels);
        const { digest } = await blobs.put(image.bytes);
        files.push({
          path: image.path,
          label: String(image.y),
          split,
          sha256: digest.slice("sha256:".length),
          size: image.bytes.length,
        });
      }
      return { n: images.length, pixels, x, y: Int32Array.from(images.map((i) => i.y)), files };
    };
    const train = await load("train", 60);
    for (let i = 0; i < train.n; i++) {
      const row = train.x.subarray(i * pixels, (i + 1) * pixels);
      const scale = scaleOf(row);
      for (let j = 0; j < pixels; j++) {
        means.raw[train.y[i]! * pixels + j]! += row[j]! / 60;
        means.normalised[train.y[i]! * pixels + j]! += (row[j]! * scale) / 60;
      }
    }
    test = await load("test", 12);
  });
  afterAll(() => blobs.close());

  it("reports clean accuracy and each perturbation's accuracy and drop on the same images; raw pixels drop under darkening", async () => {
    const classify = nearestMean(false);
    const clean = await accuracy(classify);
    const report = await robustnessReport({
      blobs,
      test,
      spec: GREY,
      cleanAccuracy: clean,
      classify,
      classes: k,
      seed: 1,
    });
    expect(RobustnessSchema.parse(report)).toEqual(report);
    expect(report.images).toBe(test.n);
    expect(report.clean).toBeCloseTo(clean, 10);
    expect(clean).toBeGreaterThan(0.5);
    for (const p of PERTURBATIONS)
      expect(report.perturbations[p].drop).toBeCloseTo(report.clean - report.perturbations[p].accuracy, 6);
    // Pixel distances to class means grow when every value shrinks by 30%.
    expect(report.perturbations["brightness-30"].drop).toBeGreaterThan(0.05);
    expect(report.perturbations.rotation.drop).toBeGreaterThan(0.05);
    // The same seed gives the same report.
    expect(
      await robustnessReport({ blobs, test, spec: GREY, cleanAccuracy: clean, classify, classes: k, seed: 1 }),
    ).toEqual(report);
  });

  it("a classifier that normalises brightness barely drops under darkening", async () => {
    const classify = nearestMean(true);
    const report = await robustnessReport({
      blobs,
      test,
      spec: GREY,
      cleanAccuracy: await accuracy(classify),
      classify,
      classes: k,
      seed: 1,
    });
    expect(report.clean).toBeGreaterThan(0.5);
    expect(Math.abs(report.perturbations["brightness-30"].drop)).toBeLessThan(0.03);
  });

  it("evaluates a seeded subset of a larger split, and refuses a classify that is not the evaluated model", async () => {
    const classify = nearestMean(false);
    const clean = await accuracy(classify);
    const a = await robustnessReport({
      blobs,
      test,
      spec: GREY,
      cleanAccuracy: clean,
      classify,
      classes: k,
      seed: 5,
      maxImages: 30,
    });
    expect(a.images).toBe(30);
    expect(
      await robustnessReport({
        blobs,
        test,
        spec: GREY,
        cleanAccuracy: clean,
        classify,
        classes: k,
        seed: 5,
        maxImages: 30,
      }),
    ).toEqual(a);
    const constant = async (_x: Float32Array, n: number): Promise<Float32Array> => new Float32Array(n * k).fill(0.1);
    await expect(
      robustnessReport({ blobs, test, spec: GREY, cleanAccuracy: clean, classify: constant, classes: k, seed: 1 }),
    ).rejects.toThrow(/classify gives accuracy 0\.1000 on the clean test split/);
    const short = async (_x: Float32Array, n: number): Promise<Float32Array> => new Float32Array(n);
    await expect(
      robustnessReport({ blobs, test, spec: GREY, cleanAccuracy: clean, classify: short, classes: k, seed: 1 }),
    ).rejects.toThrow(/classify returned \d+ values for \d+ images × 10 classes/);
  });
});

const D = "4".repeat(64);

/** A robustness report with the drops given (the rest 0.01). */
function robustness(drops: Partial<Record<Perturbation, number>>): Robustness {
  const clean = 0.9;
  const perturbations = Object.fromEntries(
    PERTURBATIONS.map((p) => [p, { accuracy: clean - (drops[p] ?? 0.01), drop: drops[p] ?? 0.01 }]),
  ) as Robustness["perturbations"];
  return { images: 360, clean, perturbations };
}

describe("promotion rules robustness:<perturbation>", () => {
  let meta: SqliteStore;
  let bus: LocalBus;
  beforeEach(async () => {
    const db = join(mkdtempSync(join(tmpdir(), "sightline-robustness-rules-")), "meta.db");
    meta = new SqliteStore(db);
    bus = new LocalBus(db, { pollMs: 10, logger: createLogger({}, { level: "CRITICAL" }) });
    await putDataset(meta, D);
  });
  afterEach(async () => {
    await bus.close();
    await meta.close();
  });
  const POLICY = parsePolicy(
    "absolute: { accuracy: 0.8 }\nrobustness: { brightness: 0.1, noise: 0.2 }\napproval: auto\n",
  );
  const decide = (version: number, policy = POLICY) =>
    promote(
      { meta, bus },
      { name: "fmnist", version, actor: "alice", reason: "test", policy: policy.policy, policyDigest: policy.digest },
    );

  it("blocks a candidate whose drop under brightness exceeds the threshold, naming the rule", async () => {
    await registerTestVersion(meta, "fmnist", D, {
      ...GOOD,
      ...robustnessMetrics(robustness({ "brightness-30": 0.25, "brightness+30": 0.05 })),
    });
    const decision = await decide(1);
    expect(decision.outcome).toBe("blocked");
    const rule = decision.rules.find((r) => r.rule === "robustness:brightness");
    expect(rule).toMatchObject({ value: 0.25, threshold: "drop ≤ 0.1", passed: false });
    expect(rule?.detail).toMatch(
      /accuracy 0\.6500 under brightness-30 \(the worse of brightness\+30, brightness-30\) vs 0\.9000 clean/,
    );
    expect(decision.rules.find((r) => r.rule === "robustness:noise")).toMatchObject({ value: 0.01, passed: true });
  });

  it("promotes a candidate within the thresholds; rules the policy does not name are not listed", async () => {
    await registerTestVersion(meta, "fmnist", D, {
      ...GOOD,
      ...robustnessMetrics(robustness({ "brightness-30": 0.1, "brightness+30": 0.04, noise: 0.19, rotation: 0.5 })),
    });
    const decision = await decide(1);
    expect(decision.outcome).toBe("promoted");
    expect(
      decision.rules.filter((r) => r.rule.startsWith("robustness:")).map((r) => [r.rule, r.value, r.passed]),
    ).toEqual([
      ["robustness:brightness", 0.1, true],
      ["robustness:noise", 0.19, true],
    ]);
  });

  it("fails a configured rule for a candidate whose card has no robustness (older cards), and only then", async () => {
    await registerTestVersion(meta, "fmnist", D, GOOD);
    const decision = await decide(1);
    expect(decision.outcome).toBe("blocked");
    expect(decision.rules.find((r) => r.rule === "robustness:brightness")).toMatchObject({
      value: null,
      passed: false,
      detail: expect.stringMatching(/^no robustness evaluation on the card/),
    });
    const without = parsePolicy("absolute: { accuracy: 0.8 }\napproval: auto\n");
    expect((await decide(1, without)).outcome).toBe("promoted");
  });

  it("policy: robustness takes known perturbations and drops in [0, 1]; the default policy configures none", async () => {
    expect(parsePolicy("robustness: { brightness+30: 0.1, rotation: 0.3 }\n").policy.robustness).toEqual({
      "brightness+30": 0.1,
      rotation: 0.3,
    });
    expect(() => parsePolicy("robustness: { brightnes: 0.1 }\n")).toThrow(/brightnes/);
    expect(() => parsePolicy("robustness: { noise: -0.1 }\n")).toThrow();
    expect(parsePolicy("approval: auto\n").policy.robustness).toEqual({});
    expect((await loadPolicy()).policy.robustness).toEqual({});
  });
});

describe("the card's robustness field, and `sightline models show`", () => {
  const card = testCard;

  it("is optional, validated, and ignores perturbations a later version may add", () => {
    expect(card({}).robustness).toBeUndefined();
    const r = robustness({ noise: 0.2 });
    expect(card({ robustness: r }).robustness).toEqual(r);
    expect(
      card({ robustness: { ...r, perturbations: { ...r.perturbations, contrast: { accuracy: 0.5, drop: 0.4 } } } })
        .robustness,
    ).toEqual(r);
    expect(() => card({ robustness: { ...r, clean: 1.5 } })).toThrow();
    const missing: Partial<Robustness["perturbations"]> = { ...r.perturbations };
    delete missing.blur;
    expect(() => card({ robustness: { ...r, perturbations: missing } })).toThrow(/blur/);
  });

  it("`models show NAME:VERSION` prints each perturbation's accuracy and drop when the card has them", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "sightline-robustness-cli-"));
    const home = join(cwd, "home");
    const meta = new SqliteStore(join(home, "meta.db"));
    const blobs = new FsBlobStore(join(home, "blobs"));
    const r = robustness({ "brightness-30": 0.125, blur: -0.0125 });
    const { digest } = await blobs.put(Buffer.from(JSON.stringify(card({ robustness: r }))));
    const base = {
      name: "fmnist",
      datasetId: D,
      requestId: "r",
      runId: "run-1",
      modelDigest: digestOf("m"),
      profileDigest: null,
      configHash: "h",
      gitCommit: null,
      image: null,
      metrics: GOOD,
    };
    await registerVersion(meta, { ...base, cardDigest: digest });
    await meta.close();
    const shown = await runCli(["models", "show", "fmnist:1"], { cwd, env: { SIGHTLINE_HOME: home } });
    expect(shown.stderr).toBe("");
    expect(shown.stdout).toContain("robustness on 360 test images (clean accuracy 0.9000):");
    expect(shown.stdout).toMatch(/brightness-30\s+accuracy 0\.7750\s+drop\s+0\.1250/);
    expect(shown.stdout).toMatch(/blur\s+accuracy 0\.9125\s+drop −0\.0125/);
  });
});
