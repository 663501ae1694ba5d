import { randomUUID } from "node:crypto";
import { PubSub } from "@google-cloud/pubsub";
import { afterAll, describe, expect, inject, it } from "vitest";
import { retryWindowSeconds } from "../../core/events/event-bus.ts";
import { PubSubBus } from "../../core/events/pubsub-bus.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { eventBusContract } from "../contract/event-bus.contract.ts";

const emulators = inject("emulators");
const host = emulators.pubsub;
// One project per run keeps runs that share an emulator apart; the prefix exercises prefixed names.
const projectId = `sightline-test-${randomUUID().slice(0, 8)}`;
const prefix = "t-";

if (host === undefined) {
  describe.skip(`EventBus contract: pubsub (${emulators.skipped.pubsub ?? "emulator not running"})`, () => {});
} else {
  // A plain client, as a foreign publisher would use, for messages that bypass PubSubBus's validation.
  const raw = new PubSub({ projectId, apiEndpoint: host });
  afterAll(() => raw.close());

  eventBusContract("pubsub (emulator)", () => ({
    open: async () =>
      new PubSubBus({ projectId, apiEndpoint: host, prefix, logger: createLogger({}, { level: "CRITICAL" }) }),
    async injectRaw(bus, type, body) {
      await (bus as PubSubBus).topic(type); // ensures the topic exists
      await raw.topic((bus as PubSubBus).topicName(type)).publishMessage({ data: Buffer.from(body) });
    },
  }));

  describe("PubSubBus subscriptions by default", () => {
    it("retry for more than an hour before the dead-letter policy forwards, and the dead-letter store exists", async () => {
      const bus = new PubSubBus({
        projectId,
        apiEndpoint: host,
        prefix,
        logger: createLogger({}, { level: "CRITICAL" }),
      });
      try {
        const name = `defaults-${randomUUID().slice(0, 8)}`;
        await bus.ensureSubscription(name, ["sightline.training.failed"]);
        const [meta] = await raw
          .subscription(bus.subscriptionName(name, bus.topicName("sightline.training.failed")))
          .getMetadata();
        const seconds = (d: { seconds?: unknown } | null | undefined): number => Number(d?.seconds ?? 0);
        const attempts = Number(meta.deadLetterPolicy?.maxDeliveryAttempts);
        const window = retryWindowSeconds({
          maxAttempts: attempts - 1,
          minBackoffSeconds: seconds(meta.retryPolicy?.minimumBackoff),
          maxBackoffSeconds: seconds(meta.retryPolicy?.maximumBackoff),
        });
        expect(window).toBeGreaterThan(3600);
        const [exists] = await raw.subscription(bus.deadLetterStoreName).exists();
        expect(exists).toBe(true);
      } finally {
        await bus.close();
      }
    });
  });
}
