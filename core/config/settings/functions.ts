import { z } from "zod";
import { defineEnv } from "../env.ts";

// The event-driven functions' policies and the job runner they submit retraining to (functions/context.ts); the
// CLI reads the same files for the same decisions.
const file = (
  name: string,
  defaultDoc: string,
  doc: string,
  components: ("cli" | "functions")[] = ["functions", "cli"],
) => defineEnv({ name, schema: z.string(), defaultDoc, doc, components, emptyIsUnset: true });

export const SIGHTLINE_PROMOTION_POLICY = file(
  "SIGHTLINE_PROMOTION_POLICY",
  "`core/registry/promotion-policy.yaml`",
  "the promotion policy file (the gate, `promote`)",
);
export const SIGHTLINE_DRIFT_POLICY = file(
  "SIGHTLINE_DRIFT_POLICY",
  "`core/drift/drift-policy.yaml`",
  "the drift policy file (windows, tests, thresholds)",
);
export const SIGHTLINE_RETRAIN_POLICY = file(
  "SIGHTLINE_RETRAIN_POLICY",
  "`core/retrain/retrain-policy.yaml`",
  "the retrain policy file (severity, cooldown, budget)",
  ["functions"],
);
export const SIGHTLINE_TRAINERS = file(
  "SIGHTLINE_TRAINERS",
  "only `builtin`",
  "the trainers file: named trainers a training or retraining may use",
);
export const SIGHTLINE_TRAINER_IMAGE = file(
  "SIGHTLINE_TRAINER_IMAGE",
  "none (required with `k8s://`)",
  "the image, pinned by digest, the GKE runner starts built-in training Jobs from",
);
export const SIGHTLINE_DRIFT_METRICS = defineEnv({
  name: "SIGHTLINE_DRIFT_METRICS",
  schema: z.string(),
  default: "log",
  doc: "where drift scores go: `log`, or `monitoring://PROJECT` (Cloud Monitoring custom metrics)",
  components: ["functions"],
});

export const FUNCTION_SETTINGS = [
  SIGHTLINE_PROMOTION_POLICY,
  SIGHTLINE_DRIFT_POLICY,
  SIGHTLINE_RETRAIN_POLICY,
  SIGHTLINE_TRAINERS,
  SIGHTLINE_TRAINER_IMAGE,
  SIGHTLINE_DRIFT_METRICS,
] as const;
