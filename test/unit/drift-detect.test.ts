import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { catchUp } from "../../core/events/catch-up.ts";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import {
  listReports,
  onPredictionsLogged,
  readReport,
  reportDueWindows,
  type DriftDeps,
} from "../../core/drift/detect.ts";
import { DriftPolicySchema } from "../../core/drift/drift-policy.ts";
import { addSegment, WINDOWS } from "../../core/drift/windows.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { driftWorld, logged, records } from "../support/drift-world.ts";

const quiet = createLogger({}, { level: "CRITICAL" });
const policy = DriftPolicySchema.parse({ window: { size: 500, minSize: 100, maxSeconds: 3600 } });
const SUB = "drift-test-reports";

describe("drift detection function", () => {
  let world: Awaited<ReturnType<typeof driftWorld>>;
  let deps: DriftDeps;
  let model = "";
  const others: Runtime[] = [];

  beforeEach(async () => {
    world = await driftWorld();
    model = world.version.name;
    deps = {
      blobs: world.rt.blobs,
      meta: world.rt.meta,
      bus: world.rt.bus,
      log: quiet,
      policy,
      now: () => new Date("2026-11-24T00:10:00Z"),
    };
    await world.rt.bus.ensureSubscription(SUB, ["sightline.drift.reported"]);
  });
  afterAll(async () => {
    for (const rt of others) await rt.close();
  });

  const reported = async (): Promise<Extract<AnyCloudEvent, { type: "sightline.drift.reported" }>[]> => {
    const events: AnyCloudEvent[] = [];
    await catchUp(world.rt.bus, SUB, ["sightline.drift.reported"], async (e) => void events.push(e), { idleMs: 100 });
    return events.filter((e) => e.type === "sightline.drift.reported");
  };

  it("judges a window once it holds 500 predictions, stores the report and publishes drift.reported", async () => {
    const batch = records(600, 7);
    expect(await onPredictionsLogged(deps, logged(model, 1, batch.slice(0, 200), "e1"))).toBeUndefined();
    expect(await onPredictionsLogged(deps, logged(model, 1, batch.slice(200, 400), "e2"))).toBeUndefined();
    const report = await onPredictionsLogged(deps, logged(model, 1, batch.slice(400), "e3"));
    expect(report).toMatchObject({ reportId: `${model}:1:1`, drift: false, window: { count: 600 } });
    const full = await readReport(world.rt.blobs, report!.digest);
    expect(full.verdict.tests.map((t) => t.name)).toEqual([
      "brightness",
      "contrast",
      "sharpness",
      "confidence",
      "predicted_class",
      "embedding",
    ]);
    expect(full.window.segments).toEqual(["e1", "e2", "e3"]);
    const events = await reported();
    expect(events.map((e) => e.id)).toEqual([`drift.reported:${model}:1:1`]);
    expect(events[0]!.data).toMatchObject({ drift: false, reportDigest: report!.digest, window: { count: 600 } });
    // The next event opens window 2.
    expect(await onPredictionsLogged(deps, logged(model, 1, records(10, 8), "e4"))).toBeUndefined();
    expect((await world.rt.meta.get(WINDOWS, `${model}:1:2`))?.data).toMatchObject({ state: "open", count: 10 });
  });

  it("finds drift in shifted predictions, naming the drifted tests", async () => {
    const report = await onPredictionsLogged(deps, logged(model, 1, records(500, 9, 1), "s1"));
    expect(report?.drift).toBe(true);
    expect(report?.driftedTests).toEqual(expect.arrayContaining(["brightness", "embedding", "predicted_class"]));
    expect((await listReports(world.rt.meta, model))[0]?.reportId).toBe(report?.reportId);
  });

  it("changes nothing on redelivery: a segment joins once, a window is reported once", async () => {
    const batch = records(500, 10);
    await onPredictionsLogged(deps, logged(model, 1, batch.slice(0, 300), "r1"));
    await onPredictionsLogged(deps, logged(model, 1, batch.slice(0, 300), "r1"));
    expect((await world.rt.meta.get(WINDOWS, `${model}:1:1`))?.data).toMatchObject({ count: 300, segments: ["r1"] });
    const first = await onPredictionsLogged(deps, logged(model, 1, batch.slice(300), "r2"));
    expect(first?.window.count).toBe(500);
    // Already reported: the redelivery has nothing left to do.
    expect(await onPredictionsLogged(deps, logged(model, 1, batch.slice(300), "r2"))).toBeUndefined();
    expect(await listReports(world.rt.meta, model)).toHaveLength(1);
    expect(new Set((await reported()).map((e) => e.id)).size).toBe(1);
  });

  it("gives every record of concurrent deliveries, over two store connections, to exactly one window", async () => {
    const second = await openRuntime(world.config, quiet);
    others.push(second);
    const deps2: DriftDeps = { ...deps, blobs: second.blobs, meta: second.meta, bus: second.bus };
    const batches = Array.from({ length: 12 }, (_, i) => logged(model, 1, records(100, 100 + i), `c${i}`));
    // Each event delivered twice, to either connection, all at once.
    await Promise.all([...batches, ...batches].map((e, i) => onPredictionsLogged(i % 2 ? deps2 : deps, e)));
    const reports = await listReports(world.rt.meta, model);
    expect(reports.map((r) => r.window.count).sort()).toEqual([500, 500]);
    const open = (await world.rt.meta.get(WINDOWS, `${model}:1:3`))?.data as { count: number } | undefined;
    expect(open?.count).toBe(200);
  });

  it("reports a window closed by a crashed delivery, and a quiet window once it is old enough", async () => {
    const closed = await addSegment(
      world.rt.meta,
      {
        eventId: "x1",
        model,
        version: 1,
        count: 500,
        from: "2026-11-24T00:00:00.000Z",
        to: "2026-11-24T00:01:00.000Z",
        digest: (await world.rt.blobs.put(Buffer.from(JSON.stringify({ records: records(500, 11) })))).digest,
      },
      policy.window,
      new Date(),
    );
    expect(closed?.state).toBe("closed");
    await onPredictionsLogged(deps, logged(model, 1, records(150, 12), "q1"));
    expect((await reportDueWindows(deps)).reports).toEqual([expect.objectContaining({ reportId: `${model}:1:1` })]);
    const later = { ...deps, now: () => new Date("2026-11-24T02:00:00Z") };
    expect((await reportDueWindows(later)).reports).toEqual([
      expect.objectContaining({ reportId: `${model}:1:2`, window: expect.objectContaining({ count: 150 }) }),
    ]);
    expect(await reportDueWindows(later)).toEqual({ reports: [], failed: [] });
  });

  it("judges the other windows when one cannot be (its segment is gone), and tries that one again next time", async () => {
    const put = async (seed: number) =>
      (await world.rt.blobs.put(Buffer.from(JSON.stringify({ records: records(500, seed) })))).digest;
    const segment = (eventId: string, digest: string) => ({
      eventId,
      model,
      version: 1,
      count: 500,
      from: "2026-11-24T00:00:00.000Z",
      to: "2026-11-24T00:01:00.000Z",
      digest,
    });
    // Window 1's only segment points at a blob that was never stored; window 2 is whole.
    await addSegment(world.rt.meta, segment("lost", `sha256:${"0".repeat(64)}`), policy.window, new Date());
    await addSegment(world.rt.meta, segment("whole", await put(21)), policy.window, new Date());
    const { reports, failed } = await reportDueWindows(deps);
    expect(reports.map((r) => r.reportId)).toEqual([`${model}:1:2`]);
    expect(failed).toEqual([{ window: `${model}:1:1`, error: expect.stringMatching(/not found/) }]);
    expect((await reportDueWindows(deps)).failed.map((f) => f.window)).toEqual([`${model}:1:1`]);
  });
});
