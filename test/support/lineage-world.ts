import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsBlobStore } from "../../core/blobs/fs-blob-store.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { makeEvent, type AnyCloudEvent } from "../../core/events/envelope.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import { EVENT_TYPES } from "../../core/events/schemas.ts";
import { LINEAGE_SUBSCRIPTION } from "../../core/events/subscriptions.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { registerVersion } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { digestOf } from "../../core/util/digest.ts";
import { smallDataset } from "./datasets.ts";

export const MODEL = "fashion";

/**
 * A real history in a temp SIGHTLINE_HOME (same layout as the embedded default: meta.db, blobs/): a real small
 * dataset versioned through `versionDataset`, two registered versions whose "model files" are real blobs, a failed
 * run, promotions, a rollback, prediction windows and a drift report, all published on the real LocalBus.
 * Nothing consumes them: each test decides how the lineage graph is built.
 */
export async function lineageWorld() {
  const home = await mkdtemp(join(tmpdir(), "sightline-lineage-"));
  const db = join(home, "meta.db");
  const meta = new SqliteStore(db);
  const bus = new LocalBus(db, { pollMs: 20, logger: createLogger({}, { level: "CRITICAL" }) });
  const blobs = new FsBlobStore(join(home, "blobs"));
  // As openRuntime does: the lineage subscription exists before anything is published.
  await bus.ensureSubscription(LINEAGE_SUBSCRIPTION, EVENT_TYPES);

  const { record: dataset } = await versionDataset({ blobs, meta, bus }, await smallDataset());
  const at = (minute: number): Date => new Date(Date.UTC(2026, 10, 2, 9, minute));
  const published: AnyCloudEvent[] = [];
  const publish = async (e: AnyCloudEvent): Promise<void> => {
    await bus.publish(e);
    published.push(e);
  };

  const train = async (
    requestId: string,
    runId: string,
    minute: number,
    extra: { reason?: string; driftReportId?: string } = {},
  ) => {
    await publish(
      makeEvent(
        "sightline.training.requested",
        {
          requestId,
          model: MODEL,
          datasetId: dataset.id,
          trigger: extra.driftReportId ? "retrain" : "cli",
          configDigest: digestOf(`config of ${requestId}`),
          ...extra,
        },
        { id: `train-req-${requestId}`, time: at(minute) },
      ),
    );
    const model = await blobs.put(Buffer.from(`ONNX bytes of ${runId}`));
    const card = await blobs.put(Buffer.from(JSON.stringify({ model: MODEL, runId })));
    const metrics = { accuracy: 0.8 + minute / 1000, macro_f1: 0.79 };
    const common = {
      datasetId: dataset.id,
      requestId,
      runId,
      modelDigest: model.digest,
      cardDigest: card.digest,
      configHash: `cfg-${requestId}`,
      gitCommit: "9f1c2e4",
      image: "europe-docker.pkg.dev/p/sightline/trainer@sha256:" + "ab".repeat(32),
      metrics,
    };
    const version = await registerVersion(meta, { name: MODEL, profileDigest: null, ...common });
    await publish(
      makeEvent(
        "sightline.training.completed",
        { model: MODEL, version: version.version, ...common },
        { id: `train-done-${runId}`, time: at(minute + 5) },
      ),
    );
    return version;
  };

  const v1 = await train("req-1", "run-1", 0, { reason: "first model" });
  await publish(
    makeEvent(
      "sightline.training.requested",
      { requestId: "req-2", model: MODEL, datasetId: dataset.id, trigger: "cli" },
      { id: "train-req-req-2", time: at(10) },
    ),
  );
  await publish(
    makeEvent(
      "sightline.training.failed",
      { requestId: "req-2", runId: "run-2", model: MODEL, datasetId: dataset.id, reason: "out of memory" },
      { id: "train-fail-run-2", time: at(11) },
    ),
  );
  await publish(
    makeEvent(
      "sightline.model.promoted",
      { model: MODEL, version: 1, alias: "production", actor: "ci", reason: "passed the gate" },
      { id: "promote-1", time: at(12) },
    ),
  );
  const records = (ids: string[], minute: number) =>
    ids.map((requestId, i) => ({
      requestId,
      time: at(minute + i).toISOString(),
      label: "bag",
      index: 0,
      confidence: 0.9,
      features: { brightness: 0.4 + i / 10 },
    }));
  await publish(
    makeEvent(
      "sightline.predictions.logged",
      { model: MODEL, version: 1, records: records(["pred-a", "pred-b", "pred-c"], 20), dropped: 0 },
      { id: "window-1", time: at(25) },
    ),
  );
  await publish(
    makeEvent(
      "sightline.drift.reported",
      {
        model: MODEL,
        version: 1,
        reportId: "fashion:1:1",
        reportDigest: digestOf("report"),
        drift: true,
        severity: 0.6,
        driftedFeatures: ["brightness"],
        window: { from: at(20).toISOString(), to: at(25).toISOString(), count: 3 },
      },
      { id: "drift-event-1", time: at(26) },
    ),
  );
  const v2 = await train("req-3", "run-3", 30, { driftReportId: "fashion:1:1" });
  await publish(
    makeEvent(
      "sightline.model.promoted",
      { model: MODEL, version: 2, alias: "production", previousVersion: 1, actor: "ci", reason: "retrained on drift" },
      { id: "promote-2", time: at(40) },
    ),
  );
  await publish(
    makeEvent(
      "sightline.predictions.logged",
      { model: MODEL, version: 2, records: records(["pred-d"], 41), dropped: 2 },
      { id: "window-2", time: at(42) },
    ),
  );
  await publish(
    makeEvent(
      "sightline.model.rolled_back",
      { model: MODEL, alias: "production", fromVersion: 2, toVersion: 1, actor: "alice", reason: "complaints" },
      { id: "rollback-1", time: at(50) },
    ),
  );

  return {
    home,
    meta,
    bus,
    blobs,
    dataset,
    v1,
    v2,
    /** Every event published here, in order (the dataset.versioned event is published by versionDataset). */
    published,
    close: async () => {
      await bus.close();
      await meta.close();
    },
  };
}

export type LineageWorld = Awaited<ReturnType<typeof lineageWorld>>;
