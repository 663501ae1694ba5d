#!/usr/bin/env node
// The training Job's container command: everything comes from the environment (the GKE Job template sets it).
//   node trainer/main.ts          one whole run: the built-in trainer, or a contract trainer's command (SIGHTLINE_CONTRACT_JOB)
//   node trainer/main.ts stage    GKE, before a contract trainer's image runs: stage its data (and production's model)
//   node trainer/main.ts ingest   GKE, after it: evaluate, profile and register what it wrote
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { loadConfig } from "../core/config/config.ts";
import { openRuntime } from "../core/config/runtime.ts";
import { stageDataset } from "../core/datasets/stage.ts";
import { METRICS_FILE, MetricsLineSchema, runLayout, type MetricsLine } from "../core/jobs/trainer-contract.ts";
import { ContractJobSchema } from "../core/jobs/trainers.ts";
import { createLogger } from "../core/telemetry/logger.ts";
import { loadTrainConfig } from "./config.ts";
import { ingestModel } from "./contract/ingest.ts";
import { recordIngested, recordStaged } from "./contract/job-run-record.ts";
import { runContractTraining, stageInitModel } from "./contract/run.ts";
import { publishFailed } from "./register-run.ts";
import { runTraining } from "./run.ts";

const contractJob = z.string().transform((s, ctx) => {
  const parsed = ContractJobSchema.safeParse(JSON.parse(s));
  if (parsed.success) return parsed.data;
  ctx.addIssue({ code: "custom", message: z.prettifyError(parsed.error) });
  return z.NEVER;
});

const Env = z.object({
  SIGHTLINE_DATASET: z.string().regex(/^[0-9a-f]{64}$/, "a 64-hex dataset id"),
  SIGHTLINE_MODEL: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "a model name"),
  SIGHTLINE_REQUEST_ID: z.string().min(1),
  SIGHTLINE_TRAIN_CONFIG: z.string().optional(),
  SIGHTLINE_EPOCHS: z.coerce.number().int().positive().optional(),
  SIGHTLINE_LIMIT: z.coerce.number().int().nonnegative().optional(),
  SIGHTLINE_IMAGE: z.string().optional(),
  SIGHTLINE_GIT_COMMIT: z.string().optional(),
  SIGHTLINE_CONTRACT_JOB: contractJob.optional(),
  SIGHTLINE_FINE_TUNE: z.enum(["true", "false"]).optional(),
  /** GKE: the pod's volume shared by the stage, trainer and ingest containers. */
  SIGHTLINE_RUN_ROOT: z.string().default("/sightline"),
});

const STAGED_AT = "staged-at";
const log = createLogger({ component: "trainer" });
const mode = process.argv[2] ?? "run";
const env = Env.safeParse(process.env);
if (!env.success || !["run", "stage", "ingest"].includes(mode)) {
  log.error("invalid trainer environment", { detail: env.success ? `unknown mode ${mode}: run, stage or ingest` : z.prettifyError(env.error) });
  process.exit(78);
}
const e = env.data;
const config = loadConfig();
const rt = await openRuntime(config, log);
const request = { requestId: e.SIGHTLINE_REQUEST_ID, model: e.SIGHTLINE_MODEL, datasetId: e.SIGHTLINE_DATASET, actor: "trainer" };
try {
  const job = e.SIGHTLINE_CONTRACT_JOB;
  if (mode !== "run" && !job) throw new Error(`mode ${mode} needs SIGHTLINE_CONTRACT_JOB`);
  if (job && mode === "stage") {
    const layout = runLayout(e.SIGHTLINE_RUN_ROOT);
    await stageDataset(rt, request.datasetId, layout);
    // The trainer's own image may not create them (Vertex gives them existing).
    await Promise.all([layout.modelDir, layout.checkpointDir, layout.tensorboardDir].map((d) => mkdir(d, { recursive: true })));
    if (job.fineTune) await stageInitModel(rt, request.model, layout.initModel);
    // When the trainer container starts: the ingest container measures the training time from it.
    await writeFile(join(layout.root, STAGED_AT), new Date().toISOString());
    await recordStaged(rt, job, request, e.SIGHTLINE_GIT_COMMIT ?? null, log);
    log.info("staged", { dataDir: layout.dataDir, runId: job.runId });
  } else if (job && mode === "ingest") {
    const layout = runLayout(e.SIGHTLINE_RUN_ROOT);
    const history = await metricsLines(join(layout.modelDir, METRICS_FILE));
    const trainingSeconds = await secondsSince(join(layout.root, STAGED_AT));
    const tracked = { gitCommit: e.SIGHTLINE_GIT_COMMIT ?? null, history, trainingSeconds, started: performance.now() };
    const evaluateSeconds = () => (performance.now() - tracked.started) / 1000;
    try {
      const { version, card } = await ingestModel(rt, {
        request,
        runId: job.runId,
        modelDir: layout.modelDir,
        trainer: { kind: "image", ...(job.trainerName ? { name: job.trainerName } : {}), image: job.trainer.image!, args: job.args },
        seed: job.seed,
        gitCommit: e.SIGHTLINE_GIT_COMMIT ?? null,
        image: job.trainer.image ?? null,
        history,
        trainingSeconds,
        trainImages: (await readFile(layout.jsonl.training, "utf8")).split("\n").filter(Boolean).length,
      });
      await recordIngested(rt, job, request, { ...tracked, evaluateSeconds: evaluateSeconds(), version, card }, log);
      log.info("registered", { model: version.name, version: version.version, metrics: version.metrics });
    } catch (err) {
      await recordIngested(rt, job, request, { ...tracked, evaluateSeconds: evaluateSeconds(), err }, log);
      await publishFailed(rt, request, job.runId, err, log);
      throw err;
    }
  } else if (job) {
    const { version } = await runContractTraining(
      rt,
      { ...request, trainer: job.trainer, ...(job.trainerName ? { trainerName: job.trainerName } : {}), args: job.args, seed: job.seed, fineTune: job.fineTune, home: config.home, runId: job.runId, ...(e.SIGHTLINE_GIT_COMMIT ? { gitCommit: e.SIGHTLINE_GIT_COMMIT } : {}) },
      { onPhase: (phase, detail) => log.info(`phase ${phase}`, { phase, ...detail }), onMetrics: (line) => log.info("trainer metrics", line) },
    );
    log.info("registered", { model: version.name, version: version.version, metrics: version.metrics });
  } else {
    const trainConfig = await loadTrainConfig(e.SIGHTLINE_TRAIN_CONFIG, { epochs: e.SIGHTLINE_EPOCHS, limit: e.SIGHTLINE_LIMIT });
    let lastLogged = 0;
    const { version } = await runTraining(
      rt,
      // Without SIGHTLINE_GIT_COMMIT the run reads the commit of the checkout it runs in.
      { ...request, config: trainConfig, fineTune: e.SIGHTLINE_FINE_TUNE === "true", ...(e.SIGHTLINE_GIT_COMMIT ? { gitCommit: e.SIGHTLINE_GIT_COMMIT } : {}), image: e.SIGHTLINE_IMAGE ?? null },
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
