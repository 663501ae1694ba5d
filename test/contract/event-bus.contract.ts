import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import { InvalidEventError, makeEvent } from "../../core/events/envelope.ts";
import type { DeadLetter, EventBus, Subscription } from "../../core/events/event-bus.ts";
import type { EventType } from "../../core/events/schemas.ts";
import { waitFor } from "../support/wait.ts";

export interface EventBusHarness {
  open(): Promise<EventBus>;
  /** Puts arbitrary bytes on the topic of `type`, as a buggy or foreign publisher would. */
  injectRaw(bus: EventBus, type: EventType, body: string): Promise<void>;
}

const ATTEMPTS = 5;
const FAST = { maxAttempts: ATTEMPTS, minBackoffSeconds: 0.1, maxBackoffSeconds: 0.5 };

function datasetEvent(tag: string): AnyCloudEvent {
  return makeEvent("sightline.dataset.versioned", {
    datasetId: "a".repeat(64),
    manifestDigest: `sha256:${"b".repeat(64)}`,
    name: tag,
    source: `contract/${tag}`,
    classes: ["cat", "dog"],
    files: 2,
    bytes: 10,
    splits: { train: 2 },
    validation: "passed",
  });
}

function failedEvent(tag: string): AnyCloudEvent {
  return makeEvent("sightline.training.failed", {
    requestId: tag,
    runId: `run-${tag}`,
    model: "fmnist",
    datasetId: "c".repeat(64),
    reason: "contract test",
  });
}

/** The behaviour every EventBus adapter must have. */
export function eventBusContract(name: string, harness: () => EventBusHarness): void {
  describe(`EventBus contract: ${name}`, () => {
    let bus: EventBus;
    const open: Subscription[] = [];
    // Subscriptions are durable and named; a fresh suffix keeps runs against one backend apart.
    const sub = (base: string): string => `${base}-${randomUUID().slice(0, 8)}`;
    beforeAll(async () => {
      bus = await harness().open();
    });
    afterAll(async () => {
      for (const s of open) await s.close();
      await bus?.close();
    });

    async function collectDeadLetters(): Promise<DeadLetter[]> {
      const letters: DeadLetter[] = [];
      open.push(await bus.subscribeDeadLetters(sub("dlq"), async (l) => void letters.push(l)));
      return letters;
    }

    it("delivers a published event to its subscription with envelope and data intact", async () => {
      const got: AnyCloudEvent[] = [];
      const name = sub("lineage");
      open.push(await bus.subscribe(name, ["sightline.dataset.versioned"], async (e) => void got.push(e), FAST));
      const event = datasetEvent("intact");
      await bus.publish(event);
      await waitFor(() => got.some((e) => e.id === event.id), `event ${event.id} on ${name}`);
      expect(got.find((e) => e.id === event.id)).toEqual(event);
    });

    it("keeps events for a subscription while no consumer runs", async () => {
      const name = sub("durable");
      await bus.ensureSubscription(name, ["sightline.training.failed"], FAST);
      const event = failedEvent("durable");
      await bus.publish(event);
      const got: string[] = [];
      open.push(await bus.subscribe(name, ["sightline.training.failed"], async (e) => void got.push(e.id), FAST));
      await waitFor(() => got.includes(event.id), "event published before the consumer started");
    });

    it("filters by type and fans out to every subscription", async () => {
      const a: string[] = [];
      const b: string[] = [];
      const onlyFailed: string[] = [];
      open.push(
        await bus.subscribe(sub("fan-a"), ["sightline.dataset.versioned"], async (e) => void a.push(e.id), FAST),
      );
      open.push(
        await bus.subscribe(sub("fan-b"), ["sightline.dataset.versioned"], async (e) => void b.push(e.id), FAST),
      );
      open.push(
        await bus.subscribe(
          sub("failed"),
          ["sightline.training.failed"],
          async (e) => void onlyFailed.push(e.id),
          FAST,
        ),
      );
      const ds = datasetEvent("fan");
      const tf = failedEvent("fan");
      await bus.publish(ds);
      await bus.publish(tf);
      await waitFor(() => a.includes(ds.id) && b.includes(ds.id) && onlyFailed.includes(tf.id), "fan-out");
      expect(a).not.toContain(tf.id);
      expect(onlyFailed).not.toContain(ds.id);
    });

    it("redelivers after a handler failure", async () => {
      const attempts = new Map<string, number>();
      const handled: string[] = [];
      open.push(
        await bus.subscribe(
          sub("flaky"),
          ["sightline.training.failed"],
          async (e) => {
            const n = (attempts.get(e.id) ?? 0) + 1;
            attempts.set(e.id, n);
            if (n === 1) throw new Error("transient failure");
            handled.push(e.id);
          },
          FAST,
        ),
      );
      const event = failedEvent("flaky");
      await bus.publish(event);
      await waitFor(() => handled.includes(event.id), "redelivery after failure");
      expect(attempts.get(event.id)).toBe(2);
    });

    it("dead-letters an event after max attempts, with the handler's error as reason", async () => {
      const letters = await collectDeadLetters();
      const name = sub("always-fails");
      let calls = 0;
      open.push(
        await bus.subscribe(
          name,
          ["sightline.training.failed"],
          async () => {
            calls++;
            throw new Error("handler is broken");
          },
          FAST,
        ),
      );
      const event = failedEvent("dead");
      await bus.publish(event);
      await waitFor(() => letters.some((l) => l.eventId === event.id), "dead letter", 30_000);
      const letter = letters.find((l) => l.eventId === event.id);
      expect(letter).toMatchObject({ subscription: name, eventType: "sightline.training.failed", attempts: ATTEMPTS });
      expect(letter?.reason).toContain("handler is broken");
      expect(JSON.parse(letter?.body ?? "{}").id).toBe(event.id);
      expect(calls).toBe(ATTEMPTS);
    });

    it("dead-letters a malformed message at once and keeps consuming", async () => {
      const letters = await collectDeadLetters();
      const name = sub("robust");
      const got: string[] = [];
      open.push(await bus.subscribe(name, ["sightline.dataset.versioned"], async (e) => void got.push(e.id), FAST));
      const marker = randomUUID();
      await harness().injectRaw(bus, "sightline.dataset.versioned", `not json ${marker}`);
      const wrongData = { ...datasetEvent("bad"), data: { datasetId: "nope" } };
      await harness().injectRaw(bus, "sightline.dataset.versioned", JSON.stringify(wrongData));
      const good = datasetEvent("after-bad");
      await bus.publish(good);
      await waitFor(() => got.includes(good.id), "valid event after malformed ones");
      await waitFor(
        () => letters.filter((l) => l.subscription === name).length >= 2,
        "two dead letters for the malformed messages",
      );
      const mine = letters.filter((l) => l.subscription === name);
      const notJson = mine.find((l) => l.body.includes(marker));
      expect(notJson?.reason).toMatch(/not JSON/);
      expect(notJson?.attempts).toBe(1);
      const badData = mine.find((l) => l.eventId === wrongData.id);
      expect(badData?.reason).toMatch(/datasetId/);
      // Invalid bodies could only fail again: a replay keeps them, saying why.
      const report = await bus.replayDeadLetters({ subscription: name });
      expect(report.replayed).toEqual([]);
      expect(report.kept.map((k) => k.subscription)).toEqual([name, name]);
      expect(await bus.listDeadLetters({ subscription: name })).toHaveLength(2);
    });

    it("keeps dead letters until replayed; a replay delivers them again with their event id", async () => {
      const name = sub("replay");
      let broken = true;
      const handled: string[] = [];
      open.push(
        await bus.subscribe(
          name,
          ["sightline.dataset.versioned"],
          async (e) => {
            if (broken) throw new Error("the downstream service is down");
            handled.push(e.id);
          },
          FAST,
        ),
      );
      const event = datasetEvent("replayed");
      const other = datasetEvent("left-alone");
      await bus.publish(event);
      await bus.publish(other);
      const ids = [event.id, other.id];
      await waitFor(
        async () => (await bus.listDeadLetters({ eventIds: ids })).length === 2,
        "both events dead-lettered",
        30_000,
      );
      const [letter] = await bus.listDeadLetters({ eventIds: [event.id] });
      expect(letter).toMatchObject({
        subscription: name,
        eventId: event.id,
        eventType: "sightline.dataset.versioned",
        attempts: ATTEMPTS,
      });
      expect(letter?.reason).toContain("the downstream service is down");
      // Listing takes nothing away.
      expect(await bus.listDeadLetters({ eventIds: ids })).toHaveLength(2);

      broken = false;
      const report = await bus.replayDeadLetters({ eventIds: [event.id] });
      expect(report.kept).toEqual([]);
      expect(report.replayed).toEqual([
        {
          id: letter?.id,
          eventId: event.id,
          eventType: "sightline.dataset.versioned",
          subscription: name,
          to: expect.any(String),
        },
      ]);
      await waitFor(() => handled.includes(event.id), "the replayed event handled");
      expect(await bus.listDeadLetters({ eventIds: [event.id] })).toEqual([]);
      expect(await bus.listDeadLetters({ eventIds: [other.id] })).toHaveLength(1);
      expect(handled).not.toContain(other.id);
      // Replaying what is no longer there replays nothing.
      expect((await bus.replayDeadLetters({ eventIds: [event.id] })).replayed).toEqual([]);
    });

    it("refuses to publish an invalid event", async () => {
      const bad = { ...datasetEvent("x"), data: { datasetId: 42 } } as unknown as AnyCloudEvent;
      await expect(bus.publish(bad)).rejects.toBeInstanceOf(InvalidEventError);
    });
  });
}
