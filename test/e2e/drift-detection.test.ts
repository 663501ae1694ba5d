import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readIdx } from "../../core/datasets/idx.ts";
import { parseProfile, type ReferenceProfile } from "../../core/drift/profile.ts";
import { seededRandom } from "../../core/util/random.ts";
import { judgeWindow, type PredictionRecord } from "../../core/drift/verdict.ts";
import { rawFeatures } from "../../core/imaging/features.ts";
import { parseModelCard, type ModelCard } from "../../core/registry/model-card.ts";
import { trainedWorld, type ServedWorld } from "../support/served-model.ts";

const FMNIST_TEST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const SIDE = 28;
const PIXELS = SIDE * SIDE;
const WINDOWS = 100;
const WINDOW = 500;
// As served by default: every prediction logged, one in ten with its embedding.
const EMBEDDING_RATE = 0.1;

type Shift = (pixels: Uint8Array, rand: () => number) => Promise<Uint8Array>;

const clip = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));
const SHIFTS: Record<string, Shift> = {
  none: async (p) => p,
  "brightness +30 %": async (p) => p.map((v) => clip(v * 1.3)),
  "Gaussian noise σ = 0.1": async (p, rand) => p.map((v) => clip(v + 25.5 * gaussian(rand))),
  // Rotated about the centre in the same 28×28 frame, as a tilted camera would see it.
  "rotation 15°": async (p) => {
    const rotated = await sharp(p, { raw: { width: SIDE, height: SIDE, channels: 1 } })
      .rotate(15, { background: { r: 0, g: 0, b: 0 } })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const { width, height } = rotated.info;
    const left = Math.floor((width - SIDE) / 2);
    const top = Math.floor((height - SIDE) / 2);
    const out = new Uint8Array(PIXELS);
    for (let y = 0; y < SIDE; y++)
      for (let x = 0; x < SIDE; x++) out[y * SIDE + x] = rotated.data[(y + top) * width + x + left]!;
    return out;
  },
};

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** What serving would log for each image: features, predicted label and confidence, embedding. */
async function served(
  images: Uint8Array[],
  card: ModelCard,
  session: ort.InferenceSession,
): Promise<PredictionRecord[]> {
  const records: PredictionRecord[] = [];
  const time = new Date().toISOString();
  for (let start = 0; start < images.length; start += 500) {
    const batch = images.slice(start, start + 500);
    const input = new Float32Array(batch.length * PIXELS);
    batch.forEach((p, i) => p.forEach((v, j) => (input[i * PIXELS + j] = v / 255)));
    const out = await session.run({
      [card.onnx.input]: new ort.Tensor("float32", input, [batch.length, SIDE, SIDE, 1]),
    });
    const probs = out[card.onnx.outputs.scores]!.data as Float32Array;
    const emb = out[card.onnx.outputs.embedding!]!.data as Float32Array;
    const k = card.classes.length;
    const d = card.onnx.embeddingDim!;
    batch.forEach((pixels, i) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
      records.push({
        requestId: `r${start + i}`,
        time,
        label: card.classes[best]!,
        index: best,
        confidence: Math.min(1, probs[i * k + best]!),
        features: { ...rawFeatures({ pixels, width: SIDE, height: SIDE, channels: 1 }) },
        embedding: Array.from(emb.subarray(i * d, (i + 1) * d)),
      });
    });
  }
  return records;
}

describe("drift detection on real images through a real model", { timeout: 600_000 }, () => {
  let world: ServedWorld;
  let profile: ReferenceProfile;
  const rates: Record<string, number> = {};
  /** How often each test drifted, per shift: shows which signals carry the detection. */
  const perTest: Record<string, Record<string, number>> = {};
  const byShift = new Map<string, PredictionRecord[]>();

  beforeAll(async () => {
    world = await trainedWorld({ second: false });
    const card = parseModelCard(await world.rt.blobs.get(world.v1.cardDigest), "v1");
    profile = parseProfile(await world.rt.blobs.get(world.v1.profileDigest!));
    const session = await ort.InferenceSession.create(await world.rt.blobs.get(world.v1.modelDigest));
    const { data, dims } = await readIdx(FMNIST_TEST);
    const n = dims[0]!;
    const originals = Array.from({ length: n }, (_, i) => data.subarray(i * PIXELS, (i + 1) * PIXELS));
    for (const [name, shift] of Object.entries(SHIFTS)) {
      const rand = seededRandom(11);
      byShift.set(name, await served(await Promise.all(originals.map((p) => shift(p, rand))), card, session));
    }
    await session.release();
  }, 600_000);
  afterAll(async () => {
    await world?.rt.close();
    console.log(
      `drift rate per shift over ${WINDOWS} windows of ${WINDOW}: ${JSON.stringify(rates)}; windows in which each test drifted: ${JSON.stringify(perTest)}`,
    );
  });

  function driftRate(shift: string, seed: number): number {
    const records = byShift.get(shift)!;
    const counts: Record<string, number> = (perTest[shift] = {});
    const rand = seededRandom(seed);
    let drifted = 0;
    for (let w = 0; w < WINDOWS; w++) {
      const window = Array.from({ length: WINDOW }, () => {
        const r = records[Math.floor(rand() * records.length)]!;
        return rand() < EMBEDDING_RATE ? r : { ...r, embedding: undefined };
      });
      const verdict = judgeWindow(profile, window, { embedding: { seed: w } });
      for (const t of verdict.driftedTests) counts[t] = (counts[t] ?? 0) + 1;
      if (verdict.reason) counts[`rule:${verdict.reason}`] = (counts[`rule:${verdict.reason}`] ?? 0) + 1;
      if (verdict.drift) drifted++;
    }
    return drifted / WINDOWS;
  }

  it("raises at most 5 % false alarms on unshifted images", () => {
    rates.none = driftRate("none", 1);
    expect(rates.none).toBeLessThanOrEqual(0.05);
  });

  for (const name of Object.keys(SHIFTS).filter((s) => s !== "none")) {
    it(`detects ${name} in at least 95 % of windows`, () => {
      rates[name] = driftRate(name, 2);
      expect(rates[name]).toBeGreaterThanOrEqual(0.95);
    });
  }
});
