// Client-chosen request ids and lineage, end to end on real parts: a real server (loopback, real PNGs, a real
// ONNX model) publishes its prediction log on the embedded bus, the lineage function's handler records it, and
// the real `sightline lineage prediction` command finds each prediction.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { catchUp } from "../../core/events/catch-up.ts";
import { makeEvent } from "../../core/events/envelope.ts";
import { EVENT_TYPES } from "../../core/events/schemas.ts";
import { LINEAGE_SUBSCRIPTION } from "../../core/events/subscriptions.ts";
import { AmbiguousPredictionError, predictionLineage } from "../../core/lineage/queries.ts";
import { recordLineage } from "../../core/lineage/record.ts";
import { PREDICTIONS } from "../../core/lineage/store.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { loadServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { runCli } from "../support/cli.ts";
import { greyPng, tinyWorld, TINY_MODEL, type TinyWorld } from "../support/tiny-served-model.ts";

type PredictBody = { request_id: string; predictions: { label: string }[] };

describe("prediction lineage with client request ids", { timeout: 120_000 }, () => {
  let world: TinyWorld;
  let server: RunningServer;

  beforeAll(async () => {
    world = await tinyWorld();
    const v = world.version;
    // What the trainer publishes for a version, so lineage knows the model behind the predictions.
    await world.rt.bus.publish(
      makeEvent("sightline.training.completed", {
        requestId: v.requestId,
        runId: v.runId,
        model: v.name,
        version: v.version,
        datasetId: v.datasetId,
        modelDigest: v.modelDigest,
        cardDigest: v.cardDigest,
        configHash: v.configHash,
        metrics: v.metrics,
      }),
    );
    const config = loadServingConfig(
      {},
      {
        host: "127.0.0.1",
        port: 0,
        workers: 1,
        model: { name: TINY_MODEL, alias: "production" },
        predictionLog: { sampleRate: 1, embeddingRate: 0, bufferSize: 1000, flushMs: 60_000, maxRecordsPerEvent: 100 },
      },
    );
    server = await startServer(world.rt, config, createLogger({}, { level: "CRITICAL" }), { defaultMetrics: false });
  });
  afterAll(async () => {
    await server?.shutdown();
    await world?.close();
  });

  const send = async (level: number, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}/predict`, {
      method: "POST",
      headers: { "content-type": "image/png", ...headers },
      body: await greyPng(level),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as PredictBody;
    return { body, requestId: res.headers.get("x-request-id"), predictionId: res.headers.get("x-prediction-id") };
  };
  const recordAll = async (): Promise<void> => {
    await server.context.predictionLog!.flush();
    await catchUp(
      world.rt.bus,
      LINEAGE_SUBSCRIPTION,
      EVENT_TYPES,
      async (e) => void (await recordLineage(world.rt.meta, e)),
      { idleMs: 100 },
    );
  };

  it("keeps both predictions of two requests sent with the same x-request-id, still echoing it", async () => {
    const dark = await send(10, { "x-request-id": "order-42" });
    const light = await send(245, { "x-request-id": "order-42" });
    expect([dark.body.predictions[0]!.label, light.body.predictions[0]!.label]).toEqual(["dark", "light"]);
    await recordAll();
    const stored = (
      await world.rt.meta.query(PREDICTIONS, { where: [{ field: "requestId", op: "==", value: "order-42" }] })
    ).map((d) => d.data);
    expect(stored.map((d) => d.label).sort()).toEqual(["dark", "light"]);
    for (const r of [dark, light]) {
      expect(r.requestId).toBe("order-42");
      expect(r.body.request_id).toBe("order-42");
      expect(r.predictionId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(dark.predictionId).not.toBe(light.predictionId);
    // Each is found by its own id, and the shared one names both.
    expect((await predictionLineage(world.rt.meta, dark.predictionId!)).prediction).toMatchObject({
      label: "dark",
      requestId: "order-42",
      predictionId: dark.predictionId,
    });
    expect((await predictionLineage(world.rt.meta, light.predictionId!)).prediction).toMatchObject({
      label: "light",
      requestId: "order-42",
    });
    const ambiguous = await predictionLineage(world.rt.meta, "order-42").catch((err: unknown) => err);
    expect(ambiguous).toBeInstanceOf(AmbiguousPredictionError);
    expect((ambiguous as AmbiguousPredictionError).candidates.map((c) => c.predictionId).sort()).toEqual(
      [dark.predictionId, light.predictionId].sort(),
    );

    const env = { SIGHTLINE_HOME: world.home, SIGHTLINE_LOG_LEVEL: "ERROR" };
    const shared = await runCli(["lineage", "prediction", "order-42"], { cwd: world.home, env });
    expect(shared.code).toBe(1);
    expect(shared.stderr).toContain(dark.predictionId!);
    expect(shared.stderr).toContain(light.predictionId!);
    const one = await runCli(["lineage", "prediction", light.predictionId!, "--json"], { cwd: world.home, env });
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({
      prediction: { label: "light", requestId: "order-42" },
      lineage: { model: { name: TINY_MODEL, version: 1 } },
    });
  });

  it("finds a prediction by the caller's id when only one used it, and by ours when the caller sent none", async () => {
    const mine = await send(245, { "x-request-id": "order-43" });
    const anonymous = await send(10);
    expect(anonymous.predictionId).toBeNull();
    // A caller reusing another prediction's id cannot take its place.
    const impostor = await send(245, { "x-request-id": anonymous.requestId! });
    await recordAll();
    expect((await predictionLineage(world.rt.meta, "order-43")).prediction).toMatchObject({
      label: "light",
      predictionId: mine.predictionId,
    });
    expect((await predictionLineage(world.rt.meta, anonymous.requestId!)).prediction).toMatchObject({
      label: "dark",
      predictionId: anonymous.requestId,
    });
    expect((await predictionLineage(world.rt.meta, impostor.predictionId!)).prediction).toMatchObject({
      label: "light",
      requestId: anonymous.requestId,
    });
  });

  it("gives each image of a multi-image request its own record", async () => {
    const body = new FormData();
    for (const level of [10, 245])
      body.append("file", new Blob([await greyPng(level)], { type: "image/png" }), `${level}.png`);
    const res = await fetch(`${server.url}/predict`, { method: "POST", headers: { "x-request-id": "batch-7" }, body });
    expect(res.status).toBe(200);
    const predictionId = res.headers.get("x-prediction-id")!;
    await recordAll();
    expect((await predictionLineage(world.rt.meta, `${predictionId}/0`)).prediction).toMatchObject({
      label: "dark",
      requestId: "batch-7/0",
    });
    expect((await predictionLineage(world.rt.meta, `${predictionId}/1`)).prediction).toMatchObject({
      label: "light",
      requestId: "batch-7/1",
    });
    expect((await predictionLineage(world.rt.meta, "batch-7/1")).prediction.predictionId).toBe(`${predictionId}/1`);
  });
});
