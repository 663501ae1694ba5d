import { parse as parseShell } from "shell-quote";
import { z } from "zod";
import { configFileError } from "../config/config.ts";
import { readYamlFile } from "../util/yaml-file.ts";
import { TrainerArgsSchema } from "./trainer-contract.ts";
import { SightlineError } from "../errors.ts";

/** A reference that names exactly one image: anything before `@sha256:` is informative only. */
export const PINNED_IMAGE = /^[^\s@]+@sha256:[0-9a-f]{64}$/;

/** A command line, as one string (split like a POSIX shell, without running one) or as argv. */
const CommandSchema = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((c, ctx) => {
  if (Array.isArray(c)) return c;
  const words = parseShell(c);
  if (!words.every((w): w is string => typeof w === "string")) {
    ctx.addIssue({
      code: "custom",
      message: `${JSON.stringify(c)} uses shell operators (pipes, redirection, globs); give one program and its arguments`,
    });
    return z.NEVER;
  }
  return words;
});

/** Kubernetes quantities, as the API takes them. */
const Quantity = z
  .union([
    z.string().regex(/^[0-9]+(\.[0-9]+)?([mkMGTPE]i?)?$/, "a Kubernetes quantity such as 2, 500m or 4Gi"),
    z.number().positive(),
  ])
  .transform(String);

export const TrainerResourcesSchema = z
  .object({
    cpu: Quantity.optional(),
    memory: Quantity.optional(),
    /** `nvidia.com/gpu` to request; the Job then also gets `nodeSelector`. */
    gpu: z.number().int().positive().optional(),
    /** Where GPU (or other) trainers may run, e.g. `cloud.google.com/gke-accelerator: nvidia-l4`. */
    nodeSelector: z.record(z.string(), z.string()).optional(),
  })
  .strict();
export type TrainerResources = z.infer<typeof TrainerResourcesSchema>;

/**
 * One trainer: the built-in one, or a program on the trainer contract given as a `command` (run as a child process
 * on the embedded default) and/or an `image` (run as a GKE Job), with default arguments, resources and a timeout.
 */
export const TrainerDefinitionSchema = z
  .object({
    builtin: z.literal(true).optional(),
    /** The built-in trainer's training config (YAML path). */
    config: z.string().optional(),
    command: CommandSchema.optional(),
    /** Working directory of `command` (default: where sightline runs); its git commit goes into the model's lineage. */
    cwd: z.string().optional(),
    image: z.string().regex(PINNED_IMAGE, "pin the image by digest: REPOSITORY@sha256:<64 hex>").optional(),
    args: TrainerArgsSchema.default({}),
    resources: TrainerResourcesSchema.optional(),
    /** Seconds before the run is stopped and counted as failed. */
    timeout: z
      .number()
      .int()
      .positive()
      .max(7 * 24 * 3600)
      .default(4 * 3600),
  })
  .strict()
  .refine(
    (t) => (t.builtin === true) !== (t.command !== undefined || t.image !== undefined),
    "a trainer is either `builtin: true` or has a `command` and/or an `image`",
  )
  .refine(
    (t) => t.config === undefined || t.builtin === true,
    "`config` is for the built-in trainer; give a contract trainer `args`",
  );
export type TrainerDefinition = z.output<typeof TrainerDefinitionSchema>;

const TRAINER_NAME = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lower-case letters, digits and dashes");
export const TrainersFileSchema = z.object({ trainers: z.record(TRAINER_NAME, TrainerDefinitionSchema) }).strict();

export const BUILTIN_TRAINER = "builtin";

/** The trainers file (SIGHTLINE_TRAINERS or `--trainers`); `builtin` is always defined. */
export async function loadTrainers(path: string | undefined): Promise<Record<string, TrainerDefinition>> {
  const defined =
    path === undefined
      ? {}
      : (await readYamlFile(path, TrainersFileSchema, "trainers file", configFileError)).value.trainers;
  return { [BUILTIN_TRAINER]: TrainerDefinitionSchema.parse({ builtin: true }), ...defined };
}

export function trainerNamed(trainers: Record<string, TrainerDefinition>, name: string): TrainerDefinition {
  const found = trainers[name];
  if (!found)
    throw new SightlineError(
      "config",
      "trainer_undefined",
      `no trainer named ${JSON.stringify(name)}; defined: ${Object.keys(trainers).join(", ")}`,
    );
  return found;
}

/** A trainer given on the command line: `--command "python3 train.py"` or `--image REPO@sha256:…`. */
export function adHocTrainer(input: { command?: string; image?: string; timeout?: number }): TrainerDefinition {
  const parsed = TrainerDefinitionSchema.safeParse(
    Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  );
  if (!parsed.success)
    throw new SightlineError("config", "trainer_invalid", `invalid trainer: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * A contract trainer's run as a job carries it (SIGHTLINE_CONTRACT_JOB for the job process; the GKE Job's
 * containers): everything the runners need to start it without reading the stores first.
 */
export const ContractJobSchema = z.object({
  trainerName: z.string().optional(),
  trainer: TrainerDefinitionSchema,
  args: TrainerArgsSchema,
  seed: z.number().int().nonnegative(),
  fineTune: z.boolean(),
  /** The dataset's classes in label order (SIGHTLINE_CLASSES). */
  classes: z.array(z.string().min(1)).min(2),
  runId: z.string().min(1),
});
export type ContractJob = z.output<typeof ContractJobSchema>;
