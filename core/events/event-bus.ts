import type { AnyCloudEvent } from "./envelope.ts";
import type { EventType } from "./schemas.ts";

export type Handler = (event: AnyCloudEvent) => Promise<void>;

export interface SubscribeOptions {
  /** Deliveries (first try included) before an event is dead-lettered. Default 5. */
  maxAttempts?: number;
  /** Backoff between attempts, doubling from min up to max (seconds). Defaults 1 and 60. */
  minBackoffSeconds?: number;
  maxBackoffSeconds?: number;
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
  subscribe(name: string, types: readonly EventType[], handler: Handler, options?: SubscribeOptions): Promise<Subscription>;
  /** Creates the subscription without consuming, so events published from now on are kept for it. */
  ensureSubscription(name: string, types: readonly EventType[], options?: SubscribeOptions): Promise<void>;
  /**
   * Dead-letters a body a consumer outside this bus received (e.g. a Cloud Function behind an Eventarc trigger) and
   * could not use, with the reason; the consumer then acknowledges it.
   */
  deadLetter(subscription: string, body: string, reason: string, attempts?: number): Promise<void>;
  /** Consumes the dead letters of every subscription. */
  subscribeDeadLetters(name: string, handler: (letter: DeadLetter) => Promise<void>): Promise<Subscription>;
  close(): Promise<void>;
}

export function backoffSeconds(attempt: number, options: SubscribeOptions): number {
  const min = options.minBackoffSeconds ?? 1;
  const max = options.maxBackoffSeconds ?? 60;
  return Math.min(max, min * 2 ** Math.max(0, attempt - 1));
}
