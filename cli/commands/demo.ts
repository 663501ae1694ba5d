import type { Command } from "commander";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DatasetInvalidError, versionDataset, type VersionResult } from "../../core/datasets/version.ts";
import { catchUpLineage } from "../../core/lineage/emit.ts";
import { getAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import { listVersions, type ModelVersion } from "../../core/registry/model-version.ts";
import { loadPolicy } from "../../core/registry/policy.ts";
import { promote } from "../../core/registry/promote.ts";
import type { Runtime } from "../../core/config/runtime.ts";
import { configHash, loadTrainConfig, REFERENCE_CONFIG, type TrainConfig } from "../../trainer/config.ts";
import { OnnxEvaluator } from "../../evaluation/onnx-evaluator.ts";
import { requestTraining } from "../../trainer/request.ts";
import { runTraining } from "../../trainer/run.ts";
import { withRuntime, type CliContext } from "../context.ts";
import { port, serveConsoleUntilStopped, UI_PORT } from "./ui.ts";
import { runLifecycle, type KeptServing } from "../demo/lifecycle.ts";
import { phaseProgress, trainingProgress } from "../progress.ts";
import { describeRecord, printReport } from "../report.ts";
import { SIGHTLINE_PROMOTION_POLICY } from "../../core/config/settings/functions.ts";

export const SAMPLE_DIR = fileURLToPath(new URL("../../data/sample", import.meta.url));
const DEMO_POLICY = fileURLToPath(new URL("../demo/promotion-policy.yaml", import.meta.url));
const MODEL = "fmnist";
const STEPS = 6;

/**
 * The whole lifecycle on the embedded default: version and validate the bundled sample, train a model, gate and
 * promote it; serve it and send held-out images; shift the traffic so drift starts a retraining on newly labelled
 * shifted data, which the gate promotes and serving swaps to with no failed request; show and verify the lineage of
 * a served prediction; write an HTML report. A second run reuses what exists.
 */
export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command("demo")
    .description("run the lifecycle on the bundled Fashion-MNIST sample, on this machine")
    .option("--data <dir>", "dataset folder to use instead of the bundled sample", SAMPLE_DIR)
    .option("--epochs <n>", "training epochs (the first model and the retraining)", "3")
    .option("--port <n>", "port of the inference API (0 picks a free one)", "0")
    .option("--keep-serving", "leave the API and the functions running at the end, until Ctrl-C")
    .option(
      "--ui [port]",
      `at the end, open the console over the demo's state and keep it up until Ctrl-C (port ${UI_PORT})`,
      port,
    )
    .option("--verbose", "also print the training runs' structured log lines (always kept in their logs)")
    .action(
      async (opts: {
        data: string;
        epochs: string;
        port: string;
        keepServing?: boolean;
        verbose?: boolean;
        ui?: number | true;
      }) =>
        withRuntime(ctx, async (rt) => {
          ctx.out(`Sightline demo — state in ${rt.config.home}`);

          ctx.out(`\n[1/${STEPS}] version and validate the dataset in ${opts.data}`);
          const progress = phaseProgress(ctx.log);
          let result: VersionResult;
          try {
            result = await versionDataset(rt, opts.data, { onProgress: (phase, d, t) => progress.update(phase, d, t) });
          } catch (err) {
            if (err instanceof DatasetInvalidError) printReport(ctx, err.report);
            throw err;
          } finally {
            progress.stop();
          }
          const { record, created, report } = result;
          if (report) printReport(ctx, report);
          ctx.out(`${created ? "Registered" : "Reused"} dataset ${record.id}`);
          ctx.out(describeRecord(record));

          ctx.out(
            `\n[2/${STEPS}] train the reference CNN on it (${opts.epochs} epochs, TensorFlow.js on wasm), gate it, promote it`,
          );
          const config = await loadTrainConfig(REFERENCE_CONFIG, { epochs: Number(opts.epochs) });
          const version = await trainFirstModel(rt, ctx, record.id, config, opts.verbose === true);
          ctx.out(
            `  test accuracy ${version.metrics.accuracy?.toFixed(4)}, macro-F1 ${version.metrics.macro_f1?.toFixed(4)} (chance: ${(1 / record.classes.length).toFixed(2)})`,
          );

          const production = await getAlias(rt.meta, MODEL, PRODUCTION);
          if (production) {
            ctx.out(`${MODEL}:${production.version} is already in production`);
          } else {
            const { policy, digest, path } = await loadPolicy(SIGHTLINE_PROMOTION_POLICY.read(ctx.env) ?? DEMO_POLICY);
            const decision = await promote(rt, {
              name: MODEL,
              version: version.version,
              actor: ctx.actor,
              reason: "demo",
              policy,
              policyDigest: digest,
              evaluator: new OnnxEvaluator(rt),
            });
            for (const r of decision.rules)
              ctx.out(`  ${r.passed ? "pass" : "FAIL"}  ${r.rule.padEnd(22)} ${r.detail}`);
            ctx.out(
              `${decision.outcome === "promoted" ? `Promoted ${MODEL}:${version.version} to production` : `Not promoted: ${decision.outcome}`} (policy ${path})`,
            );
          }

          await catchUpLineage(rt, ctx.env);
          if ((await getAlias(rt.meta, MODEL, PRODUCTION)) === undefined)
            ctx.fail(`${MODEL} has no production version; the demo cannot go on`);

          const kept = await runLifecycle(
            rt,
            ctx,
            {
              model: MODEL,
              sample: opts.data,
              datasetId: record.id,
              epochs: Number(opts.epochs),
              port: Number(opts.port),
              keepServing: opts.keepServing === true,
              handOverServing: opts.ui !== undefined,
              verbose: opts.verbose === true,
              promotionPolicy: SIGHTLINE_PROMOTION_POLICY.read(ctx.env) ?? DEMO_POLICY,
            },
            (n, title) => ctx.out(`\n[${n}/${STEPS}] ${title}`),
          );

          printNext(ctx);
          if (opts.ui !== undefined) await consoleBeside(rt, ctx, opts.ui === true ? UI_PORT : opts.ui, kept);
        }),
    );
}

/** `--ui`: the console over the demo's state, with the demo's inference API for its Predict page, until Ctrl-C. */
async function consoleBeside(rt: Runtime, ctx: CliContext, port: number, kept: KeptServing | undefined): Promise<void> {
  if (kept) ctx.out(`\nServing stays up at ${kept.url} for the console's Predict page; Ctrl-C stops both.`);
  try {
    await serveConsoleUntilStopped(
      rt,
      ctx,
      { host: "127.0.0.1", port, ...(kept ? { servingUrl: kept.url } : {}) },
      kept?.stop,
    );
  } finally {
    await kept?.stop();
  }
}

/** The demo's first model: reused when this dataset and config trained one before, else trained here. */
async function trainFirstModel(
  rt: Runtime,
  ctx: CliContext,
  datasetId: string,
  config: TrainConfig,
  verbose: boolean,
): Promise<ModelVersion> {
  const hash = configHash(config);
  const existing = (await listVersions(rt.meta, MODEL)).find((v) => v.datasetId === datasetId && v.configHash === hash);
  if (existing) {
    ctx.out(`Reused ${MODEL}:${existing.version}, trained earlier on this dataset with this config`);
    return existing;
  }
  const requestId = await requestTraining(rt.bus, {
    model: MODEL,
    datasetId,
    config,
    trigger: "demo",
    reason: "sightline demo",
  });
  // The run's structured lines go to a log beside the jobs' logs; the demo prints one line per epoch.
  const logFile = join(rt.config.home, "jobs", `demo-${requestId}.log`);
  const bars = trainingProgress({
    logFile,
    verbose,
    onEpoch: (e) =>
      ctx.out(
        `  epoch ${e.epoch}/${config.epochs}: loss ${e.loss.toFixed(4)}, accuracy ${e.accuracy.toFixed(4)}, validation ${e.valAccuracy?.toFixed(4) ?? "—"}`,
      ),
  });
  try {
    const { version } = await runTraining(
      rt,
      { requestId, model: MODEL, datasetId, config, actor: ctx.actor, tags: { trigger: "demo" } },
      bars.hooks,
    );
    ctx.out(`Registered ${MODEL}:${version.version} as ${MODEL}@candidate (training log: ${logFile})`);
    return version;
  } finally {
    bars.stop();
  }
}

/** The commands to try next. */
function printNext(ctx: CliContext): void {
  ctx.out("\nNext:");
  ctx.out(`  npx sightline models show ${MODEL}                 npx sightline drift report ${MODEL}`);
  ctx.out(
    `  npx sightline lineage model ${MODEL}@production    npx sightline serve    (then curl -F file=@image.png http://127.0.0.1:8080/predict)`,
  );
  ctx.out(`  npx sightline rollback ${MODEL} --reason "…"        docs/deploy-gcp.md to run it on Google Cloud`);
  ctx.out(
    `  npx sightline ui    (the console in the browser at http://127.0.0.1:${UI_PORT}/; \`npm run demo -- --ui\` leaves it up)`,
  );
}
