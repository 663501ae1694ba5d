import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../core/config/config.ts";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { readReport, Reports } from "../../core/drift/detect.ts";
import { buildProfile, serializeProfile } from "../../core/drift/profile.ts";
import { seededRandom } from "../../core/util/random.ts";
import type { PredictionRecord } from "../../core/drift/verdict.ts";
import { makeEvent, type CloudEvent } from "../../core/events/envelope.ts";
import { registerVersion, type ModelVersion } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { digestOf } from "../../core/util/digest.ts";

export const CLASSES = ["bag", "coat", "dress"];
export const DIM = 16;
const FEATURES = ["brightness", "contrast", "sharpness"];

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
}

/** Synthetic served predictions: features, class and confidence, embeddings; `shift` moves every signal. */
export function records(
  n: number,
  seed: number,
  shift = 0,
  start = Date.parse("2026-11-24T00:00:00Z"),
): PredictionRecord[] {
  const rand = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => {
    const index = shift > 0 && rand() < 0.5 ? 0 : Math.floor(rand() * CLASSES.length);
    return {
      requestId: `req-${seed}-${i}`,
      time: new Date(start + i * 1000).toISOString(),
      label: CLASSES[index]!,
      index,
      confidence: Math.min(1, Math.max(0, 0.8 + 0.1 * gaussian(rand) - shift * 0.2)),
      features: Object.fromEntries(FEATURES.map((f) => [f, 0.5 + 0.1 * gaussian(rand) + shift * 0.1])),
      embedding: Array.from({ length: DIM }, () => gaussian(rand) + shift),
    };
  });
}

/** A home with a model version whose reference profile was built from `records(800, 1)`. */
export async function driftWorld(): Promise<{ home: string; config: Config; rt: Runtime; version: ModelVersion }> {
  const home = mkdtempSync(join(tmpdir(), "sightline-drift-"));
  const config = loadConfig({ SIGHTLINE_HOME: home }, home);
  const rt = await openRuntime(config, createLogger({}, { level: "CRITICAL" }));
  return { home, config, rt, version: await registerDriftModel(rt) };
}

/** Registers model `shoes` with a reference profile built from `records(800, 1)`, in any stores. */
export async function registerDriftModel(rt: Pick<Runtime, "blobs" | "meta">): Promise<ModelVersion> {
  const ref = records(800, 1);
  const profile = buildProfile({
    features: Object.fromEntries(FEATURES.map((f) => [f, ref.map((r) => r.features[f]!)])),
    predictedIndex: ref.map((r) => r.index),
    confidence: ref.map((r) => r.confidence),
    embeddings: ref.map((r) => r.embedding!),
    embeddingDim: DIM,
    classes: CLASSES,
    seed: 3,
  });
  const { digest: profileDigest } = await rt.blobs.put(Buffer.from(serializeProfile(profile)));
  return registerVersion(rt.meta, {
    name: "shoes",
    datasetId: "d".repeat(64),
    requestId: "req-1",
    runId: "run-1",
    modelDigest: digestOf("model"),
    cardDigest: digestOf("card"),
    profileDigest,
    configHash: "cfg",
    gitCommit: null,
    image: null,
    metrics: { accuracy: 0.9 },
  });
}

export function logged(
  model: string,
  version: number,
  batch: PredictionRecord[],
  id: string,
): CloudEvent<"sightline.predictions.logged"> {
  return makeEvent("sightline.predictions.logged", { model, version, records: batch, dropped: 0 }, { id });
}

/** A profile digest no store holds. */
export const LOST_PROFILE = `sha256:${"e".repeat(64)}`;

/**
 * A copy of report `reportId` as model `model`'s (same window, same seq), whose profile is `profileDigest`
 * (by default one no store holds): a report whose histograms cannot be drawn. Returns the copy's id.
 */
export async function reportWithProfile(
  rt: Pick<Runtime, "blobs" | "meta">,
  reportId: string,
  model: string,
  profileDigest = LOST_PROFILE,
): Promise<string> {
  const record = (await Reports.get(rt.meta, reportId))!;
  const report = await readReport(rt.blobs, record.digest);
  const id = `${model}:${record.version}:${record.seq}`;
  const { digest } = await rt.blobs.put(Buffer.from(JSON.stringify({ ...report, model, reportId: id, profileDigest })));
  await Reports.put(rt.meta, id, { ...record, model, reportId: id, digest, profileDigest });
  return id;
}
