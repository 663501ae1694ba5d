import type { AnyCloudEvent } from "./envelope.ts";
import type { EventType } from "./schemas.ts";

export type Handler = (event: AnyCloudEvent) => Promise<void>;

export interface SubscribeOptions {
  /** Deliveries (first try included) before an event is dead-lettered. Default DEFAULT_RETRY.maxAttempts. */
  maxAttempts?: number;
  /** Backoff between attempts, doubling from min up to max (seconds). Defaults DEFAULT_RETRY's. */
  minBackoffSeconds?: number;
  maxBackoffSeconds?: number;
}

/**
 * Retries sized for a real outage (a store, the job API or a downstream service down for an hour): 1 s doubling to
 * 5 min, 25 deliveries, so an event is dead-lettered only after about 84 minutes of failures (retryWindowSeconds).
 * Pub/Sub allows at most 100 delivery attempts and a 600 s backoff, so these fit there too.
 */
export const DEFAULT_RETRY = {
  maxAttempts: 25,
  minBackoffSeconds: 1,
  maxBackoffSeconds: 300,
} as const satisfies Required<SubscribeOptions>;

/** Seconds from the first delivery to the last one before the event is dead-lettered (handler time not counted). */
export function retryWindowSeconds(options: SubscribeOptions = {}): number {
  const attempts = options.maxAttempts ?? DEFAULT_RETRY.maxAttempts;
  let total = 0;
  for (let attempt = 1; attempt < attempts; attempt++) total += backoffSeconds(attempt, options);
  return total;
}

/** A message that could not be handled: the raw body as received, and why. */
export interface DeadLetter {
  subscription: string;
  reason: string;
  attempts: number;
  body: string;
  eventId?: string;
  eventType?: string;
  time: string;
}

/** A dead letter kept by the bus until it is replayed; `id` names it for a replay. */
export interface StoredDeadLetter extends DeadLetter {
  id: string;
}

/** Which dead letters: all (no field), or those matching every field given. */
export interface DeadLetterSelector {
  eventIds?: readonly string[];
  subscription?: string;
  limit?: number;
}

export interface ReplayReport {
  /** Put back on the queue with their body (and so their event id) unchanged; `to` says who receives them again. */
  replayed: { id: string; eventId: string; eventType: string; subscription: string; to: string }[];
  /** Kept as dead letters: their body is not a valid event (replaying could only fail again). */
  kept: { id: string; subscription: string; reason: string }[];
}

export interface Subscription {
  readonly name: string;
  /** Stops receiving; resolves when in-flight handlers have finished. */
  close(): Promise<void>;
}

/**
 * At-least-once delivery of CloudEvents to named subscriptions. A subscription receives events of its types
 * published after it was first created, survives restarts of its consumer, and is shared by all consumers
 * that use its name (each event goes to one of them). Handlers must be idempotent by event id.
 * A handler that throws gets the event again after a backoff; after `maxAttempts` the event is dead-lettered.
 * A body that is not a valid event is dead-lettered at once with the validation error; the consumer keeps running.
 */
export interface EventBus {
  /** Validates and publishes; throws InvalidEventError for an invalid event (nothing is sent). */
  publish(event: AnyCloudEvent): Promise<void>;
  /** Creates the subscription if needed (idempotent) and starts consuming. */
  subscribe(
    name: string,
    types: readonly EventType[],
    handler: Handler,
    options?: SubscribeOptions,
  ): Promise<Subscription>;
  /** Creates the subscription without consuming, so events published from now on are kept for it. */
  ensureSubscription(name: string, types: readonly EventType[], options?: SubscribeOptions): Promise<void>;
  /**
   * Dead-letters a body a consumer outside this bus received (e.g. a Cloud Function behind an Eventarc trigger) and
   * could not use, with the reason; the consumer then acknowledges it.
   */
  deadLetter(subscription: string, body: string, reason: string, attempts?: number): Promise<void>;
  /** Consumes the dead letters of every subscription. */
  subscribeDeadLetters(name: string, handler: (letter: DeadLetter) => Promise<void>): Promise<Subscription>;
  /** The dead letters kept for inspection and replay, oldest first (the bus keeps them until replayed). */
  listDeadLetters(selector?: DeadLetterSelector): Promise<StoredDeadLetter[]>;
  /**
   * Publishes the selected dead letters again, unchanged (same event id: consumers are idempotent on it), and stops
   * keeping them; says what it replayed and what it kept.
   */
  replayDeadLetters(selector?: DeadLetterSelector): Promise<ReplayReport>;
  close(): Promise<void>;
}

export function backoffSeconds(attempt: number, options: SubscribeOptions): number {
  const min = options.minBackoffSeconds ?? DEFAULT_RETRY.minBackoffSeconds;
  const max = options.maxBackoffSeconds ?? DEFAULT_RETRY.maxBackoffSeconds;
  return Math.min(max, min * 2 ** Math.max(0, attempt - 1));
}
