import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";

/**
 * The trainer contract: what Sightline hands any training program (a command on this machine, an image on GKE)
 * and what it expects back. The environment is Vertex AI custom training's (`AIP_*`), so existing Vertex code runs
 * unchanged, plus Sightline's own. docs/trainer-contract.md is the prose form of this file; both runners build the
 * environment with `contractEnv`, so the names exist in one place.
 */

/** One JSON value on the command line: `--key value` (booleans as `true`/`false`). */
export const TrainerArgValue = z.union([z.string(), z.number(), z.boolean()]);
export const TrainerArgsSchema = z.record(
  z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, "argument names are letters, digits, - and _"),
  TrainerArgValue,
);
export type TrainerArgs = z.infer<typeof TrainerArgsSchema>;

const jsonString = <T extends z.ZodType>(schema: T) =>
  z.string().transform((s, ctx) => {
    try {
      const parsed = schema.safeParse(JSON.parse(s));
      if (parsed.success) return parsed.data;
      ctx.addIssue({ code: "custom", message: z.prettifyError(parsed.error) });
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `not JSON: ${(err as Error).message}` });
    }
    return z.NEVER;
  });

/** The environment a trainer receives. Paths are absolute; URIs are `file://` here (staged data) on every runner. */
export const TrainerEnvSchema = z.object({
  AIP_MODEL_DIR: z.string().min(1),
  AIP_CHECKPOINT_DIR: z.string().min(1),
  AIP_TENSORBOARD_LOG_DIR: z.string().min(1),
  AIP_DATA_FORMAT: z.literal("jsonl"),
  AIP_TRAINING_DATA_URI: z.string().min(1),
  AIP_VALIDATION_DATA_URI: z.string().min(1),
  AIP_TEST_DATA_URI: z.string().min(1),
  SIGHTLINE_DATA_DIR: z.string().min(1),
  SIGHTLINE_CLASSES: jsonString(z.array(z.string().min(1)).min(2)),
  SIGHTLINE_SEED: z.coerce.number().int().nonnegative(),
  SIGHTLINE_ARGS: jsonString(TrainerArgsSchema),
  SIGHTLINE_RUN_ID: z.string().min(1),
  SIGHTLINE_INIT_MODEL: z.string().min(1).optional(),
});
export type TrainerEnv = z.output<typeof TrainerEnvSchema>;
export const TRAINER_ENV_NAMES = Object.keys(TrainerEnvSchema.shape) as (keyof typeof TrainerEnvSchema.shape)[];

/** Where a run's files live under one root (a folder here, the Job pod's shared volume on GKE). */
export interface RunLayout {
  root: string;
  /** The staged dataset: SPLIT/CLASS/IMAGE, plus one JSONL file per split. */
  dataDir: string;
  jsonl: { training: string; validation: string; test: string };
  modelDir: string;
  checkpointDir: string;
  tensorboardDir: string;
  /** Where production's ONNX file is put for a fine-tuning run. */
  initModel: string;
}

export function runLayout(root: string, dataDir = join(root, "data")): RunLayout {
  return {
    root,
    dataDir,
    jsonl: {
      training: join(dataDir, "training.jsonl"),
      validation: join(dataDir, "validation.jsonl"),
      test: join(dataDir, "test.jsonl"),
    },
    modelDir: join(root, "model"),
    checkpointDir: join(root, "checkpoints"),
    tensorboardDir: join(root, "tensorboard"),
    initModel: join(root, "init", "model.onnx"),
  };
}

export interface ContractValues {
  layout: RunLayout;
  classes: string[];
  seed: number;
  args: TrainerArgs;
  runId: string;
  /** Whether the run starts from production's weights (then SIGHTLINE_INIT_MODEL names layout.initModel). */
  fineTune: boolean;
}

/** The environment for one run, checked against the schema so a runner cannot drift from the contract. */
export function contractEnv(v: ContractValues): Record<string, string> {
  const env: Record<string, string> = {
    AIP_MODEL_DIR: v.layout.modelDir,
    AIP_CHECKPOINT_DIR: v.layout.checkpointDir,
    AIP_TENSORBOARD_LOG_DIR: v.layout.tensorboardDir,
    AIP_DATA_FORMAT: "jsonl",
    AIP_TRAINING_DATA_URI: pathToFileURL(v.layout.jsonl.training).href,
    AIP_VALIDATION_DATA_URI: pathToFileURL(v.layout.jsonl.validation).href,
    AIP_TEST_DATA_URI: pathToFileURL(v.layout.jsonl.test).href,
    SIGHTLINE_DATA_DIR: v.layout.dataDir,
    SIGHTLINE_CLASSES: JSON.stringify(v.classes),
    SIGHTLINE_SEED: String(v.seed),
    SIGHTLINE_ARGS: JSON.stringify(v.args),
    SIGHTLINE_RUN_ID: v.runId,
  };
  if (v.fineTune) env.SIGHTLINE_INIT_MODEL = v.layout.initModel;
  TrainerEnvSchema.parse(env);
  return env;
}

/** `--key value` for each argument, in the args' order (the same values as SIGHTLINE_ARGS). */
export function argvOf(args: TrainerArgs): string[] {
  return Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]);
}

/** One line of a split's JSONL file: Vertex AI's image-classification import format (single label). */
export const VertexImageLineSchema = z.object({
  imageGcsUri: z.string().min(1),
  classificationAnnotation: z.object({ displayName: z.string().min(1) }),
});
export type VertexImageLine = z.infer<typeof VertexImageLineSchema>;

/** `sightline.json`: how to feed the model and read its answer. */
export const ModelInterfaceSchema = z
  .object({
    input: z
      .object({
        name: z.string().min(1),
        layout: z.enum(["NCHW", "NHWC"]),
        width: z.number().int().positive().max(4096),
        height: z.number().int().positive().max(4096),
        channels: z.union([z.literal(1), z.literal(3)]),
        /** Each 0–255 value is multiplied by this before mean and std apply. */
        scale: z
          .number()
          .positive()
          .default(1 / 255),
        mean: z.array(z.number()).min(1).default([0]),
        std: z.array(z.number().positive()).min(1).default([1]),
        /** How an image of another size is brought to width×height (default: stretched). */
        fit: z.enum(["fill", "contain", "cover"]).default("fill"),
      })
      .strict()
      .refine((s) => s.mean.length === 1 || s.mean.length === s.channels, "mean needs 1 or `channels` values")
      .refine((s) => s.std.length === 1 || s.std.length === s.channels, "std needs 1 or `channels` values"),
    output: z.object({ name: z.string().min(1), kind: z.enum(["logits", "probabilities"]) }).strict(),
    /** A 2-D output [N, D] drift detection compares with the training data; without it drift skips that test. */
    embedding: z.string().min(1).optional(),
  })
  .strict();
export type ModelInterface = z.output<typeof ModelInterfaceSchema>;

/**
 * One line of `metrics.jsonl`: a JSON object whose finite numbers are kept (other values, e.g. a phase name, are
 * dropped); `step` and `epoch` must be integers when given.
 */
export const MetricsLineSchema = z
  .record(z.string().min(1).max(100), z.unknown())
  .transform((m) =>
    Object.fromEntries(
      Object.entries(m).filter((e): e is [string, number] => typeof e[1] === "number" && Number.isFinite(e[1])),
    ),
  )
  .refine((m) => Object.keys(m).length > 0, "no numbers in the metrics line")
  .refine(
    (m) => (m.step === undefined || Number.isInteger(m.step)) && (m.epoch === undefined || Number.isInteger(m.epoch)),
    "step and epoch must be integers",
  );
export type MetricsLine = z.infer<typeof MetricsLineSchema>;

export const MODEL_FILE = "model.onnx";
export const INTERFACE_FILE = "sightline.json";
export const METRICS_FILE = "metrics.jsonl";
