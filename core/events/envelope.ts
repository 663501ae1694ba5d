import { randomUUID } from "node:crypto";
import { z } from "zod";
import { EVENT_DATA, type EventData, type EventType } from "./schemas.ts";
import { SightlineError } from "../errors.ts";

/** CloudEvents 1.0 structured-mode envelope (JSON), the form events take on every bus. */
export const EnvelopeSchema = z.object({
  specversion: z.literal("1.0"),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().min(1),
  time: z.iso.datetime({ offset: true }),
  datacontenttype: z.literal("application/json").default("application/json"),
  subject: z.string().optional(),
  data: z.unknown(),
});

export interface CloudEvent<T extends EventType = EventType> {
  specversion: "1.0";
  id: string;
  source: string;
  type: T;
  time: string;
  datacontenttype: "application/json";
  subject?: string;
  data: EventData<T>;
}

export type AnyCloudEvent = { [T in EventType]: CloudEvent<T> }[EventType];

/** Not a valid event (or not one the consumer takes): redelivering it cannot help, so it is dead-lettered. */
export class InvalidEventError extends SightlineError {
  constructor(message: string) {
    super("invalid", "invalid_event", message);
  }
}

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_DATA, type);
}

/**
 * Builds a validated event. Pass a deterministic `id` when the same fact may be published twice
 * (e.g. `dataset.versioned` per dataset id), so consumers deduplicate it.
 */
export function makeEvent<T extends EventType>(
  type: T,
  data: EventData<T>,
  options: { id?: string; source?: string; subject?: string; time?: Date } = {},
): CloudEvent<T> {
  const event = {
    specversion: "1.0" as const,
    id: options.id ?? randomUUID(),
    source: options.source ?? "sightline",
    type,
    time: (options.time ?? new Date()).toISOString(),
    datacontenttype: "application/json" as const,
    ...(options.subject === undefined ? {} : { subject: options.subject }),
    data,
  };
  return parseEvent(event) as CloudEvent<T>;
}

// Events this module validated, so a bus handed one of them does not validate it again: zod walking a prediction
// batch twice was a tenth of what serving allocates per request. A copy (`{ ...event }`) is validated anew.
const validated = new WeakSet<object>();

/** `event` as publishing takes it: as it is when makeEvent or parseEvent produced it, else parsed (and checked). */
export function validEvent(event: unknown): AnyCloudEvent {
  return typeof event === "object" && event !== null && validated.has(event)
    ? (event as AnyCloudEvent)
    : parseEvent(event);
}

/** Parses anything (already JSON-decoded) into a typed event, or throws InvalidEventError saying why. */
export function parseEvent(raw: unknown): AnyCloudEvent {
  const envelope = EnvelopeSchema.safeParse(raw);
  if (!envelope.success) {
    throw new InvalidEventError(`invalid CloudEvents envelope: ${z.prettifyError(envelope.error)}`);
  }
  const { type } = envelope.data;
  if (!isEventType(type)) throw new InvalidEventError(`unknown event type ${JSON.stringify(type)}`);
  const data = EVENT_DATA[type].safeParse(envelope.data.data);
  if (!data.success) {
    throw new InvalidEventError(`invalid data for ${type} (id ${envelope.data.id}): ${z.prettifyError(data.error)}`);
  }
  const event = { ...envelope.data, type, data: data.data } as AnyCloudEvent;
  validated.add(event);
  return event;
}

/** Parses the bytes of a message body (UTF-8 JSON of a structured CloudEvent). */
export function decodeEvent(body: Uint8Array | string): AnyCloudEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof body === "string" ? body : Buffer.from(body).toString("utf8"));
  } catch (err) {
    throw new InvalidEventError(`event body is not JSON: ${(err as Error).message}`);
  }
  return parseEvent(raw);
}

/** Topic names are the type with dots turned into dashes (ARCHITECTURE.md). */
export function topicFor(type: EventType): string {
  return type.replaceAll(".", "-");
}

/** Best effort: the id and type of a body that may not be a valid event, so its dead letter can be found by them. */
export function peekEventIds(body: string): { eventId?: string; eventType?: string } {
  try {
    const raw: unknown = JSON.parse(body);
    if (typeof raw !== "object" || raw === null) return {};
    const { id, type } = raw as Record<string, unknown>;
    return {
      ...(typeof id === "string" ? { eventId: id } : {}),
      ...(typeof type === "string" ? { eventType: type } : {}),
    };
  } catch {
    return {};
  }
}
