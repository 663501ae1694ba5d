import { makeEvent } from "../../core/events/envelope.ts";
import type { Runtime } from "../../core/config/runtime.ts";
import type { ModelVersion } from "../../core/registry/model-version.ts";

/** What the trainer publishes for a version, so lineage knows the model behind the predictions serving logs. */
export function publishTrained(rt: Pick<Runtime, "bus">, v: ModelVersion): Promise<void> {
  return rt.bus
    .publish(
      makeEvent("sightline.training.completed", {
        requestId: v.requestId,
        runId: v.runId,
        model: v.name,
        version: v.version,
        datasetId: v.datasetId,
        modelDigest: v.modelDigest,
        cardDigest: v.cardDigest,
        configHash: v.configHash,
        metrics: v.metrics,
      }),
    )
    .then(() => undefined);
}
