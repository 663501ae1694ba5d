import { fileURLToPath } from "node:url";
import { z } from "zod";
import { configFileError } from "../config/config.ts";
import { DatasetId } from "../ids.ts";
import { readYamlFile } from "../util/yaml-file.ts";

const TrainerChoice = z.object({
  /** A trainer from the trainers file (SIGHTLINE_TRAINERS); default: the one that trained production. */
  trainer: z.string().optional(),
  /** `fine-tune` starts from production's weights (SIGHTLINE_INIT_MODEL for contract trainers). */
  mode: z.enum(["scratch", "fine-tune"]).optional(),
});

/** Per model: its own retrain budget over the policy's. */
const ModelChoice = TrainerChoice.extend({ maxRetrainsPerDay: z.number().int().min(0).optional() });

/**
 * When a drift report starts a retraining: severe enough, over enough predictions, not within the cooldown of the
 * model's last retraining, within the model's budget of retrainings per rolling day, not beyond the concurrency
 * limit, not while backing off after failed ones, and once per drift episode (consecutive drifting reports of one
 * model version; a report without drift, or a new version, ends it).
 */
export const RetrainPolicySchema = z
  .object({
    minSeverity: z.number().min(0).max(1).default(0.25),
    minWindowSize: z.number().int().min(1).default(200),
    cooldownMinutes: z.number().min(0).default(60),
    maxConcurrentJobs: z.number().int().min(1).default(1),
    /** Retrainings one model may start in any 24 hours (0: never); drift from anonymous traffic cannot exceed it. */
    maxRetrainsPerDay: z.number().int().min(0).default(3),
    /** After a retraining that could not be submitted or failed: wait this long, doubling per consecutive failure … */
    failureBackoffMinutes: z.number().min(0).default(15),
    /** … up to this. */
    maxFailureBackoffMinutes: z.number().min(0).default(240),
    dataset: z.union([z.literal("latest"), z.literal("production"), DatasetId]).default("latest"),
    /** Training config for the job (a path the trainer can read); the reference CNN by default. */
    config: z.string().optional(),
    epochs: z.number().int().positive().optional(),
    ...TrainerChoice.shape,
    /** Per model name: which trainer and mode retrains it (over the defaults above). */
    models: z.record(z.string(), ModelChoice.strict()).default({}),
  })
  .strict();

export type RetrainPolicy = z.output<typeof RetrainPolicySchema>;

export const DEFAULT_RETRAIN_POLICY = fileURLToPath(new URL("./retrain-policy.yaml", import.meta.url));

export async function loadRetrainPolicy(path: string = DEFAULT_RETRAIN_POLICY): Promise<RetrainPolicy> {
  return (await readYamlFile(path, RetrainPolicySchema, "retrain policy", configFileError)).value;
}
