import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { openJobRunner, type Runtime } from "../../core/config/runtime.ts";
import { Datasets, versionDataset } from "../../core/datasets/version.ts";
import { isDatasetId } from "../../core/ids.ts";
import { newRunId } from "../../core/jobs/run-record.ts";
import { TrainerArgValue, type TrainerArgs } from "../../core/jobs/trainer-contract.ts";
import {
  adHocTrainer,
  BUILTIN_TRAINER,
  loadTrainers,
  trainerNamed,
  type TrainerDefinition,
} from "../../core/jobs/trainers.ts";
import type { ModelCard } from "../../core/registry/model-card.ts";
import type { ModelVersion } from "../../core/registry/model-version.ts";
import { loadTrainConfig, REFERENCE_CONFIG } from "../../trainer/config.ts";
import { runContractTraining } from "../../trainer/contract/run.ts";
import { requestTraining } from "../../trainer/request.ts";
import { runTraining } from "../../trainer/run.ts";
import { withRuntime, type CliContext } from "../context.ts";
import { CliExit, EXIT } from "../exit-codes.ts";
import { isDirectory, positiveInt } from "../options.ts";
import { trainingProgress } from "../progress.ts";
import { SIGHTLINE_TRAINER_IMAGE, SIGHTLINE_TRAINERS } from "../../core/config/settings/functions.ts";
import { SIGHTLINE_GIT_COMMIT } from "../../core/config/settings/trainer-job.ts";

const nonNegativeInt = (v: string): number => (v === "0" ? 0 : positiveInt(v));

/** `--arg key=value`, repeatable; a value that parses as JSON (number, boolean) is taken as that. */
function collectArg(text: string, previous: TrainerArgs = {}): TrainerArgs {
  const eq = text.indexOf("=");
  if (eq < 1) throw new InvalidArgumentError("expected key=value");
  const raw = text.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // a plain string
  }
  const parsed = TrainerArgValue.safeParse(value);
  return { ...previous, [text.slice(0, eq)]: parsed.success ? parsed.data : raw };
}

interface TrainOptions {
  dataset: string;
  model: string;
  config?: string;
  epochs?: number;
  limit?: number;
  seed?: number;
  json?: boolean;
  command?: string;
  image?: string;
  trainer?: string;
  trainers?: string;
  arg?: TrainerArgs;
  timeout?: number;
  fineTune?: boolean;
}

export function registerTrain(program: Command, ctx: CliContext): void {
  program
    .command("train")
    .description(
      "train a model on a dataset (the built-in trainer, or your own on the trainer contract), evaluate it, and register it as the model's candidate",
    )
    .requiredOption("--dataset <id|dir>", "a registered dataset id, or a folder (versioned and validated first)")
    .requiredOption("--model <name>", "model name (lower-case letters, digits, dashes)")
    .option("--config <file>", `built-in trainer: training config (YAML; default ${REFERENCE_CONFIG})`)
    .option(
      "--epochs <n>",
      "built-in: override the config's epochs; contract trainers: passed as --epochs",
      positiveInt,
    )
    .option("--limit <n>", "built-in trainer: train on at most N training images (0 = all)", nonNegativeInt)
    .option("--seed <n>", "override the seed (SIGHTLINE_SEED for contract trainers)", nonNegativeInt)
    .option(
      "--command <cmdline>",
      'your trainer, run here as a child process on the trainer contract (e.g. "python3 train.py")',
    )
    .option("--image <ref>", "your trainer's container image (REPO@sha256:…), run as a GKE Job")
    .option("--trainer <name>", "a trainer from the trainers file")
    .option("--trainers <file>", "the trainers file (default SIGHTLINE_TRAINERS)")
    .option(
      "--arg <key=value>",
      "a hyperparameter for a contract trainer (repeatable): SIGHTLINE_ARGS and --key value",
      collectArg,
    )
    .option("--timeout <seconds>", "stop a contract trainer after this long", positiveInt)
    .option("--fine-tune", "start from production's weights (contract trainers get SIGHTLINE_INIT_MODEL)")
    .option("--json", "print the registered version as JSON")
    .action(async (opts: TrainOptions) =>
      withRuntime(ctx, async (rt) => {
        const trainer = await pickTrainer(ctx, opts);
        const datasetId = isDatasetId(opts.dataset)
          ? opts.dataset
          : (await isDirectory(opts.dataset))
            ? (await versionDataset(rt, opts.dataset)).record.id
            : ctx.fail(`${opts.dataset} is neither a dataset id nor a folder`);
        const progress = trainingProgress();
        try {
          let result: { version: ModelVersion; card: ModelCard };
          if (!trainer.definition.builtin && !trainer.definition.command)
            return await submitImageJob(ctx, rt, opts, trainer, datasetId);
          if (trainer.definition.builtin) {
            const config = await loadTrainConfig(opts.config ?? trainer.definition.config ?? REFERENCE_CONFIG, {
              epochs: opts.epochs,
              limit: opts.limit,
              seed: opts.seed,
            });
            const requestId = await requestTraining(rt.bus, {
              model: opts.model,
              datasetId,
              config,
              trigger: "cli",
              reason: `sightline train by ${ctx.actor}`,
            });
            result = await runTraining(
              rt,
              {
                requestId,
                model: opts.model,
                datasetId,
                config,
                actor: ctx.actor,
                fineTune: opts.fineTune === true,
                tags: { trigger: "cli" },
              },
              progress.hooks,
            );
          } else {
            if (opts.config || opts.limit !== undefined)
              ctx.fail(
                "--config and --limit are the built-in trainer's; pass your trainer's own settings with --arg key=value",
                EXIT.usage,
              );
            const args = contractArgs(trainer.definition, opts);
            const requestId = await requestTraining(rt.bus, {
              model: opts.model,
              datasetId,
              config: { trainer: trainer.definition, args },
              trigger: "cli",
              reason: `sightline train by ${ctx.actor}`,
            });
            result = await runContractTraining(
              rt,
              {
                requestId,
                model: opts.model,
                datasetId,
                actor: ctx.actor,
                trainer: trainer.definition,
                ...(trainer.name ? { trainerName: trainer.name } : {}),
                args,
                seed: opts.seed ?? 0,
                fineTune: opts.fineTune === true,
                home: rt.config.home,
                tags: { trigger: "cli" },
                ...(SIGHTLINE_GIT_COMMIT.read(ctx.env) ? { gitCommit: SIGHTLINE_GIT_COMMIT.read(ctx.env) } : {}),
              },
              progress.contractHooks,
            );
          }
          progress.stop();
          const { version, card } = result;
          if (opts.json) return ctx.out(JSON.stringify({ ...version, imagesPerSecond: card.imagesPerSecond }, null, 2));
          ctx.out(`registered ${version.name}:${version.version} as ${version.name}@candidate (run ${version.runId})`);
          ctx.out(
            `  test accuracy ${version.metrics.accuracy?.toFixed(4)}  macro-F1 ${version.metrics.macro_f1?.toFixed(4)}  on ${datasetId.slice(0, 12)}…`,
          );
          ctx.out(
            `  trained at ${card.imagesPerSecond.toFixed(0)} img/s on ${card.backend}, ${card.trainingSeconds.toFixed(1)} s`,
          );
          ctx.out(`  model ${version.modelDigest}`);
          ctx.out(`next: npx sightline promote ${version.name} ${version.version}`);
        } finally {
          progress.stop();
        }
      }),
    );
}

/** A contract trainer's args: its defaults, then --epochs, then each --arg. */
function contractArgs(definition: TrainerDefinition, opts: TrainOptions): TrainerArgs {
  return { ...definition.args, ...(opts.epochs !== undefined ? { epochs: opts.epochs } : {}), ...opts.arg };
}

/**
 * A trainer that is only an image runs as a GKE Job (SIGHTLINE_JOBS=k8s://NAMESPACE): submitted here, registered by
 * the Job's ingest container when it ends (`sightline models show` then lists it).
 */
async function submitImageJob(
  ctx: CliContext,
  rt: Runtime,
  opts: TrainOptions,
  trainer: { definition: TrainerDefinition; name?: string },
  datasetId: string,
): Promise<void> {
  if (rt.config.jobs.kind !== "k8s")
    ctx.fail(
      "an image trainer runs as a GKE Job: set SIGHTLINE_JOBS=k8s://NAMESPACE (and SIGHTLINE_TRAINER_IMAGE), or give --command to run it here",
      EXIT.usage,
    );
  const dataset = await Datasets.get(rt.meta, datasetId);
  if (!dataset) ctx.fail(`dataset ${datasetId} is not registered`);
  const args = contractArgs(trainer.definition, opts);
  const trainerImage = SIGHTLINE_TRAINER_IMAGE.read(ctx.env);
  const jobs = await openJobRunner(rt.config.jobs, {
    config: rt.config,
    meta: rt.meta,
    log: ctx.log,
    ...(trainerImage ? { trainerImage } : {}),
  });
  try {
    const requestId = await requestTraining(rt.bus, {
      model: opts.model,
      datasetId,
      config: { trainer: trainer.definition, args },
      trigger: "cli",
      reason: `sightline train by ${ctx.actor}`,
    });
    const contract = {
      ...(trainer.name ? { trainerName: trainer.name } : {}),
      trainer: trainer.definition,
      args,
      seed: opts.seed ?? 0,
      fineTune: opts.fineTune === true,
      classes: dataset.classes,
      runId: newRunId(),
    };
    const { name } = await jobs.submit({
      requestId,
      model: opts.model,
      datasetId,
      reason: `sightline train by ${ctx.actor}`,
      trigger: "cli",
      contract,
    });
    if (opts.json) return ctx.out(JSON.stringify({ job: name, requestId, runId: contract.runId }, null, 2));
    ctx.out(`submitted Job ${name} (request ${requestId}, run ${contract.runId}): ${trainer.definition.image}`);
    ctx.out(
      `  its ingest container registers ${opts.model}@candidate when the trainer succeeds; then: npx sightline models show ${opts.model}`,
    );
  } finally {
    await jobs.close();
  }
}

/** --command, --image or --trainer NAME; the built-in trainer when none is given. */
async function pickTrainer(
  ctx: CliContext,
  opts: TrainOptions,
): Promise<{ definition: TrainerDefinition; name?: string }> {
  if (opts.trainer && (opts.command || opts.image))
    ctx.fail("give --trainer NAME, or --command/--image, not both", EXIT.usage);
  try {
    if (opts.command || opts.image) {
      return { definition: adHocTrainer({ command: opts.command, image: opts.image, timeout: opts.timeout }) };
    }
    const trainers = await loadTrainers(opts.trainers ?? SIGHTLINE_TRAINERS.read(ctx.env));
    const name = opts.trainer ?? BUILTIN_TRAINER;
    const definition = trainerNamed(trainers, name);
    return { definition: opts.timeout ? { ...definition, timeout: opts.timeout } : definition, name };
  } catch (err) {
    if (err instanceof CliExit) throw err;
    return ctx.fail((err as Error).message, EXIT.config);
  }
}
