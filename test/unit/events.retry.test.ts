import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY, retryWindowSeconds } from "../../core/events/event-bus.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import { DEAD_LETTER_STORE, DEAD_LETTER_TOPIC, PubSubBus } from "../../core/events/pubsub-bus.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { parseHcl, read } from "../fixtures/deploy/support.ts";

const HOUR = 3600;

/** Pub/Sub's schedule: the backoff doubles from minimum_backoff up to maximum_backoff between attempts. */
function pubsubWindowSeconds(min: number, max: number, attempts: number): number {
  let total = 0;
  for (let a = 1; a < attempts; a++) total += Math.min(max, min * 2 ** (a - 1));
  return total;
}

const seconds = (d: string): number => Number(/^(\d+)s$/.exec(d)?.[1] ?? Number.NaN);

describe("retries are sized so an hour's outage does not dead-letter", () => {
  it("the buses' default retries last more than an hour", () => {
    expect(retryWindowSeconds()).toBeGreaterThan(HOUR);
    expect(retryWindowSeconds(DEFAULT_RETRY)).toBe(retryWindowSeconds());
    // Within Pub/Sub's bounds (the subscription's dead-letter policy gets maxAttempts + 1 ≤ 100; backoff ≤ 600 s).
    expect(DEFAULT_RETRY.maxAttempts + 1).toBeLessThanOrEqual(100);
    expect(DEFAULT_RETRY.maxBackoffSeconds).toBeLessThanOrEqual(600);
  });

  it("a local subscription created without options gets those retries", async () => {
    const db = join(mkdtempSync(join(tmpdir(), "sightline-retry-")), "meta.db");
    const bus = new LocalBus(db, { logger: createLogger({}, { level: "CRITICAL" }) });
    await bus.ensureSubscription("defaults", ["sightline.training.failed"]);
    await bus.close();
    const sqlite = new DatabaseSync(db);
    const row = sqlite
      .prepare("SELECT max_attempts, min_backoff, max_backoff FROM bus_subscriptions WHERE name = 'defaults'")
      .get() as Record<string, number>;
    sqlite.close();
    expect(
      retryWindowSeconds({
        maxAttempts: row.max_attempts!,
        minBackoffSeconds: row.min_backoff!,
        maxBackoffSeconds: row.max_backoff!,
      }),
    ).toBeGreaterThan(HOUR);
  });

  it("the functions' push subscriptions in terraform retry for more than an hour, and dead letters are kept where the CLI reads them", async () => {
    const tf = (await parseHcl("pubsub.tf", read("terraform/pubsub.tf"))) as {
      resource: Record<string, Record<string, Record<string, unknown>[]>>;
    };
    const subs = tf.resource.google_pubsub_subscription!;
    const fn = subs.functions![0]! as {
      retry_policy: { minimum_backoff: string; maximum_backoff: string }[];
      dead_letter_policy: { max_delivery_attempts: number }[];
    };
    const retry = fn.retry_policy[0]!;
    const attempts = fn.dead_letter_policy[0]!.max_delivery_attempts;
    expect(
      pubsubWindowSeconds(seconds(retry.minimum_backoff), seconds(retry.maximum_backoff), attempts),
    ).toBeGreaterThan(HOUR);
    expect(seconds(retry.maximum_backoff)).toBeLessThanOrEqual(600);
    const store = subs.dead_letters![0]! as { name: string; expiration_policy: { ttl: string }[] };
    const bus = new PubSubBus({ projectId: "my-project" });
    expect(store.name.replace("${local.dead_letter_topic}", DEAD_LETTER_TOPIC)).toBe(bus.deadLetterStoreName);
    expect(bus.deadLetterStoreName).toBe(`${DEAD_LETTER_STORE}--${DEAD_LETTER_TOPIC}`);
    await bus.close();
  });
});
