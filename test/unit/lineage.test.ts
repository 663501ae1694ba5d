import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../core/datasets/load.ts";
import { canonicalManifest } from "../../core/datasets/manifest.ts";
import { catchUp } from "../../core/events/catch-up.ts";
import { makeEvent, type AnyCloudEvent } from "../../core/events/envelope.ts";
import { EVENT_TYPES } from "../../core/events/schemas.ts";
import { LINEAGE_SUBSCRIPTION } from "../../core/events/subscriptions.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { datasetLineage, LineageNotFoundError, modelLineage, predictionLineage } from "../../core/lineage/queries.ts";
import { recordLineage } from "../../core/lineage/record.ts";
import { dumpLineage, PREDICTIONS } from "../../core/lineage/store.ts";
import { verifyModelLineage } from "../../core/lineage/verify.ts";
import { sha256Hex } from "../../core/util/digest.ts";
import { lineageWorld, MODEL, type LineageWorld } from "../support/lineage-world.ts";

describe("lineage graph built from real events", () => {
  let w: LineageWorld;
  /** The events as the lineage subscription delivered them. */
  const delivered: AnyCloudEvent[] = [];

  beforeAll(async () => {
    w = await lineageWorld();
    const n = await catchUp(
      w.bus,
      LINEAGE_SUBSCRIPTION,
      EVENT_TYPES,
      async (e) => {
        delivered.push(e);
        await recordLineage(w.meta, e);
      },
      { idleMs: 300 },
    );
    expect(n).toBe(w.published.length + 1); // + dataset.versioned
  });
  afterAll(async () => w.close());

  it("answers a model version with its dataset, request, run, alias moves, drift reports and windows", async () => {
    const l = await modelLineage(w.meta, MODEL, 1);
    expect(l.dataset).toMatchObject({ datasetId: w.dataset.id, manifestDigest: w.dataset.manifestDigest });
    expect(l.dataset.record?.files).toBe(24);
    expect(l.request).toMatchObject({ requestId: "req-1", trigger: "cli", reason: "first model" });
    expect(l.run).toMatchObject({
      runId: "run-1",
      status: "completed",
      configHash: "cfg-req-1",
      gitCommit: "9f1c2e4",
      version: 1,
    });
    expect(l.run?.image).toMatch(/trainer@sha256:(ab){32}$/);
    expect(l.model).toMatchObject({
      modelDigest: w.v1.modelDigest,
      cardDigest: w.v1.cardDigest,
      metrics: { accuracy: 0.8, macro_f1: 0.79 },
    });
    expect(l.aliasMoves.map((a) => [a.action, a.from, a.to, a.actor])).toEqual([
      ["promoted", null, 1, "ci"],
      ["promoted", 1, 2, "ci"],
      ["rolled_back", 2, 1, "alice"],
    ]);
    expect(l.driftReports.map((d) => [d.reportId, d.drift, d.driftedFeatures])).toEqual([
      ["fashion:1:1", true, ["brightness"]],
    ]);
    expect(l.windows.map((x) => [x.eventId, x.count])).toEqual([["window-1", 3]]);

    const l2 = await modelLineage(w.meta, MODEL, 2);
    expect(l2.request).toMatchObject({ requestId: "req-3", trigger: "retrain", driftReportId: "fashion:1:1" });
    expect(l2.driftReports).toEqual([]);
    expect(l2.windows.map((x) => [x.count, x.dropped])).toEqual([[1, 2]]);
    await expect(modelLineage(w.meta, MODEL, 9)).rejects.toBeInstanceOf(LineageNotFoundError);
  });

  it("answers a prediction request id with model version → run → dataset", async () => {
    const p = await predictionLineage(w.meta, "pred-b");
    expect(p.prediction).toMatchObject({ model: MODEL, version: 1, window: "window-1", label: "bag" });
    expect(p.lineage.run?.runId).toBe("run-1");
    expect(p.lineage.dataset.datasetId).toBe(w.dataset.id);
    expect((await predictionLineage(w.meta, "pred-d")).lineage.model.version).toBe(2);
    await expect(predictionLineage(w.meta, "nope")).rejects.toThrow(/prediction request nope has no lineage record/);
  });

  it("answers a dataset with every request, run (failed ones too) and model version trained on it", async () => {
    const d = await datasetLineage(w.meta, w.dataset.id);
    expect(d.requests.map((r) => r.requestId)).toEqual(["req-1", "req-2", "req-3"]);
    expect(d.runs.map((r) => [r.runId, r.status])).toEqual([
      ["run-1", "completed"],
      ["run-2", "failed"],
      ["run-3", "completed"],
    ]);
    expect(d.models.map((m) => `${m.name}:${m.version}`)).toEqual([`${MODEL}:1`, `${MODEL}:2`]);
    await expect(datasetLineage(w.meta, "0".repeat(64))).rejects.toBeInstanceOf(LineageNotFoundError);
  });

  it("leaves the graph byte-for-byte unchanged when every event is replayed, in reverse order", async () => {
    const before = await dumpLineage(w.meta);
    expect(before).toContain("lineage_predictions/pred-a ");
    const results = [];
    for (const e of [...delivered].reverse()) results.push(await recordLineage(w.meta, e));
    expect(results.every((r) => r === false)).toBe(true);
    // Redelivery through the bus as well: the dataset event is published again under its deterministic id.
    await w.bus.publish(delivered[0] as AnyCloudEvent);
    await catchUp(w.bus, LINEAGE_SUBSCRIPTION, EVENT_TYPES, async (e) => void (await recordLineage(w.meta, e)), {
      idleMs: 200,
    });
    expect(await dumpLineage(w.meta)).toBe(before);
  });

  it("builds the same graph from the events in any order", async () => {
    const other = new SqliteStore(join(w.home, "other.db"));
    try {
      const shuffled = [...delivered].reverse();
      shuffled.push(shuffled.splice(3, 1)[0] as AnyCloudEvent);
      for (const e of shuffled) expect(await recordLineage(other, e)).toBe(true);
      expect(await dumpLineage(other)).toBe(await dumpLineage(w.meta));
    } finally {
      await other.close();
    }
  });

  it("keeps a prediction window larger than one transaction allows, and still records it once", async () => {
    const other = new SqliteStore(join(w.home, "big.db"));
    try {
      const records = Array.from({ length: 950 }, (_, i) => ({
        requestId: `big-${i}`,
        time: "2026-11-02T10:00:00.000Z",
        label: "bag",
        index: 0,
        confidence: 0.5,
        features: {},
      }));
      const event = makeEvent(
        "sightline.predictions.logged",
        { model: MODEL, version: 1, records, dropped: 0 },
        { id: "big-window" },
      );
      expect(await recordLineage(other, event)).toBe(true);
      expect(await recordLineage(other, event)).toBe(false);
      expect((await other.query(PREDICTIONS)).length).toBe(950);
      expect((await other.get(PREDICTIONS, "big-949"))?.data).toMatchObject({ window: "big-window", version: 1 });
    } finally {
      await other.close();
    }
  });

  it("resolves a prediction to the dataset whose manifest verify recomputes from the stored blobs", async () => {
    const p = await predictionLineage(w.meta, "pred-a");
    const result = await verifyModelLineage(w, p.prediction.model, p.prediction.version);
    expect(result.ok).toBe(true);
    expect(result.datasetId).toBe(p.lineage.dataset.datasetId);
    const id = result.checks.find((c) => c.check === "dataset id");
    expect(id).toMatchObject({ expected: w.dataset.id, actual: w.dataset.id, ok: true });
    // Independently: the manifest blob's bytes hash to the dataset id.
    const { manifest } = await loadDataset(w, w.dataset.id);
    expect(sha256Hex(canonicalManifest(manifest))).toBe(p.lineage.dataset.datasetId);
    expect(result.checks.find((c) => c.check === "dataset files")).toMatchObject({
      actual: "24 files intact",
      ok: true,
    });
    expect(result.checks.find((c) => c.check === "model file")).toMatchObject({
      expected: w.v1.modelDigest,
      actual: w.v1.modelDigest,
      ok: true,
    });
  });

  it("fails loudly, naming the file and blob, when one stored dataset blob is tampered with", async () => {
    const { manifest } = await loadDataset(w, w.dataset.id);
    const victim = manifest.files[5];
    if (!victim) throw new Error("dataset too small");
    const path = join(w.home, "blobs", "sha256", victim.sha256.slice(0, 2), victim.sha256);
    const original = await readFile(path);
    await writeFile(path, Buffer.concat([original, Buffer.from([0])]));
    try {
      const result = await verifyModelLineage(w, MODEL, 1);
      expect(result.ok).toBe(false);
      const failed = result.checks.filter((c) => !c.ok);
      expect(failed).toHaveLength(2);
      expect(failed[0]).toMatchObject({ check: "dataset files", actual: "23 files intact" });
      expect(failed[1]?.check).toBe("dataset file");
      expect(failed[1]?.subject).toContain(victim.path);
      expect(failed[1]?.subject).toContain(victim.sha256);
      expect(failed[1]?.expected).toBe(`sha256:${victim.sha256} (${victim.size} bytes)`);
      expect(failed[1]?.actual).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(failed[1]?.actual).not.toBe(`sha256:${victim.sha256}`);
    } finally {
      await writeFile(path, original);
    }
    expect((await verifyModelLineage(w, MODEL, 1)).ok).toBe(true);
  });

  it("fails when the model file blob no longer matches the model digest", async () => {
    const hex = w.v2.modelDigest.slice("sha256:".length);
    const path = join(w.home, "blobs", "sha256", hex.slice(0, 2), hex);
    const original = await readFile(path);
    await writeFile(path, Buffer.from("a different model"));
    try {
      const result = await verifyModelLineage(w, MODEL, 2);
      expect(result.ok).toBe(false);
      expect(result.checks.filter((c) => !c.ok)).toEqual([
        expect.objectContaining({
          check: "model file",
          expected: w.v2.modelDigest,
          actual: `sha256:${sha256Hex("a different model")}`,
        }),
      ]);
    } finally {
      await writeFile(path, original);
    }
  });
});
