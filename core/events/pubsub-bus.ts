import {
  Duration,
  type Message,
  PubSub,
  type Subscription as PubSubSubscription,
  SubscriptionCloseBehaviors,
  type Topic,
  v1,
} from "@google-cloud/pubsub";
import type { AnyCloudEvent } from "./envelope.ts";
import { decodeEvent, peekEventIds, topicFor, validEvent } from "./envelope.ts";
import { grpcCode } from "../util/grpc.ts";
import {
  DEFAULT_RETRY,
  type DeadLetter,
  type DeadLetterSelector,
  type EventBus,
  type Handler,
  type ReplayReport,
  type StoredDeadLetter,
  type SubscribeOptions,
  type Subscription,
} from "./event-bus.ts";
import type { EventType } from "./schemas.ts";
import { createLogger, type Logger } from "../telemetry/logger.ts";

export interface PubSubBusOptions {
  projectId: string;
  /** `host:port` of an emulator; PUBSUB_EMULATOR_HOST is honoured by the client as well. */
  apiEndpoint?: string;
  /** Put in front of every topic and subscription name (keeps test runs or environments apart). */
  prefix?: string;
  /** Structured JSON logger (stderr); default component "pubsub-bus". */
  logger?: Logger;
}

/** Topic (without prefix) that receives the dead letters of every subscription. */
export const DEAD_LETTER_TOPIC = "sightline-dead-letter";

/**
 * Subscription (without prefix) on the dead-letter topic that keeps every dead letter until it is replayed
 * (`listDeadLetters`, `replayDeadLetters`); terraform/pubsub.tf provisions it with the same name.
 */
export const DEAD_LETTER_STORE = "dead-letters";
const STORE_RETENTION_SECONDS = 7 * 24 * 3600;
/** How long a listing or replay holds the letters it pulled (they are released or acknowledged at the end). */
const STORE_LEASE_SECONDS = 120;

/** Attributes of a dead letter published by a consumer. */
const DL = {
  reason: "reason",
  subscription: "subscription",
  attempts: "attempts",
  eventId: "ce-id",
  eventType: "ce-type",
  time: "dead-lettered-at",
} as const;

/** Attributes Pub/Sub itself puts on a message it forwards through a dead-letter policy. */
const PUBSUB_DL_SUBSCRIPTION = "CloudPubSubDeadLetterSourceSubscription";
const PUBSUB_DL_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount";

const ALREADY_EXISTS = 6;
const PERMISSION_DENIED = 7;
/** Pub/Sub bounds: dead-letter delivery attempts 5..100, backoff 0..600 s, attribute values ≤ 1024 bytes. */
const MIN_POLICY_ATTEMPTS = 5;
const MAX_POLICY_ATTEMPTS = 100;
const MAX_BACKOFF_SECONDS = 600;
const MAX_ATTRIBUTE_BYTES = 1024;
/** How long closing a subscription waits for in-flight handlers. */
const CLOSE_TIMEOUT = Duration.from({ minutes: 5 });

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function truncateBytes(value: string, maxBytes = MAX_ATTRIBUTE_BYTES): string {
  if (Buffer.byteLength(value) <= maxBytes) return value;
  let out = value.slice(0, maxBytes);
  while (Buffer.byteLength(out) > maxBytes - 3) out = out.slice(0, -1);
  return `${out}...`;
}

function duration(seconds: number): { seconds: number; nanos: number } {
  const s = Math.min(MAX_BACKOFF_SECONDS, Math.max(0, seconds));
  const whole = Math.floor(s);
  return { seconds: whole, nanos: Math.round((s - whole) * 1e9) };
}

interface Policies {
  retryPolicy: {
    minimumBackoff: { seconds: number; nanos: number };
    maximumBackoff: { seconds: number; nanos: number };
  };
  deadLetterPolicy: { deadLetterTopic: string; maxDeliveryAttempts: number };
}

/** A set of streaming-pull listeners that close together and wait for their handlers. */
class Listeners implements Subscription {
  readonly name: string;
  private readonly subscriptions: PubSubSubscription[];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly onClose: () => void;
  private closing: Promise<void> | undefined;

  constructor(name: string, subscriptions: PubSubSubscription[], onClose: () => void) {
    this.name = name;
    this.subscriptions = subscriptions;
    this.onClose = onClose;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Stops the streams at once; WaitForProcessing keeps leases until our handlers ack or nack.
      await Promise.allSettled(this.subscriptions.map((s) => s.close()));
      await Promise.allSettled([...this.inFlight]);
      for (const s of this.subscriptions) s.removeAllListeners("message");
      this.onClose();
    })();
    return this.closing;
  }
}

/**
 * EventBus on Google Cloud Pub/Sub. One topic per event type (`topicFor(type)`), one Pub/Sub subscription per
 * (subscription name, topic) named `<name>--<topic>`. Message data is the structured-mode CloudEvent JSON.
 *
 * Retries: a failing handler nacks, and the subscription's retry policy spaces redeliveries (exponential from
 * minBackoffSeconds to maxBackoffSeconds). Attempts are counted by Pub/Sub (`deliveryAttempt`, populated because
 * every subscription has a dead-letter policy). At `maxAttempts` the consumer itself publishes the original body to
 * the dead-letter topic with the reason and acks. The subscription's own dead-letter policy (maxAttempts + 1,
 * within Pub/Sub's 5..100) only catches messages whose consumers never came to a verdict (e.g. crashed each time).
 */
export class PubSubBus implements EventBus {
  private readonly client: PubSub;
  private readonly prefix: string;
  private readonly topics = new Map<string, Promise<Topic>>();
  private readonly ensured = new Map<string, Promise<void>>();
  private readonly open = new Set<Listeners>();
  /** Fallback attempt counts, only used when Pub/Sub does not report `deliveryAttempt`. */
  private readonly localAttempts = new Map<string, number>();
  private readonly log: Logger;
  private closed = false;

  constructor(options: PubSubBusOptions) {
    this.client = new PubSub({
      projectId: options.projectId,
      ...(options.apiEndpoint === undefined ? {} : { apiEndpoint: options.apiEndpoint }),
    });
    this.prefix = options.prefix ?? "";
    this.log = options.logger ?? createLogger({ component: "pubsub-bus" });
  }

  /** Full topic id (prefix included) of an event type. */
  topicName(type: EventType): string {
    return `${this.prefix}${topicFor(type)}`;
  }

  get deadLetterTopicName(): string {
    return `${this.prefix}${DEAD_LETTER_TOPIC}`;
  }

  /** Pub/Sub subscription id for a subscription name on a topic id. */
  subscriptionName(name: string, topic: string): string {
    return `${this.prefix}${name}--${topic.slice(this.prefix.length)}`;
  }

  /** Ensures the topic of `type` exists and returns it (the plain client's Topic, e.g. for tests). */
  topic(type: EventType): Promise<Topic> {
    return this.ensureTopic(this.topicName(type));
  }

  async publish(event: AnyCloudEvent): Promise<void> {
    this.assertOpen();
    const valid = validEvent(event);
    const topic = await this.ensureTopic(this.topicName(valid.type));
    await topic.publishMessage({
      data: Buffer.from(JSON.stringify(valid)),
      attributes: { "ce-type": valid.type, "ce-id": valid.id, "content-type": "application/cloudevents+json" },
    });
  }

  async ensureSubscription(name: string, types: readonly EventType[], options: SubscribeOptions = {}): Promise<void> {
    this.assertOpen();
    await this.ensureSubscriptions(name, types, options);
  }

  async subscribe(
    name: string,
    types: readonly EventType[],
    handler: Handler,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    this.assertOpen();
    const ids = await this.ensureSubscriptions(name, types, options);
    const subscriptions = ids.map((id) => this.stream(id));
    const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_RETRY.maxAttempts);
    const listeners = this.listen(name, subscriptions);
    for (const subscription of subscriptions) {
      subscription.on("message", (message: Message) => {
        listeners.track(this.consume(name, message, handler, maxAttempts));
      });
    }
    return listeners;
  }

  async subscribeDeadLetters(name: string, handler: (letter: DeadLetter) => Promise<void>): Promise<Subscription> {
    this.assertOpen();
    const topic = await this.ensureTopic(this.deadLetterTopicName);
    const id = this.subscriptionName(name, this.deadLetterTopicName);
    await this.ensureOneSubscription(id, topic, undefined);
    const subscription = this.stream(id);
    const listeners = this.listen(name, [subscription]);
    subscription.on("message", (message: Message) => {
      listeners.track(
        (async () => {
          try {
            await handler(
              this.toDeadLetter({
                attributes: message.attributes,
                data: message.data,
                publishTime: new Date(message.publishTime.getTime()),
              }),
            );
            message.ack();
          } catch (err) {
            this.log.error("dead-letter handler failed", {
              subscription: name,
              messageId: message.id,
              error: errorMessage(err),
            });
            message.nack();
          }
        })(),
      );
    });
    return listeners;
  }

  get deadLetterStoreName(): string {
    return this.subscriptionName(DEAD_LETTER_STORE, this.deadLetterTopicName);
  }

  async listDeadLetters(selector: DeadLetterSelector = {}): Promise<StoredDeadLetter[]> {
    this.assertOpen();
    return this.withStore(selector, async (letters) => letters.map((l) => l.letter));
  }

  /**
   * Publishes each selected letter's body again to its event type's topic (so every subscription of that type gets
   * it again, the one that dead-lettered it included; the others ignore it by event id), then acknowledges it on the
   * dead-letter store. A letter is acknowledged only after its publish succeeded.
   */
  async replayDeadLetters(selector: DeadLetterSelector = {}): Promise<ReplayReport> {
    this.assertOpen();
    return this.withStore(selector, async (letters, done) => {
      const report: ReplayReport = { replayed: [], kept: [] };
      for (const { ackId, letter } of letters) {
        let event: AnyCloudEvent;
        try {
          event = decodeEvent(letter.body);
        } catch (err) {
          report.kept.push({ id: letter.id, subscription: letter.subscription, reason: errorMessage(err) });
          continue;
        }
        const topic = await this.ensureTopic(this.topicName(event.type));
        await topic.publishMessage({
          data: Buffer.from(letter.body),
          attributes: {
            "ce-type": event.type,
            "ce-id": event.id,
            "content-type": "application/cloudevents+json",
            "replayed-from": letter.subscription,
          },
        });
        done.push(ackId);
        const replayed = {
          id: letter.id,
          eventId: event.id,
          eventType: event.type,
          subscription: letter.subscription,
          to: `topic ${topic.name.split("/").at(-1) ?? topic.name}`,
        };
        report.replayed.push(replayed);
        this.log.info("dead letter replayed", { ...replayed });
      }
      return report;
    });
  }

  /**
   * Pulls every letter the store holds (leased, so each is seen once), hands the selected ones to `use`, then
   * acknowledges those `use` put in `done` and releases the rest at once (so a listing changes nothing).
   */
  private async withStore<R>(
    selector: DeadLetterSelector,
    use: (letters: { ackId: string; letter: StoredDeadLetter }[], done: string[]) => Promise<R>,
  ): Promise<R> {
    await this.ensureStore(await this.ensureTopic(this.deadLetterTopicName));
    // The plain client's own settings (emulator endpoint and insecure channel included), for synchronous pull.
    const client = new v1.SubscriberClient(
      (await this.client.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0],
    );
    const subscription = this.client.subscription(this.deadLetterStoreName).name;
    const pulled: { ackId: string; letter: StoredDeadLetter }[] = [];
    const release = async (ackIds: string[]): Promise<void> => {
      for (let i = 0; i < ackIds.length; i += 1000)
        await client.modifyAckDeadline({ subscription, ackIds: ackIds.slice(i, i + 1000), ackDeadlineSeconds: 0 });
    };
    try {
      // A pull may come back empty while letters remain (Pub/Sub answers from some servers only): stop after a few.
      for (let empty = 0; empty < 3;) {
        const [response] = await client.pull({ subscription, maxMessages: 1000, returnImmediately: true });
        const received = response.receivedMessages ?? [];
        if (received.length === 0) empty++;
        for (const r of received) {
          if (!r.ackId || !r.message) continue;
          const m = r.message;
          const seconds = Number(m.publishTime?.seconds ?? 0);
          const letter = this.toDeadLetter({
            attributes: Object.fromEntries(Object.entries(m.attributes ?? {})),
            data: Buffer.from(m.data ?? ""),
            publishTime: new Date(seconds * 1000 + Math.floor((m.publishTime?.nanos ?? 0) / 1e6)),
          });
          pulled.push({ ackId: r.ackId, letter: { id: m.messageId ?? r.ackId, ...letter } });
        }
      }
      pulled.sort((a, b) => (a.letter.time < b.letter.time ? -1 : a.letter.time > b.letter.time ? 1 : 0));
      const matches = pulled.filter(
        ({ letter }) =>
          (selector.subscription === undefined || letter.subscription === selector.subscription) &&
          (selector.eventIds === undefined ||
            (letter.eventId !== undefined && selector.eventIds.includes(letter.eventId))),
      );
      const selected = selector.limit === undefined ? matches : matches.slice(0, selector.limit);
      // What `use` has finished with, even if it throws midway: acknowledged, so it is not replayed twice.
      const done: string[] = [];
      try {
        return await use(selected, done);
      } finally {
        if (done.length > 0) {
          for (let i = 0; i < done.length; i += 1000)
            await client.acknowledge({ subscription, ackIds: done.slice(i, i + 1000) });
        }
        const acked = new Set(done);
        await release(pulled.map((p) => p.ackId).filter((id) => !acked.has(id)));
      }
    } finally {
      await client.close();
    }
  }

  private ensureStore(deadLetters: Topic): Promise<void> {
    return this.ensureOneSubscription(this.deadLetterStoreName, deadLetters, undefined, {
      ackDeadlineSeconds: STORE_LEASE_SECONDS,
      messageRetentionDuration: STORE_RETENTION_SECONDS,
      expirationPolicy: { ttl: null },
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.open].map((l) => l.close()));
    const topics = await Promise.allSettled([...this.topics.values()]);
    await Promise.allSettled(topics.flatMap((t) => (t.status === "fulfilled" ? [t.value.flush()] : [])));
    await this.client.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("PubSubBus is closed");
  }

  private listen(name: string, subscriptions: PubSubSubscription[]): Listeners {
    const listeners = new Listeners(name, subscriptions, () => this.open.delete(listeners));
    this.open.add(listeners);
    for (const subscription of subscriptions) {
      // Without an error listener a stream error would be thrown as an uncaught EventEmitter error.
      subscription.on("error", (err: unknown) => {
        this.log.error("subscription stream error", { subscription: subscription.name, error: errorMessage(err) });
      });
    }
    return listeners;
  }

  /** Handles one delivery; never throws (a throw here would escape the EventEmitter). */
  private async consume(name: string, message: Message, handler: Handler, maxAttempts: number): Promise<void> {
    try {
      const body = message.data.toString("utf8");
      let event: AnyCloudEvent;
      try {
        event = decodeEvent(message.data);
      } catch (err) {
        await this.deadLetterMessage(name, message, body, 1, errorMessage(err));
        return;
      }
      const attempts = this.attempt(message);
      try {
        await handler(event);
        this.localAttempts.delete(message.id);
        message.ack();
      } catch (err) {
        const reason = `handler failed: ${errorMessage(err)}`;
        if (attempts >= maxAttempts) {
          this.localAttempts.delete(message.id);
          await this.deadLetterMessage(name, message, body, attempts, reason);
        } else {
          this.log.warn("handler failed; will retry", {
            subscription: name,
            eventId: event.id,
            eventType: event.type,
            attempt: attempts,
            maxAttempts,
            error: errorMessage(err),
          });
          message.nack();
        }
      }
    } catch (err) {
      // Publishing the dead letter failed (or something unexpected): let Pub/Sub deliver it again.
      this.log.error("message handling failed; nacking", {
        subscription: name,
        messageId: message.id,
        error: errorMessage(err),
      });
      try {
        message.nack();
      } catch {
        // the subscriber is gone; the lease expires and Pub/Sub redelivers
      }
    }
  }

  private attempt(message: Message): number {
    if (message.deliveryAttempt > 0) return message.deliveryAttempt;
    const n = (this.localAttempts.get(message.id) ?? 0) + 1;
    this.localAttempts.set(message.id, n);
    return n;
  }

  async deadLetter(subscription: string, body: string, reason: string, attempts = 1): Promise<void> {
    const { eventId, eventType } = peekEventIds(body);
    this.log.error("dead-lettering message", { subscription, eventId, eventType, attempts, reason });
    const topic = await this.ensureTopic(this.deadLetterTopicName);
    await topic.publishMessage({
      data: Buffer.from(body),
      attributes: {
        [DL.reason]: truncateBytes(reason),
        [DL.subscription]: subscription,
        [DL.attempts]: String(attempts),
        [DL.time]: new Date().toISOString(),
        ...(eventId === undefined ? {} : { [DL.eventId]: truncateBytes(eventId) }),
        ...(eventType === undefined ? {} : { [DL.eventType]: truncateBytes(eventType) }),
      },
    });
  }

  private async deadLetterMessage(
    name: string,
    message: Message,
    body: string,
    attempts: number,
    reason: string,
  ): Promise<void> {
    await this.deadLetter(name, body, reason, attempts);
    message.ack();
  }

  private toDeadLetter(message: { attributes: Record<string, string>; data: Buffer; publishTime: Date }): DeadLetter {
    const a = message.attributes;
    const body = message.data.toString("utf8");
    const found = peekEventIds(body);
    // Our consumers publish with a reason; Pub/Sub's own dead-letter policy forwards with its source attributes.
    const forwarded = a[DL.reason] === undefined && a[PUBSUB_DL_SUBSCRIPTION] !== undefined;
    const eventId = a[DL.eventId] ?? found.eventId;
    const eventType = a[DL.eventType] ?? found.eventType;
    const attempts = Number(forwarded ? a[PUBSUB_DL_COUNT] : a[DL.attempts]);
    return {
      subscription: forwarded ? this.ourSubscriptionName(a[PUBSUB_DL_SUBSCRIPTION] ?? "") : (a[DL.subscription] ?? ""),
      reason: forwarded
        ? "delivery attempts exhausted without a verdict from a consumer (forwarded by the Pub/Sub dead-letter policy)"
        : (a[DL.reason] ?? "unknown (no reason attribute)"),
      attempts: Number.isFinite(attempts) ? attempts : 0,
      body,
      ...(eventId === undefined ? {} : { eventId }),
      ...(eventType === undefined ? {} : { eventType }),
      time: a[DL.time] ?? message.publishTime.toISOString(),
    };
  }

  /** `<prefix><name>--<topic>` → `<name>`. */
  private ourSubscriptionName(pubsubName: string): string {
    const id = pubsubName.split("/").at(-1) ?? pubsubName;
    const unprefixed = id.startsWith(this.prefix) ? id.slice(this.prefix.length) : id;
    const cut = unprefixed.lastIndexOf("--");
    return cut > 0 ? unprefixed.slice(0, cut) : unprefixed;
  }

  private async ensureSubscriptions(
    name: string,
    types: readonly EventType[],
    options: SubscribeOptions,
  ): Promise<string[]> {
    if (types.length === 0) throw new Error(`subscription ${name} needs at least one event type`);
    const deadLetters = await this.ensureTopic(this.deadLetterTopicName);
    // Before any subscription can dead-letter: a topic keeps nothing for a subscription created later.
    await this.ensureStore(deadLetters);
    const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_RETRY.maxAttempts);
    const min = options.minBackoffSeconds ?? DEFAULT_RETRY.minBackoffSeconds;
    const max = Math.max(min, options.maxBackoffSeconds ?? DEFAULT_RETRY.maxBackoffSeconds);
    const policies: Policies = {
      retryPolicy: { minimumBackoff: duration(min), maximumBackoff: duration(max) },
      deadLetterPolicy: {
        deadLetterTopic: deadLetters.name,
        maxDeliveryAttempts: Math.min(MAX_POLICY_ATTEMPTS, Math.max(MIN_POLICY_ATTEMPTS, maxAttempts + 1)),
      },
    };
    return Promise.all(
      [...new Set(types)].map(async (type) => {
        const topic = await this.ensureTopic(this.topicName(type));
        const id = this.subscriptionName(name, this.topicName(type));
        await this.ensureOneSubscription(id, topic, policies);
        return id;
      }),
    );
  }

  private ensureTopic(id: string): Promise<Topic> {
    let ensured = this.topics.get(id);
    if (ensured === undefined) {
      ensured = (async () => {
        const topic = this.client.topic(id);
        try {
          await topic.create();
        } catch (err) {
          // ALREADY_EXISTS is the normal case; PERMISSION_DENIED: topics are provisioned (terraform), not created here.
          const code = grpcCode(err);
          if (code !== ALREADY_EXISTS && code !== PERMISSION_DENIED) throw err;
        }
        return topic;
      })();
      this.topics.set(id, ensured);
      ensured.catch(() => this.topics.delete(id));
    }
    return ensured;
  }

  /** Creates the Pub/Sub subscription `id` on `topic` once per bus (idempotent across processes). */
  private ensureOneSubscription(
    id: string,
    topic: Topic,
    policies: Policies | undefined,
    create: Record<string, unknown> = {},
  ): Promise<void> {
    let ensured = this.ensured.get(id);
    if (ensured === undefined) {
      ensured = (async () => {
        try {
          await topic.createSubscription(id, { ...create, ...policies });
          return;
        } catch (err) {
          const code = grpcCode(err);
          if (code !== ALREADY_EXISTS && code !== PERMISSION_DENIED) throw err;
        }
        if (policies === undefined) return;
        // It exists (another consumer, an earlier run): bring its policies up to date with these options.
        try {
          await this.client.subscription(id).setMetadata(policies);
        } catch (err) {
          this.log.warn("could not update subscription policies", { subscription: id, error: errorMessage(err) });
        }
      })();
      this.ensured.set(id, ensured);
      ensured.catch(() => this.ensured.delete(id));
    }
    return ensured;
  }

  /** A fresh streaming-pull client for subscription `id` (one per consumer, never shared). */
  private stream(id: string): PubSubSubscription {
    return this.client.subscription(id, {
      closeOptions: { behavior: SubscriptionCloseBehaviors.WaitForProcessing, timeout: CLOSE_TIMEOUT },
    });
  }
}
