import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { catchUp } from "../../core/events/catch-up.ts";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import type { EventBus } from "../../core/events/event-bus.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import { seededRandom } from "../../core/util/random.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { ServingMetrics } from "../../serving/metrics.ts";
import { PredictionLog, type PredictionLogOptions, type PredictionRecord } from "../../serving/prediction-log.ts";

const quiet = createLogger({}, { level: "CRITICAL" });
const SUB = "drift-test";
const OPTIONS: PredictionLogOptions = {
  sampleRate: 1,
  embeddingRate: 0,
  bufferSize: 100,
  flushMs: 60_000,
  maxRecordsPerEvent: 500,
};

const record = (i: number): PredictionRecord => ({
  requestId: `r${i}`,
  time: new Date().toISOString(),
  label: "bag",
  index: 8,
  confidence: 0.9,
  features: { brightness: 0.4 },
});

async function drained(bus: LocalBus): Promise<Extract<AnyCloudEvent, { type: "sightline.predictions.logged" }>[]> {
  const events: AnyCloudEvent[] = [];
  await catchUp(bus, SUB, ["sightline.predictions.logged"], async (e) => void events.push(e), { idleMs: 150 });
  return events.filter((e) => e.type === "sightline.predictions.logged");
}

const counter = async (metrics: ServingMetrics, outcome: string): Promise<number> =>
  (await metrics.logRecords.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

describe("prediction log", () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });

  async function setup(options: Partial<PredictionLogOptions> = {}) {
    const bus = new LocalBus(join(mkdtempSync(join(tmpdir(), "sightline-plog-")), "bus.db"), {
      logger: quiet,
      pollMs: 10,
    });
    await bus.ensureSubscription(SUB, ["sightline.predictions.logged"]);
    const metrics = new ServingMetrics({ defaults: false });
    const log = new PredictionLog(bus, { ...OPTIONS, ...options }, metrics, quiet, seededRandom(42));
    open.push(log, bus);
    return { bus, metrics, log };
  }

  it("gives the event loop a turn between the events of one flush", async () => {
    const order: string[] = [];
    const bus = {
      publish: async (): Promise<void> => {
        order.push("publish");
        // I/O that arrives while an event is published: it must be served before the next event goes out.
        setImmediate(() => order.push("io"));
      },
    } as unknown as EventBus;
    const log = new PredictionLog(
      bus,
      { ...OPTIONS, maxRecordsPerEvent: 2 },
      new ServingMetrics({ defaults: false }),
      quiet,
    );
    open.push(log);
    for (let i = 0; i < 6; i++) log.append("fmnist", 1, record(i));
    await log.flush();
    expect(order).toEqual(["publish", "io", "publish", "io", "publish"]);
  });

  it("publishes one event per model version, split at maxRecordsPerEvent", async () => {
    const { bus, metrics, log } = await setup({ maxRecordsPerEvent: 4 });
    for (let i = 0; i < 10; i++) log.append("fmnist", 1, record(i));
    log.append("fmnist", 2, record(99));
    await log.flush();
    const events = await drained(bus);
    expect(events.map((e) => [e.data.version, e.data.records.length])).toEqual([
      [1, 4],
      [1, 4],
      [1, 2],
      [2, 1],
    ]);
    expect(events.flatMap((e) => e.data.records.map((r) => r.requestId)).slice(0, 10)).toEqual(
      Array.from({ length: 10 }, (_, i) => `r${i}`),
    );
    expect(await counter(metrics, "published")).toBe(11);
  });

  it("samples at the configured rates", async () => {
    const { log } = await setup({ sampleRate: 0.25, embeddingRate: 0.5 });
    const draws = Array.from({ length: 4000 }, () => log.sample());
    const logged = draws.filter((d) => d.log).length;
    const withEmbedding = draws.filter((d) => d.embedding).length;
    expect(logged / 4000).toBeGreaterThan(0.22);
    expect(logged / 4000).toBeLessThan(0.28);
    expect(withEmbedding / logged).toBeGreaterThan(0.44);
    expect(withEmbedding / logged).toBeLessThan(0.56);
    expect(draws.every((d) => d.log || !d.embedding)).toBe(true);
    const { log: off } = await setup({ sampleRate: 0 });
    expect(Array.from({ length: 100 }, () => off.sample().log).some(Boolean)).toBe(false);
  });

  it("drops beyond its buffer without blocking, counts it, and says so in the next event", async () => {
    const { bus, metrics, log } = await setup({ bufferSize: 3 });
    for (let i = 0; i < 5; i++) log.append("fmnist", 1, record(i));
    expect(await counter(metrics, "dropped")).toBe(2);
    await log.flush();
    const [event] = await drained(bus);
    expect(event?.data.records.map((r) => r.requestId)).toEqual(["r0", "r1", "r2"]);
    expect(event?.data.dropped).toBe(2);
    // The count is reported once.
    log.append("fmnist", 1, record(5));
    await log.flush();
    expect((await drained(bus))[0]?.data.dropped).toBe(0);
  });

  it("loses records, not requests, when the bus is down", async () => {
    const { bus, metrics, log } = await setup();
    await bus.close();
    for (let i = 0; i < 7; i++) log.append("fmnist", 1, record(i));
    await expect(log.flush()).resolves.toBeUndefined();
    expect(await counter(metrics, "dropped")).toBe(7);
    expect(await counter(metrics, "published")).toBe(0);
  });
});
