import { onPredictionsLogged } from "../core/drift/detect.ts";
import { InvalidEventError, type AnyCloudEvent } from "../core/events/envelope.ts";
import { FUNCTION_SUBSCRIPTIONS, type FunctionName } from "../core/events/subscriptions.ts";
import { recordAndEmit } from "../core/lineage/emit.ts";
import { gate } from "../core/registry/promote.ts";
import { onDriftReported, onTrainingFailed } from "../core/retrain/trigger.ts";
import type { FunctionContext } from "./context.ts";

export type FunctionHandler = (event: AnyCloudEvent) => Promise<void>;

export const FUNCTION_NAMES = Object.keys(FUNCTION_SUBSCRIPTIONS) as FunctionName[];

/**
 * The four functions, each a thin call into core/, the same on Google Cloud (functions/index.ts, Eventarc Pub/Sub
 * triggers) and in the embedded default (functions/embedded.ts, the local queue). Each is idempotent by event id;
 * an event of a type the function does not take is refused as invalid (dead-lettered by the caller).
 */
export function functionHandlers(ctx: FunctionContext): Record<FunctionName, FunctionHandler> {
  const { rt } = ctx;
  const only = <T extends AnyCloudEvent["type"]>(
    name: FunctionName,
    type: T,
    fn: (event: Extract<AnyCloudEvent, { type: T }>) => Promise<void>,
  ): FunctionHandler => {
    return async (event) => {
      if (event.type !== type) throw new InvalidEventError(`${name} takes ${type} events, not ${event.type}`);
      await fn(event as Extract<AnyCloudEvent, { type: T }>);
    };
  };
  const driftDeps = {
    blobs: rt.blobs,
    meta: rt.meta,
    bus: rt.bus,
    log: ctx.log.child({ function: "detectDrift" }),
    policy: ctx.driftPolicy,
    metrics: ctx.metrics,
  };
  const retrainDeps = {
    meta: rt.meta,
    blobs: rt.blobs,
    bus: rt.bus,
    jobs: ctx.jobs,
    log: ctx.log.child({ function: "triggerRetrain" }),
    policy: ctx.retrainPolicy,
    trainers: ctx.trainers,
  };
  return {
    recordLineage: async (event) => void (await recordAndEmit(rt.meta, event, ctx.lineage)),
    detectDrift: only(
      "detectDrift",
      "sightline.predictions.logged",
      async (event) => void (await onPredictionsLogged(driftDeps, event)),
    ),
    triggerRetrain: async (event) => {
      if (event.type === "sightline.drift.reported") await onDriftReported(retrainDeps, event);
      else if (event.type === "sightline.training.failed") await onTrainingFailed(retrainDeps, event);
      else
        throw new InvalidEventError(
          `triggerRetrain takes sightline.drift.reported and sightline.training.failed events, not ${event.type}`,
        );
    },
    gateModel: only("gateModel", "sightline.training.completed", async (event) => {
      const decision = await gate(rt, event, { ...ctx.promotion, evaluator: ctx.evaluator });
      ctx.log.info("gate decided", { model: event.data.model, version: event.data.version, outcome: decision.outcome });
    }),
  };
}
