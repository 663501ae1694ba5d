import { z } from "zod";
import { DatasetId, Digest as digest } from "../ids.ts";
import { PreprocessSpecSchema } from "../imaging/preprocess.ts";
import { RobustnessSchema } from "./robustness.ts";
import { SightlineError } from "../errors.ts";

/** Cards written before models could answer logits name their scores output `probabilities`. */
function upgradeOutputs(o: unknown): unknown {
  if (!o || typeof o !== "object" || !("probabilities" in o) || "scores" in o) return o;
  const { probabilities, ...rest } = o as Record<string, unknown>;
  return { ...rest, scores: probabilities, kind: "probabilities" };
}

export const TrainerIdentitySchema = z.object({
  kind: z.enum(["builtin", "command", "image"]),
  /** The trainer's name in the trainers file, when it was picked by name. */
  name: z.string().optional(),
  command: z.array(z.string()).optional(),
  /** Working directory of a command trainer. */
  cwd: z.string().optional(),
  image: z.string().optional(),
  args: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  /** Whether the command's git checkout had uncommitted changes. */
  dirty: z.boolean().optional(),
});
export type TrainerIdentity = z.infer<typeof TrainerIdentitySchema>;

/**
 * What serving needs to reproduce training exactly (classes in index order, the preprocessing spec, the ONNX
 * interface) and what a person needs to judge the model (metrics, evaluation, config, lineage ids). Written by the
 * trainer as a blob; its digest is in the model version's record.
 */
export const ModelCardSchema = z.object({
  schema: z.literal("sightline.model-card/v1"),
  name: z.string(),
  runId: z.string(),
  requestId: z.string(),
  datasetId: DatasetId,
  manifestDigest: digest,
  classes: z.array(z.string()).min(2),
  preprocessing: PreprocessSpecSchema,
  onnx: z.object({
    modelDigest: digest,
    opset: z.number().int(),
    input: z.string(),
    outputs: z.preprocess(
      upgradeOutputs,
      z.object({
        /** The class scores output, one value per class in `classes` order. */
        scores: z.string(),
        /** `logits` are turned into probabilities with a softmax; `probabilities` are used as they are. */
        kind: z.enum(["probabilities", "logits"]),
        /** A 2-D output drift detection compares; absent when the model has none. */
        embedding: z.string().optional(),
      }),
    ),
    embeddingDim: z.number().int().positive().optional(),
  }),
  profileDigest: digest,
  architecture: z.string(),
  config: z.record(z.string(), z.unknown()),
  configHash: z.string(),
  gitCommit: z.string().nullable(),
  image: z.string().nullable(),
  metrics: z.record(z.string(), z.number()),
  evaluation: z.record(z.string(), z.unknown()),
  /** Accuracy under fixed perturbations of the test images (core/registry/robustness.ts); absent on older cards. */
  robustness: RobustnessSchema.optional(),
  history: z.array(z.record(z.string(), z.unknown())),
  trainedAt: z.iso.datetime({ offset: true }),
  trainingSeconds: z.number().nonnegative(),
  imagesPerSecond: z.number().nonnegative(),
  backend: z.string(),
  /** Who trained it: the built-in trainer, or a command or image on the trainer contract (docs/trainer-contract.md). */
  trainer: TrainerIdentitySchema.optional(),
  /** The version whose weights this run started from (fine-tuning), if any. */
  parentVersion: z.number().int().positive().optional(),
});

export type ModelCard = z.infer<typeof ModelCardSchema>;

export function parseModelCard(bytes: Uint8Array, where: string): ModelCard {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new SightlineError(
      "corrupt",
      "model_card_corrupt",
      `model card ${where} is not JSON: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const parsed = ModelCardSchema.safeParse(raw);
  if (!parsed.success)
    throw new SightlineError(
      "corrupt",
      "model_card_corrupt",
      `model card ${where} is invalid: ${z.prettifyError(parsed.error)}`,
    );
  return parsed.data;
}
