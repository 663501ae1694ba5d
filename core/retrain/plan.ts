import type { BlobStore } from "../blobs/blob-store.ts";
import { Datasets } from "../datasets/version.ts";
import type { TrainingJobSpec } from "../jobs/job-runner.ts";
import { newRunId } from "../jobs/run-record.ts";
import { BUILTIN_TRAINER, TrainerDefinitionSchema, type TrainerDefinition } from "../jobs/trainers.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { getAlias, PRODUCTION } from "../registry/aliases.ts";
import { parseModelCard, type TrainerIdentity } from "../registry/model-card.ts";
import { getVersion } from "../registry/model-version.ts";
import type { RetrainPolicy } from "./policy.ts";
import { SightlineError } from "../errors.ts";

export interface PlanDeps {
  meta: MetadataStore;
  /** Reads production's card, to retrain with the trainer that made it when the policy names none. */
  blobs?: BlobStore;
  policy: RetrainPolicy;
  /** The trainers file's trainers (with `builtin`). */
  trainers: Record<string, TrainerDefinition>;
}

/** How one model is retrained: the trainer's part of the job spec (the built-in trainer's config, or a contract job). */
export async function retrainJob(
  deps: PlanDeps,
  model: string,
  datasetId: string,
): Promise<Pick<TrainingJobSpec, "configPath" | "epochs" | "fineTune" | "contract">> {
  const choice = { ...deps.policy, ...deps.policy.models[model] };
  const mode = choice.mode ?? "scratch";
  const { name, definition } = choice.trainer
    ? { name: choice.trainer, definition: named(deps.trainers, choice.trainer) }
    : await productionTrainer(deps, model);
  if (definition.builtin) {
    const configPath = deps.policy.config ?? definition.config;
    return {
      ...(configPath ? { configPath } : {}),
      ...(deps.policy.epochs ? { epochs: deps.policy.epochs } : {}),
      ...(mode === "fine-tune" ? { fineTune: true } : {}),
    };
  }
  const dataset = await Datasets.get(deps.meta, datasetId);
  if (!dataset) throw new SightlineError("not_found", "dataset_not_found", `dataset ${datasetId} is not registered`);
  const args = { ...definition.args, ...(deps.policy.epochs ? { epochs: deps.policy.epochs } : {}) };
  return {
    contract: {
      ...(name ? { trainerName: name } : {}),
      trainer: definition,
      args,
      seed: 0,
      fineTune: mode === "fine-tune",
      classes: dataset.classes,
      runId: newRunId(),
    },
  };
}

function named(trainers: Record<string, TrainerDefinition>, name: string): TrainerDefinition {
  const found = trainers[name];
  if (!found)
    throw new SightlineError(
      "config",
      "retrain_trainer_undefined",
      `the retrain policy names trainer ${JSON.stringify(name)}, which the trainers file does not define (defined: ${Object.keys(trainers).join(", ")})`,
    );
  return found;
}

/** The trainer whose run produced production: by name when it has one, else rebuilt from the card's identity. */
async function productionTrainer(
  deps: PlanDeps,
  model: string,
): Promise<{ name?: string; definition: TrainerDefinition }> {
  const builtin = { name: BUILTIN_TRAINER, definition: named(deps.trainers, BUILTIN_TRAINER) };
  const production = await getAlias(deps.meta, model, PRODUCTION);
  if (!production || !deps.blobs) return builtin;
  const version = await getVersion(deps.meta, model, production.version);
  const identity: TrainerIdentity | undefined = parseModelCard(
    await deps.blobs.get(version.cardDigest),
    `${model}:${version.version}`,
  ).trainer;
  if (!identity || identity.kind === "builtin") return builtin;
  if (identity.name && deps.trainers[identity.name])
    return { name: identity.name, definition: deps.trainers[identity.name]! };
  const definition = TrainerDefinitionSchema.parse({
    ...(identity.command ? { command: identity.command } : {}),
    ...(identity.cwd ? { cwd: identity.cwd } : {}),
    ...(identity.image ? { image: identity.image } : {}),
    args: identity.args,
  });
  return identity.name ? { name: identity.name, definition } : { definition };
}
