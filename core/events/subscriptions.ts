import { EVENT_TYPES, type EventType } from "./schemas.ts";

/** The lineage consumer records every event type. */
export const LINEAGE_SUBSCRIPTION = "lineage";

/** Subscriptions of the consumers that run in the embedded default, with the event types each receives. */
export const EMBEDDED_SUBSCRIPTIONS: Record<string, readonly EventType[]> = {
  [LINEAGE_SUBSCRIPTION]: EVENT_TYPES,
};
