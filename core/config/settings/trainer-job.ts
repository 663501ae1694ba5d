import { z } from "zod";
import type { TrainingJobSpec } from "../../jobs/job-runner.ts";
import { ContractJobSchema } from "../../jobs/trainers.ts";
import { defineEnv, type Env, type EnvVar, type ReadOptions } from "../env.ts";

// What a training job's process (trainer/main.ts) is handed: the per-job values, which both job runners write from
// a TrainingJobSpec (core/jobs/trainer-env.ts) and the trainer reads back, and what the runner adds for every job.

const contractJob = z.string().transform((s, ctx) => {
  const parsed = ContractJobSchema.safeParse(JSON.parse(s));
  if (parsed.success) return parsed.data;
  ctx.addIssue({ code: "custom", message: z.prettifyError(parsed.error) });
  return z.NEVER;
});

export const SIGHTLINE_DATASET = defineEnv({
  name: "SIGHTLINE_DATASET",
  schema: z.string().regex(/^[0-9a-f]{64}$/, "a 64-hex dataset id"),
  doc: "set per training job: the dataset id to train on",
  components: ["trainer"],
});
export const SIGHTLINE_TRAIN_MODEL_NAME = defineEnv({
  name: "SIGHTLINE_TRAIN_MODEL_NAME",
  schema: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "a model name"),
  doc: "set per training job: the model name (no alias or version) the new version is registered under",
  components: ["trainer"],
  deprecatedAliases: ["SIGHTLINE_MODEL"],
});
export const SIGHTLINE_REQUEST_ID = defineEnv({
  name: "SIGHTLINE_REQUEST_ID",
  schema: z.string().min(1),
  doc: "set per training job: the `training.requested` request id",
  components: ["trainer"],
});
export const SIGHTLINE_TRAIN_CONFIG = defineEnv({
  name: "SIGHTLINE_TRAIN_CONFIG",
  schema: z.string(),
  defaultDoc: "the reference CNN",
  doc: "set per training job: the built-in trainer's config YAML",
  components: ["trainer"],
});
export const SIGHTLINE_EPOCHS = defineEnv({
  name: "SIGHTLINE_EPOCHS",
  schema: z.coerce.number().int().positive(),
  defaultDoc: "the config's",
  doc: "set per training job: epochs, overriding the config",
  components: ["trainer"],
});
export const SIGHTLINE_LIMIT = defineEnv({
  name: "SIGHTLINE_LIMIT",
  schema: z.coerce.number().int().nonnegative(),
  defaultDoc: "all",
  doc: "set per training job: train on at most this many images",
  components: ["trainer"],
});
export const SIGHTLINE_FINE_TUNE = defineEnv({
  name: "SIGHTLINE_FINE_TUNE",
  schema: z.enum(["true", "false"]),
  defaultDoc: "`false`",
  doc: "set per training job: start from production's weights",
  components: ["trainer"],
});
export const SIGHTLINE_CONTRACT_JOB = defineEnv({
  name: "SIGHTLINE_CONTRACT_JOB",
  schema: contractJob,
  doc: "set per training job for a contract trainer: its trainer, args, seed and run (JSON)",
  components: ["trainer"],
});
export const SIGHTLINE_TRAIN_TRIGGER = defineEnv({
  name: "SIGHTLINE_TRAIN_TRIGGER",
  schema: z.enum(["cli", "ci", "retrain", "demo"]),
  defaultDoc: "none recorded",
  doc: "set per training job: what asked for it (`retrain`, `ci`, `cli`), recorded as the run's `trigger` tag",
  components: ["trainer"],
});
export const SIGHTLINE_DRIFT_REPORT_ID = defineEnv({
  name: "SIGHTLINE_DRIFT_REPORT_ID",
  schema: z.string().min(1),
  defaultDoc: "none",
  doc: "set per retraining job: the drift report it answers, recorded as the run's `drift_report` tag",
  components: ["trainer"],
});
export const SIGHTLINE_RUN_ROOT = defineEnv({
  name: "SIGHTLINE_RUN_ROOT",
  schema: z.string(),
  default: "/sightline",
  doc: "a contract Job's volume shared by its stage, trainer and ingest containers",
  components: ["trainer"],
});
export const SIGHTLINE_TRAIN_JOB_IMAGE = defineEnv({
  name: "SIGHTLINE_TRAIN_JOB_IMAGE",
  schema: z.string(),
  defaultDoc: "none recorded",
  doc: "set by the GKE runner in each training Job: the image the Job runs, recorded on the model card",
  components: ["trainer"],
  deprecatedAliases: ["SIGHTLINE_IMAGE"],
});
export const SIGHTLINE_GIT_COMMIT = defineEnv({
  name: "SIGHTLINE_GIT_COMMIT",
  schema: z.string(),
  defaultDoc: "the checkout's `git` commit",
  doc: "the commit recorded for a training run (CD passes `GITHUB_SHA` to the Jobs)",
  components: ["trainer", "cli"],
});

/** One value the job runners derive from a TrainingJobSpec; `encode` undefined means the variable is not set. */
export interface JobSpecVariable {
  variable: EnvVar<unknown>;
  encode: (spec: JobSpecFields) => string | undefined;
}

/** What of a training job the environment carries (its `reason` goes to logs and labels only). */
export type JobSpecFields = Omit<TrainingJobSpec, "reason">;

/** The per-job variables, written by both runners and read by trainer/main.ts: the one definition of them. */
export const JOB_SPEC_VARIABLES: readonly JobSpecVariable[] = [
  { variable: SIGHTLINE_DATASET, encode: (s) => s.datasetId },
  { variable: SIGHTLINE_TRAIN_MODEL_NAME, encode: (s) => s.model },
  { variable: SIGHTLINE_REQUEST_ID, encode: (s) => s.requestId },
  { variable: SIGHTLINE_TRAIN_CONFIG, encode: (s) => s.configPath },
  { variable: SIGHTLINE_EPOCHS, encode: (s) => (s.epochs === undefined ? undefined : String(s.epochs)) },
  { variable: SIGHTLINE_LIMIT, encode: (s) => (s.limit === undefined ? undefined : String(s.limit)) },
  { variable: SIGHTLINE_FINE_TUNE, encode: (s) => (s.fineTune ? "true" : undefined) },
  {
    variable: SIGHTLINE_CONTRACT_JOB,
    encode: (s) => (s.contract === undefined ? undefined : JSON.stringify(s.contract)),
  },
  { variable: SIGHTLINE_TRAIN_TRIGGER, encode: (s) => s.trigger },
  { variable: SIGHTLINE_DRIFT_REPORT_ID, encode: (s) => s.driftReportId },
];

export const TRAINER_JOB_SETTINGS = [
  ...JOB_SPEC_VARIABLES.map((v) => v.variable),
  SIGHTLINE_RUN_ROOT,
  SIGHTLINE_TRAIN_JOB_IMAGE,
  SIGHTLINE_GIT_COMMIT,
] as const;

export interface TrainerJobEnv {
  datasetId: string;
  model: string;
  requestId: string;
  trainConfig: string | undefined;
  epochs: number | undefined;
  limit: number | undefined;
  fineTune: boolean;
  contractJob: z.output<typeof contractJob> | undefined;
  trigger: z.output<typeof SIGHTLINE_TRAIN_TRIGGER.schema> | undefined;
  driftReportId: string | undefined;
  runRoot: string;
  image: string | undefined;
  gitCommit: string | undefined;
}

const REQUIRED = new Set<EnvVar<unknown>>([SIGHTLINE_DATASET, SIGHTLINE_TRAIN_MODEL_NAME, SIGHTLINE_REQUEST_ID]);

/** trainer/main.ts's environment, every problem at once (the job's log then names them all). */
export function readTrainerJobEnv(
  env: Env,
  options?: ReadOptions,
): { ok: true; value: TrainerJobEnv } | { ok: false; issues: string[] } {
  const issues: string[] = [];
  const values = new Map<EnvVar<unknown>, unknown>();
  for (const v of TRAINER_JOB_SETTINGS) {
    const r = (v as EnvVar<unknown>).safeRead(env, options);
    if (!r.ok) issues.push(`${r.from}: ${r.issues.join("; ")}`);
    else if (r.value === undefined && REQUIRED.has(v)) issues.push(`${v.name}: required`);
    else values.set(v, r.value);
  }
  if (issues.length) return { ok: false, issues };
  const get = <T>(v: EnvVar<T>): T | undefined => values.get(v) as T | undefined;
  return {
    ok: true,
    value: {
      datasetId: get(SIGHTLINE_DATASET)!,
      model: get(SIGHTLINE_TRAIN_MODEL_NAME)!,
      requestId: get(SIGHTLINE_REQUEST_ID)!,
      trainConfig: get(SIGHTLINE_TRAIN_CONFIG),
      epochs: get(SIGHTLINE_EPOCHS),
      limit: get(SIGHTLINE_LIMIT),
      fineTune: get(SIGHTLINE_FINE_TUNE) === "true",
      contractJob: get(SIGHTLINE_CONTRACT_JOB),
      trigger: get(SIGHTLINE_TRAIN_TRIGGER),
      driftReportId: get(SIGHTLINE_DRIFT_REPORT_ID),
      runRoot: get(SIGHTLINE_RUN_ROOT)!,
      image: get(SIGHTLINE_TRAIN_JOB_IMAGE),
      gitCommit: get(SIGHTLINE_GIT_COMMIT),
    },
  };
}
