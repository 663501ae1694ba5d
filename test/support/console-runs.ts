import { cp, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BlobStore } from "../../core/blobs/blob-store.ts";
import type { EventBus } from "../../core/events/event-bus.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { Jobs } from "../../core/jobs/local-runner.ts";
import { putRun, type RunRecord } from "../../core/jobs/run-record.ts";
import type { MetadataStore } from "../../core/meta/metadata-store.ts";
import type { ModelVersion } from "../../core/registry/model-version.ts";
import { SAMPLE, smallDataset } from "./datasets.ts";
import { testCard } from "./model-card.ts";

const CLASSES = ["bag", "sneaker", "trouser"];
const at = (minute: number): string => new Date(Date.UTC(2026, 10, 2, 9, minute)).toISOString();

/**
 * The runs behind lineageWorld's history, as the RunRecorder writes them (putRun): run-1 and run-3 registered
 * versions 1 and 2 (with a real card holding their confusion matrix), run-2 failed after one epoch.
 */
export async function recordRuns(
  rt: { meta: MetadataStore; blobs: BlobStore },
  world: { dataset: { id: string }; v1: ModelVersion; v2: ModelVersion },
): Promise<void> {
  const card = async (diagonal: number) =>
    (
      await rt.blobs.put(
        Buffer.from(
          JSON.stringify(
            testCard({
              classes: CLASSES,
              evaluation: {
                confusion: CLASSES.map((_, i) => CLASSES.map((__, j) => (i === j ? diagonal : 10 - diagonal))),
              },
            }),
          ),
        ),
      )
    ).digest;
  const stream = (epochs: number, start: number) =>
    Array.from({ length: epochs }, (_, i) => ({
      epoch: i + 1,
      loss: 1 / (i + 2) + start,
      accuracy: 0.6 + i * 0.06 - start,
      images_per_second: 900 + i,
    }));
  const run = (
    runId: string,
    minute: number,
    extra: Partial<RunRecord> & Pick<RunRecord, "status" | "metrics" | "params">,
  ): RunRecord => ({
    runId,
    requestId: runId.replace("run", "req"),
    model: "fashion",
    datasetId: world.dataset.id,
    trainer: { kind: "builtin", args: {} },
    startedAt: at(minute),
    finishedAt: at(minute + 4),
    invalidMetricLines: 0,
    tags: { trigger: minute === 30 ? "retrain" : "cli", actor: "ci", git_commit: "9f1c2e4" },
    phases: { load: 1.5, train: 120, evaluate: 3 },
    ...extra,
  });
  const artefacts = async (v: ModelVersion, diagonal: number) => {
    const digest = await card(diagonal);
    return [
      { kind: "onnx" as const, digest: v.modelDigest },
      { kind: "card" as const, digest },
      { kind: "confusion_matrix" as const, digest, pointer: "/evaluation/confusion" },
    ];
  };
  await putRun(
    rt.meta,
    run("run-1", 0, {
      status: "succeeded",
      version: 1,
      metrics: stream(3, 0),
      params: { epochs: 3, learningRate: 0.01, architecture: "cnn", seed: 1 },
      heldOut: world.v1.metrics,
      imagesPerSecond: 901,
      artefacts: await artefacts(world.v1, 7),
    }),
  );
  await putRun(
    rt.meta,
    run("run-2", 10, {
      status: "failed",
      reason: "out of memory",
      metrics: stream(1, 0.05),
      params: { epochs: 5, learningRate: 0.02, architecture: "cnn", seed: 1 },
    }),
  );
  await putRun(
    rt.meta,
    run("run-3", 30, {
      status: "succeeded",
      version: 2,
      metrics: stream(4, -0.02),
      params: { epochs: 4, learningRate: 0.005, architecture: "cnn", seed: 2 },
      heldOut: world.v2.metrics,
      imagesPerSecond: 903,
      artefacts: await artefacts(world.v2, 8),
    }),
  );
}

/**
 * A second version of lineageWorld's dataset: two more images per class, one bag image whose bytes changed, one
 * trouser image gone (so the diff has something in each column).
 */
export async function secondDatasetVersion(rt: { meta: MetadataStore; blobs: BlobStore; bus: EventBus }) {
  const dir = await smallDataset({ perClass: 10 });
  const bags = (await readdir(join(SAMPLE, "train", "bag"))).sort();
  await cp(join(SAMPLE, "train", "bag", bags[12]!), join(dir, "bag", bags[0]!), { force: true });
  const trousers = (await readdir(join(dir, "trouser"))).sort();
  await rm(join(dir, "trouser", trousers[0]!));
  return (await versionDataset(rt, dir)).record;
}

/** A finished local training job with a log, as the local runner records one. */
export async function recordJob(meta: MetadataStore, home: string, datasetId: string): Promise<string> {
  const name = "train-req-3-1a2b3c4d";
  const log = join(home, "jobs", `${name}.log`);
  await mkdir(join(home, "jobs"), { recursive: true });
  const lines = [
    ...Array.from({ length: 4 }, (_, i) => `epoch ${i + 1}/4 loss ${(1 / (i + 2)).toFixed(3)}`),
    JSON.stringify({ severity: "INFO", message: "registered fashion:2" }),
  ];
  await writeFile(log, lines.join("\n") + "\n");
  await Jobs.put(meta, name, {
    name,
    requestId: "req-3",
    model: "fashion",
    datasetId,
    reason: "drift fashion:1:1",
    state: "succeeded",
    host: "test",
    runnerPid: 1,
    pid: 2,
    log,
    createdAt: at(30),
    startedAt: at(30),
    finishedAt: at(35),
    exitCode: 0,
  });
  return name;
}
