import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import canonicalize from "canonicalize";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { PreprocessSpecSchema } from "../core/imaging/preprocess.ts";
import { sha256Hex } from "../core/util/digest.ts";
import { SightlineError } from "../core/errors.ts";

/** A training run's configuration (YAML, validated here); its hash is part of every model's lineage. */
export const TrainConfigSchema = z
  .object({
    architecture: z.enum(["cnn", "cnn-bn"]).default("cnn"),
    // tfjs convolutions take channels last.
    preprocessing: PreprocessSpecSchema.prefault({ width: 28, height: 28, channels: 1 }).refine(
      (p) => p.layout === "NHWC",
      "the built-in trainer's models take NHWC input",
    ),
    epochs: z.number().int().positive().max(1000).default(3),
    batchSize: z.number().int().positive().max(4096).default(64),
    learningRate: z.number().positive().max(1).default(0.001),
    /** `cosine` decays the rate from `learningRate` to 0 over the run (one half cosine, per batch). */
    schedule: z.enum(["constant", "cosine"]).default("constant"),
    /** Targets become (1 − ε)·one-hot + ε/classes: the model is not pushed to certainty on every image. */
    labelSmoothing: z.number().min(0).max(0.5).default(0),
    seed: z.number().int().nonnegative().default(0),
    augmentation: z
      .object({
        /** Mirror left–right with probability 0.5 (off for text or digits). */
        flipHorizontal: z.boolean().default(false),
        /** Shift by up to this many pixels in each direction, filling with zeros. */
        maxShift: z.number().int().nonnegative().max(8).default(0),
      })
      .strict()
      .prefault({}),
    /** Train on at most this many training images (quick runs); 0 = all. */
    limit: z.number().int().nonnegative().default(0),
    /** wasm threads for TensorFlow.js. */
    threads: z.number().int().positive().max(64).default(1),
  })
  .strict();

export type TrainConfig = z.infer<typeof TrainConfigSchema>;

export const REFERENCE_CONFIG = fileURLToPath(new URL("./configs/reference-cnn.yaml", import.meta.url));

export async function loadTrainConfig(
  path: string | undefined,
  overrides: Partial<Pick<TrainConfig, "epochs" | "limit" | "seed">> = {},
): Promise<TrainConfig> {
  let raw: unknown = {};
  if (path !== undefined) {
    try {
      raw = parseYaml(await readFile(path, "utf8")) ?? {};
    } catch (err) {
      throw new SightlineError(
        "invalid",
        "train_config_invalid",
        `cannot read training config ${path}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  const merged = {
    ...(raw as object),
    ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
  };
  const parsed = TrainConfigSchema.safeParse(merged);
  if (!parsed.success)
    throw new SightlineError(
      "invalid",
      "train_config_invalid",
      `training config ${path ?? "(defaults)"} is invalid: ${z.prettifyError(parsed.error)}`,
    );
  return parsed.data;
}

/** sha256 of the canonical JSON of the resolved configuration. */
export function configHash(config: object): string {
  return sha256Hex(canonicalize(config) ?? "");
}
