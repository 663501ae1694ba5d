import { fileURLToPath } from "node:url";
import { z } from "zod";
import { configFileError } from "../config/config.ts";
import { readYamlFile } from "../util/yaml-file.ts";
import { DetectionOptionsSchema } from "./verdict.ts";

export const DriftPolicySchema = z
  .object({
    window: z
      .object({
        size: z.number().int().min(10).max(100_000).default(500),
        minSize: z.number().int().min(10).default(100),
        maxSeconds: z.number().positive().default(3600),
      })
      .strict()
      .refine((w) => w.minSize <= w.size, "minSize cannot exceed size")
      .prefault({}),
    detection: DetectionOptionsSchema.prefault({}),
  })
  .strict();

export type DriftPolicy = z.output<typeof DriftPolicySchema>;

export const DEFAULT_DRIFT_POLICY = fileURLToPath(new URL("./drift-policy.yaml", import.meta.url));

export async function loadDriftPolicy(
  path: string = DEFAULT_DRIFT_POLICY,
): Promise<{ policy: DriftPolicy; digest: string }> {
  const { value, digest } = await readYamlFile(path, DriftPolicySchema, "drift policy", configFileError);
  return { policy: value, digest };
}
