#!/usr/bin/env node
// The training Job's container command: everything comes from the environment (the GKE Job template sets it).
//   node trainer/main.ts          one whole run: the built-in trainer, or a contract trainer's command (SIGHTLINE_CONTRACT_JOB)
//   node trainer/main.ts stage    GKE, before a contract trainer's image runs: stage its data (and production's model)
//   node trainer/main.ts ingest   GKE, after it: evaluate, profile and register what it wrote
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig } from "../core/config/config.ts";
import { openRuntime } from "../core/config/runtime.ts";
import { readTrainerJobEnv } from "../core/config/settings/trainer-job.ts";
import { stageDataset } from "../core/datasets/stage.ts";
import { METRICS_FILE, MetricsLineSchema, runLayout, type MetricsLine } from "../core/jobs/trainer-contract.ts";
import { createLogger } from "../core/telemetry/logger.ts";
import { loadTrainConfig } from "./config.ts";
import { ingestModel } from "./contract/ingest.ts";
import { recordIngested, recordStaged } from "./contract/job-run-record.ts";
import { runContractTraining, stageInitModel } from "./contract/run.ts";
import { publishFailed } from "./register-run.ts";
import { jobTags } from "./job-tags.ts";
import { runTraining } from "./run.ts";

const STAGED_AT = "staged-at";
const log = createLogger({ component: "trainer" });
const mode = process.argv[2] ?? "run";
const env = readTrainerJobEnv(process.env);
if (!env.ok || !["run", "stage", "ingest"].includes(mode)) {
  log.error("invalid trainer environment", {
    detail: env.ok ? `unknown mode ${mode}: run, stage or ingest` : env.issues.join("\n"),
  });
  process.exit(78);
}
const e = env.value;
const config = loadConfig();
const rt = await openRuntime(config, log);
const request = { requestId: e.requestId, model: e.model, datasetId: e.datasetId, actor: "trainer" };
// What asked for the job, handed over by its runner: every run of a Job carries it, as runs started in-process do.
const tags = jobTags(e);
try {
  const job = e.contractJob;
  if (mode !== "run" && !job) throw new Error(`mode ${mode} needs SIGHTLINE_CONTRACT_JOB`);
  if (job && mode === "stage") {
    const layout = runLayout(e.runRoot);
    await stageDataset(rt, request.datasetId, layout);
    // The trainer's own image may not create them (Vertex gives them existing).
    await Promise.all(
      [layout.modelDir, layout.checkpointDir, layout.tensorboardDir].map((d) => mkdir(d, { recursive: true })),
    );
    if (job.fineTune) await stageInitModel(rt, request.model, layout.initModel);
    // When the trainer container starts: the ingest container measures the training time from it.
    await writeFile(join(layout.root, STAGED_AT), new Date().toISOString());
    await recordStaged(rt, job, { ...request, tags }, e.gitCommit ?? null, log);
    log.info("staged", { dataDir: layout.dataDir, runId: job.runId });
  } else if (job && mode === "ingest") {
    const layout = runLayout(e.runRoot);
    const history = await metricsLines(join(layout.modelDir, METRICS_FILE));
    const trainingSeconds = await secondsSince(join(layout.root, STAGED_AT));
    const tracked = { gitCommit: e.gitCommit ?? null, history, trainingSeconds, started: performance.now() };
    const evaluateSeconds = () => (performance.now() - tracked.started) / 1000;
    try {
      const { version, card } = await ingestModel(rt, {
        request,
        runId: job.runId,
        modelDir: layout.modelDir,
        trainer: {
          kind: "image",
          ...(job.trainerName ? { name: job.trainerName } : {}),
          image: job.trainer.image!,
          args: job.args,
        },
        seed: job.seed,
        gitCommit: e.gitCommit ?? null,
        image: job.trainer.image ?? null,
        history,
        trainingSeconds,
        trainImages: (await readFile(layout.jsonl.training, "utf8")).split("\n").filter(Boolean).length,
      });
      await recordIngested(
        rt,
        job,
        { ...request, tags },
        { ...tracked, evaluateSeconds: evaluateSeconds(), version, card },
        log,
      );
      log.info("registered", { model: version.name, version: version.version, metrics: version.metrics });
    } catch (err) {
      await recordIngested(rt, job, { ...request, tags }, { ...tracked, evaluateSeconds: evaluateSeconds(), err }, log);
      await publishFailed(rt, request, job.runId, err, log);
      throw err;
    }
  } else if (job) {
    const { version } = await runContractTraining(
      rt,
      {
        ...request,
        trainer: job.trainer,
        ...(job.trainerName ? { trainerName: job.trainerName } : {}),
        args: job.args,
        seed: job.seed,
        fineTune: job.fineTune,
        home: config.home,
        runId: job.runId,
        tags,
        ...(e.gitCommit ? { gitCommit: e.gitCommit } : {}),
      },
      {
        onPhase: (phase, detail) => log.info(`phase ${phase}`, { phase, ...detail }),
        onMetrics: (line) => log.info("trainer metrics", line),
      },
    );
    log.info("registered", { model: version.name, version: version.version, metrics: version.metrics });
  } else {
    const trainConfig = await loadTrainConfig(e.trainConfig, { epochs: e.epochs, limit: e.limit });
    let lastLogged = 0;
    const { version } = await runTraining(
      rt,
      // Without SIGHTLINE_GIT_COMMIT the run reads the commit of the checkout it runs in.
      {
        ...request,
        config: trainConfig,
        fineTune: e.fineTune,
        ...(e.gitCommit ? { gitCommit: e.gitCommit } : {}),
        image: e.image ?? null,
        tags,
      },
      {
        onPhase: (phase, detail) => log.info(`phase ${phase}`, { phase, ...detail }),
        onBatch: (p) => {
          // A line every 10 s keeps Cloud Logging readable and still shows a live job.
          if (Date.now() - lastLogged < 10_000) return;
          lastLogged = Date.now();
          log.info("training", { ...p });
        },
        onEpoch: (stats) => log.info("epoch done", { ...stats }),
      },
    );
    log.info("registered", { model: version.name, version: version.version, metrics: version.metrics });
  }
} catch (err) {
  log.error("training failed", { err });
  process.exitCode = 1;
} finally {
  await rt.close();
}

/** The valid lines of a finished metrics.jsonl (none when the trainer wrote none). */
async function metricsLines(path: string): Promise<MetricsLine[]> {
  const text = await readFile(path, "utf8").catch(() => "");
  return text.split("\n").flatMap((line) => {
    try {
      const parsed = MetricsLineSchema.safeParse(JSON.parse(line));
      return parsed.success ? [parsed.data] : [];
    } catch {
      return [];
    }
  });
}

/** Seconds since the time written in a file (0 when it is missing: the card then shows no training speed). */
async function secondsSince(path: string): Promise<number> {
  const at = Date.parse(await readFile(path, "utf8").catch(() => ""));
  return Number.isFinite(at) ? Math.max(0, (Date.now() - at) / 1000) : 0;
}
