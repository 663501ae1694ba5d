import { EVENT_TYPES, type EventType } from "./schemas.ts";

/** The lineage consumer records every event type. */
export const LINEAGE_SUBSCRIPTION = "lineage";

/** Subscriptions of the functions (functions/), with the event types each receives. */
export const FUNCTION_SUBSCRIPTIONS = {
  recordLineage: { subscription: LINEAGE_SUBSCRIPTION, types: EVENT_TYPES },
  detectDrift: { subscription: "drift", types: ["sightline.predictions.logged"] },
  // training.failed releases the retrain episode of the failed job (with a backoff).
  triggerRetrain: { subscription: "retrain", types: ["sightline.drift.reported", "sightline.training.failed"] },
  gateModel: { subscription: "gate", types: ["sightline.training.completed"] },
} as const satisfies Record<string, { subscription: string; types: readonly EventType[] }>;

export type FunctionName = keyof typeof FUNCTION_SUBSCRIPTIONS;

/** Subscriptions of the consumers that run in the embedded default, with the event types each receives. */
export const EMBEDDED_SUBSCRIPTIONS: Record<string, readonly EventType[]> = Object.fromEntries(
  Object.values(FUNCTION_SUBSCRIPTIONS).map(({ subscription, types }) => [subscription, types]),
);
