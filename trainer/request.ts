import { randomUUID } from "node:crypto";
import { makeEvent } from "../core/events/envelope.ts";
import type { EventBus } from "../core/events/event-bus.ts";
import type { EventData } from "../core/events/schemas.ts";
import { configHash } from "./config.ts";

/** Publishes `sightline.training.requested` for a run started here, and returns its request id. */
export async function requestTraining(
  bus: EventBus,
  request: {
    model: string;
    datasetId: string;
    config: object;
    trigger: EventData<"sightline.training.requested">["trigger"];
    reason: string;
  },
): Promise<string> {
  const requestId = `req-${randomUUID()}`;
  await bus.publish(
    makeEvent(
      "sightline.training.requested",
      {
        requestId,
        model: request.model,
        datasetId: request.datasetId,
        trigger: request.trigger,
        reason: request.reason,
        configDigest: `sha256:${configHash(request.config)}`,
      },
      { id: `training.requested:${requestId}`, subject: request.model },
    ),
  );
  return requestId;
}
