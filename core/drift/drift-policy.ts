import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { digestOf } from "../util/digest.ts";
import { DetectionOptionsSchema } from "./report.ts";

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

export async function loadDriftPolicy(path: string = DEFAULT_DRIFT_POLICY): Promise<{ policy: DriftPolicy; digest: string }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read drift policy ${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = DriftPolicySchema.safeParse(parseYaml(text) ?? {});
  if (!parsed.success) throw new Error(`drift policy ${path} is invalid: ${z.prettifyError(parsed.error)}`);
  return { policy: parsed.data, digest: digestOf(text) };
}
