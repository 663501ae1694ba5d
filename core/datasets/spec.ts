import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { SightlineError } from "../errors.ts";

export const SPEC_FILE = "dataset.yaml";

/** What a dataset declares about itself in `dataset.yaml` at its root; every field is optional. */
export const DatasetSpecSchema = z
  .object({
    name: z.string().min(1).optional(),
    /** Class names in label-index order; default the folder names, sorted. */
    classes: z.array(z.string().min(1)).min(2).optional(),
    image: z
      .object({
        width: z.number().int().positive(),
        height: z.number().int().positive(),
        channels: z.union([z.literal(1), z.literal(3), z.literal(4)]),
      })
      .strict()
      .optional(),
    validation: z
      .object({
        minPerClass: z.number().int().nonnegative().default(5),
        maxImbalance: z.number().min(1).default(10),
      })
      .strict()
      .prefault({}),
    /** Fractions carved out by content hash from files without a declared split. */
    splits: z
      .object({
        validation: z.number().min(0).max(0.5).default(0.1),
        test: z.number().min(0).max(0.5).default(0.1),
      })
      .strict()
      .prefault({}),
    license: z.string().optional(),
  })
  .strict();

export type DatasetSpec = z.infer<typeof DatasetSpecSchema>;

export async function readSpec(dir: string): Promise<DatasetSpec> {
  const path = join(dir, SPEC_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return DatasetSpecSchema.parse({});
    throw err;
  }
  const parsed = DatasetSpecSchema.safeParse(parseYaml(text) ?? {});
  if (!parsed.success)
    throw new SightlineError("invalid", "dataset_spec_invalid", `${path} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
