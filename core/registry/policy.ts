import { fileURLToPath } from "node:url";
import { z } from "zod";
import { configFileError } from "../config/config.ts";
import { digestOf } from "../util/digest.ts";
import { parseYamlText, readYamlFile } from "../util/yaml-file.ts";
import { ROBUSTNESS_RULES, type RobustnessRule } from "./robustness.ts";

const Bound = z.union([
  z.number().transform((min) => ({ min, max: undefined as number | undefined })),
  z.object({ min: z.number().optional(), max: z.number().optional() }).strict(),
]);

/**
 * The promotion policy (YAML, checked in): what a candidate must reach on its own, how much worse than
 * production it may be on the same held-out data, whether its data must have passed validation, and whether a
 * person must approve, and how much accuracy it may lose under perturbed inputs. Metric names are the trainer's:
 * `accuracy`, `macro_f1`, `log_loss`, `ece`, `recall/<class>`, and the robustness ones (`robustness/<perturbation>/accuracy`).
 */
export const PromotionPolicySchema = z
  .object({
    /** Metric → minimum (a number) or `{min, max}`. */
    absolute: z.record(z.string(), Bound).default({}),
    relative: z
      .object({
        /** Metric → largest allowed drop from production's value on the same evaluation data. */
        maxDrop: z.record(z.string(), z.number().min(0)).default({}),
        /** Largest allowed drop of any class's recall. */
        maxClassRecallDrop: z.number().min(0).optional(),
      })
      .strict()
      .prefault({}),
    /**
     * Perturbation (`brightness+30`, `brightness-30`, `noise`, `rotation`, `blur`, or `brightness` for the worse of
     * the two brightness changes) → largest allowed drop from the candidate's own clean accuracy on the same test
     * images (the card's robustness). A candidate without a robustness evaluation fails a configured rule.
     */
    robustness: z
      .object(
        Object.fromEntries(ROBUSTNESS_RULES.map((r) => [r, z.number().min(0).max(1).optional()])) as Record<
          RobustnessRule,
          z.ZodOptional<z.ZodNumber>
        >,
      )
      .strict()
      .default({}),
    requireValidatedData: z.boolean().default(true),
    /** `auto`: promote when every rule passes; `manual`: a person approves (`--approve`, or yes on a terminal). */
    approval: z.enum(["auto", "manual"]).default("manual"),
  })
  .strict();

export type PromotionPolicy = z.infer<typeof PromotionPolicySchema>;

export const DEFAULT_POLICY_FILE = fileURLToPath(new URL("./promotion-policy.yaml", import.meta.url));

export async function loadPolicy(
  path: string = DEFAULT_POLICY_FILE,
): Promise<{ policy: PromotionPolicy; digest: string; path: string }> {
  const { value, digest } = await readYamlFile(path, PromotionPolicySchema, "promotion policy", configFileError);
  return { policy: value, digest, path };
}

export function parsePolicy(text: string, where = "promotion policy"): { policy: PromotionPolicy; digest: string } {
  return { policy: parseYamlText(text, PromotionPolicySchema, where), digest: digestOf(text) };
}
