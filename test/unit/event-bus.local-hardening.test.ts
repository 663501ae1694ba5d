import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeEvent, type AnyCloudEvent } from "../../core/events/envelope.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { waitFor } from "../support/wait.ts";

const quiet = createLogger({}, { level: "CRITICAL" });
const failed = (tag: string): AnyCloudEvent =>
  makeEvent("sightline.training.failed", {
    requestId: tag,
    runId: `run-${tag}`,
    model: "fmnist",
    datasetId: "c".repeat(64),
    reason: "test",
  });

describe("local bus: leases, lock waits and retention", () => {
  let db: string;
  const buses: LocalBus[] = [];
  const open = (options: ConstructorParameters<typeof LocalBus>[1] = {}): LocalBus => {
    const bus = new LocalBus(db, { pollMs: 10, logger: quiet, ...options });
    buses.push(bus);
    return bus;
  };
  beforeEach(() => {
    db = join(mkdtempSync(join(tmpdir(), "sightline-bus-hardening-")), "meta.db");
  });
  afterEach(async () => {
    for (const b of buses.splice(0)) await b.close();
  });

  it("renews the lease while a slow handler runs, so no second consumer gets the event meanwhile", async () => {
    const deliveries: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const handler =
      (who: string) =>
      async (e: AnyCloudEvent): Promise<void> => {
        deliveries.push(`${who}:${e.id}`);
        await released;
      };
    // Two consumers of one subscription (two processes in real life), with a short ack deadline.
    const a = open({ ackDeadlineSeconds: 0.3 });
    const b = open({ ackDeadlineSeconds: 0.3 });
    await a.ensureSubscription("slow", ["sightline.training.failed"]);
    await a.publish(failed("slow"));
    await a.subscribe("slow", ["sightline.training.failed"], handler("a"));
    await waitFor(() => deliveries.length === 1, "the first delivery");
    await b.subscribe("slow", ["sightline.training.failed"], handler("b"));
    // Several ack deadlines pass while the handler works.
    await sleep(1500);
    release();
    await sleep(100);
    expect(deliveries).toHaveLength(1);
  });

  it("publishing waits for another process's write lock without blocking the event loop", async () => {
    const bus = open();
    await bus.ensureSubscription("s", ["sightline.training.failed"]);
    // Another writer (another process in real life: the trainer, a function) holds the write lock.
    const other = new DatabaseSync(db);
    other.exec("BEGIN IMMEDIATE");
    const order: string[] = [];
    const published = bus.publish(failed("waits")).then(() => order.push("published"));
    await new Promise<void>((r) => setImmediate(r));
    order.push("event loop ran");
    await sleep(50);
    order.push("still running");
    other.exec("COMMIT");
    other.close();
    await published;
    expect(order).toEqual(["event loop ran", "still running", "published"]);
    const got: string[] = [];
    await bus.subscribe("s", ["sightline.training.failed"], async (e) => void got.push(e.id));
    await waitFor(() => got.length === 1, "the event published after the lock was released");
  });

  it("prunes events every subscription has acknowledged once older than the retention, and keeps the rest", async () => {
    const bus = open({ retentionHours: 1 });
    await bus.ensureSubscription("fast", ["sightline.training.failed"]);
    await bus.ensureSubscription("idle", ["sightline.dataset.versioned"]);
    const handled: string[] = [];
    for (const tag of ["a", "b", "c"]) await bus.publish(failed(tag));
    await bus.publish(
      makeEvent("sightline.dataset.versioned", {
        datasetId: "a".repeat(64),
        manifestDigest: `sha256:${"b".repeat(64)}`,
        name: "x",
        source: "x",
        classes: ["a", "b"],
        files: 2,
        bytes: 1,
        splits: { train: 2 },
        validation: "passed",
      }),
    );
    await bus.subscribe("fast", ["sightline.training.failed"], async (e) => void handled.push(e.id));
    await waitFor(() => handled.length === 3, "the three events handled");
    const rows = (): number => {
      const d = new DatabaseSync(db, { readOnly: true });
      const n = (d.prepare("SELECT count(*) AS n FROM bus_events").get() as { n: number }).n;
      d.close();
      return n;
    };
    expect(rows()).toBe(4);
    // Within the retention nothing goes; past it, the acknowledged ones do, the one "idle" still has to get stays.
    expect(await bus.prune(Date.now())).toBe(0);
    expect(await bus.prune(Date.now() + 3_600_000 + 1000)).toBe(3);
    expect(rows()).toBe(1);
    const idle: string[] = [];
    await bus.subscribe("idle", ["sightline.dataset.versioned"], async (e) => void idle.push(e.type));
    await waitFor(() => idle.length === 1, "the kept event delivered");
  });
});
