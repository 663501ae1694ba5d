import type { z } from "zod";
import { TrainerEnvSchema } from "../../jobs/trainer-contract.ts";
import { defineEnv } from "../env.ts";

// What Sightline hands a contract trainer's program (docs/trainer-contract.md). Vertex AI custom training's names
// plus Sightline's own; TrainerEnvSchema (core/jobs/trainer-contract.ts) holds their schemas, both runners write
// them with contractEnv, and Sightline itself never reads them back.
type Name = keyof typeof TrainerEnvSchema.shape;

const DOCS: Record<Name, string> = {
  AIP_MODEL_DIR: "where the trainer writes `model.onnx`, `sightline.json` and `metrics.jsonl`",
  AIP_CHECKPOINT_DIR: "a directory for the trainer's checkpoints",
  AIP_TENSORBOARD_LOG_DIR: "a directory for TensorBoard logs",
  AIP_DATA_FORMAT: "always `jsonl`",
  AIP_TRAINING_DATA_URI: "the training split, Vertex image-classification JSONL (`file://`)",
  AIP_VALIDATION_DATA_URI: "the validation split, likewise",
  AIP_TEST_DATA_URI: "the test split, likewise",
  SIGHTLINE_DATA_DIR: "the staged dataset as folders, `SPLIT/CLASS/IMAGE`",
  SIGHTLINE_CLASSES: "the classes in label order (JSON array)",
  SIGHTLINE_SEED: "the run's seed",
  SIGHTLINE_ARGS: "the hyperparameters (JSON object; also passed as `--key value`)",
  SIGHTLINE_RUN_ID: "the run id",
  SIGHTLINE_INIT_MODEL: "for a fine-tuning run: production's ONNX file",
};

export const CONTRACT_SETTINGS = (Object.keys(DOCS) as Name[]).map((name) =>
  defineEnv({
    name,
    schema: TrainerEnvSchema.shape[name] as z.ZodType<unknown>,
    doc: `set by Sightline for a contract trainer: ${DOCS[name]}`,
    components: ["contract"],
  }),
);
