import type { Command } from "commander";
import { versionDataset } from "../../core/datasets/version.ts";
import { loadTrainConfig, REFERENCE_CONFIG } from "../../trainer/config.ts";
import { requestTraining } from "../../trainer/request.ts";
import { runTraining } from "../../trainer/run.ts";
import { withRuntime, type CliContext } from "../context.ts";
import { isDirectory, positiveInt } from "../options.ts";
import { trainingProgress } from "../progress.ts";

const nonNegativeInt = (v: string): number => (v === "0" ? 0 : positiveInt(v));

interface TrainOptions {
  dataset: string;
  model: string;
  config: string;
  epochs?: number;
  limit?: number;
  seed?: number;
  json?: boolean;
}

export function registerTrain(program: Command, ctx: CliContext): void {
  program
    .command("train")
    .description("train a model on a dataset, evaluate it, export ONNX and register it as the model's candidate")
    .requiredOption("--dataset <id|dir>", "a registered dataset id, or a folder (versioned and validated first)")
    .requiredOption("--model <name>", "model name (lower-case letters, digits, dashes)")
    .option("--config <file>", "training config (YAML)", REFERENCE_CONFIG)
    .option("--epochs <n>", "override the config's epochs", positiveInt)
    .option("--limit <n>", "train on at most N training images (0 = all)", nonNegativeInt)
    .option("--seed <n>", "override the config's seed", nonNegativeInt)
    .option("--json", "print the registered version as JSON")
    .action(async (opts: TrainOptions) =>
      withRuntime(ctx, async (rt) => {
        const config = await loadTrainConfig(opts.config, { epochs: opts.epochs, limit: opts.limit, seed: opts.seed });
        const datasetId = /^[0-9a-f]{64}$/.test(opts.dataset) ? opts.dataset : (await isDirectory(opts.dataset)) ? (await versionDataset(rt, opts.dataset)).record.id : ctx.fail(`${opts.dataset} is neither a dataset id nor a folder`);
        const requestId = await requestTraining(rt.bus, { model: opts.model, datasetId, config, trigger: "cli", reason: `sightline train by ${ctx.actor}` });
        const progress = trainingProgress();
        try {
          const { version, card } = await runTraining(rt, { requestId, model: opts.model, datasetId, config, actor: ctx.actor }, progress.hooks);
          progress.stop();
          if (opts.json) return ctx.out(JSON.stringify({ ...version, imagesPerSecond: card.imagesPerSecond }, null, 2));
          ctx.out(`registered ${version.name}:${version.version} as ${version.name}@candidate (run ${version.runId})`);
          ctx.out(`  test accuracy ${version.metrics.accuracy?.toFixed(4)}  macro-F1 ${version.metrics.macro_f1?.toFixed(4)}  on ${datasetId.slice(0, 12)}…`);
          ctx.out(`  trained at ${card.imagesPerSecond.toFixed(0)} img/s on ${card.backend}, ${card.trainingSeconds.toFixed(1)} s`);
          ctx.out(`  model ${version.modelDigest}`);
          ctx.out(`next: npx sightline promote ${version.name} ${version.version}`);
        } finally {
          progress.stop();
        }
      }),
    );
}
