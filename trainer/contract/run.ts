import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { stageDataset } from "../../core/datasets/stage.ts";
import { lastLine } from "../../core/jobs/log-tail.ts";
import { HEARTBEAT_SECONDS, PhaseClock } from "../../core/jobs/run-recorder.ts";
import { flattenParams, putRun, versionArtefacts, type RunRecord } from "../../core/jobs/run-record.ts";
import {
  argvOf,
  contractEnv,
  METRICS_FILE,
  runLayout,
  TRAINER_ENV_NAMES,
  type MetricsLine,
  type TrainerArgs,
} from "../../core/jobs/trainer-contract.ts";
import type { TrainerDefinition } from "../../core/jobs/trainers.ts";
import { PRODUCTION, resolveAlias } from "../../core/registry/aliases.ts";
import type { ModelCard, TrainerIdentity } from "../../core/registry/model-card.ts";
import { getVersion, type ModelVersion } from "../../core/registry/model-version.ts";
import { gitState, newRunId, publishFailed, type RunRequest, type Runtime } from "../register-run.ts";
import { ingestModel } from "./ingest.ts";
import { runTrainerProcess } from "./process.ts";
import { SightlineError } from "../../core/errors.ts";

export interface ContractRunRequest extends RunRequest {
  /** A trainer with a `command` (this runs it as a child process). */
  trainer: TrainerDefinition;
  trainerName?: string;
  /** The trainer's default args with this run's overrides applied. */
  args: TrainerArgs;
  seed: number;
  /** Start from production's weights: SIGHTLINE_INIT_MODEL names its ONNX file. */
  fineTune: boolean;
  /** SIGHTLINE_HOME: runs live in runs/RUN_ID, staged datasets in staged/DATASET_ID. */
  home: string;
  /** Given by the Job (SIGHTLINE_GIT_COMMIT); else read from the command's working tree. */
  gitCommit?: string | null;
  /** Chosen by whoever submitted the job; a new one otherwise. */
  runId?: string;
  /** Recorded on the run (experiment tracking), e.g. `trigger`. */
  tags?: Record<string, string>;
}

export interface ContractHooks {
  onPhase?: (phase: "stage" | "train" | "evaluate", detail?: Record<string, unknown>) => void;
  onMetrics?: (line: MetricsLine) => void;
}

/** How often the run record takes in the metric lines that arrived (each write is one document). */
const RECORD_EVERY_MS = 2000;

/**
 * One run of a trainer on the trainer contract (docs/trainer-contract.md): stage the dataset as files, start the
 * trainer with the contract's environment, follow its metrics.jsonl into the run record, and once it exits 0,
 * evaluate and register what it wrote (ingest.ts). A trainer that fails, times out or writes no usable model
 * registers nothing and publishes `sightline.training.failed` with the reason.
 */
export async function runContractTraining(
  rt: Runtime,
  request: ContractRunRequest,
  hooks: ContractHooks = {},
): Promise<{ version: ModelVersion; card: ModelCard; runId: string }> {
  const { trainer } = request;
  if (!trainer.command)
    throw new SightlineError(
      "invalid",
      "trainer_needs_command",
      `trainer ${request.trainerName ?? ""} has no command to run on this machine${trainer.image ? ` (it has an image: run it on GKE, SIGHTLINE_JOBS=k8s://NAMESPACE)` : ""}`,
    );
  const runId = request.runId ?? newRunId();
  const log = rt.log.child({ runId, requestId: request.requestId, model: request.model });
  const layout = runLayout(join(request.home, "runs", runId), join(request.home, "staged", request.datasetId));
  const cwd = resolve(trainer.cwd ?? process.cwd());
  const git = gitState(cwd);
  const identity: TrainerIdentity = {
    kind: "command",
    ...(request.trainerName ? { name: request.trainerName } : {}),
    command: trainer.command,
    cwd,
    args: request.args,
    ...(git ? { dirty: git.dirty } : {}),
  };
  const logPath = join(layout.root, "trainer.log");
  // Record writes in order: an update still in flight must never land after the final one (async stores).
  let record$: Promise<void> = Promise.resolve();
  const clock = new PhaseClock();
  const record: RunRecord = {
    runId,
    requestId: request.requestId,
    model: request.model,
    datasetId: request.datasetId,
    trainer: identity,
    status: "running",
    startedAt: new Date().toISOString(),
    metrics: [],
    invalidMetricLines: 0,
    log: logPath,
    params: flattenParams(request.args),
    tags: runTags(request, git),
    heartbeatSeconds: HEARTBEAT_SECONDS,
  };
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    await mkdir(layout.root, { recursive: true });
    await putRun(rt.meta, record);
    // A trainer may write no metric line for long: the record is still written, so the run is not taken for lost.
    heartbeat = setInterval(() => {
      record$ = record$
        .then(() => putRun(rt.meta, record))
        .catch((err: unknown) => log.warn("cannot update the run record", { err }));
    }, HEARTBEAT_SECONDS * 1000).unref();
    clock.enter("stage");
    hooks.onPhase?.("stage");
    const staged = await stageDataset(rt, request.datasetId, layout);
    log.info("dataset staged", { dataDir: layout.dataDir, reused: !staged.written, ...staged.counts });
    await Promise.all(
      [layout.modelDir, layout.checkpointDir, layout.tensorboardDir].map((d) => mkdir(d, { recursive: true })),
    );
    const parentVersion = request.fineTune ? await stageInitModel(rt, request.model, layout.initModel) : undefined;
    if (parentVersion !== undefined) record.parentVersion = parentVersion;

    const env: NodeJS.ProcessEnv = {
      ...inheritedEnv(),
      ...contractEnv({
        layout,
        classes: staged.classes,
        seed: request.seed,
        args: request.args,
        runId,
        fineTune: request.fineTune,
      }),
    };
    const argv = [...trainer.command, ...argvOf(request.args)];
    clock.enter("train");
    hooks.onPhase?.("train", { argv, cwd, log: logPath });
    let lastRecorded = 0;
    const exit = await runTrainerProcess({
      argv,
      cwd,
      env,
      logPath,
      timeoutSeconds: trainer.timeout,
      metricsPath: join(layout.modelDir, METRICS_FILE),
      onMetrics: (line) => {
        record.metrics.push(line);
        hooks.onMetrics?.(line);
        if (Date.now() - lastRecorded < RECORD_EVERY_MS) return;
        lastRecorded = Date.now();
        record$ = record$
          .then(() => putRun(rt.meta, record))
          .catch((err: unknown) => log.warn("cannot update the run record", { err }));
      },
      onInvalidMetrics: (line, why) => {
        record.invalidMetricLines++;
        log.warn("skipped a metrics.jsonl line", { line: line.slice(0, 200), why });
      },
    });
    if (exit.timedOut)
      throw new SightlineError(
        "invalid",
        "trainer_timed_out",
        `the trainer ran past its timeout of ${trainer.timeout} s and was stopped`,
      );
    if (exit.code !== 0) {
      const last = await lastLine(logPath).catch(() => undefined);
      throw new SightlineError(
        "invalid",
        "trainer_failed",
        `the trainer ${exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`}${last ? `: ${last}` : ""} (log: ${logPath})`,
      );
    }
    clock.enter("evaluate");
    hooks.onPhase?.("evaluate");
    const { version, card } = await ingestModel(rt, {
      request,
      runId,
      modelDir: layout.modelDir,
      trainer: identity,
      seed: request.seed,
      gitCommit: request.gitCommit === undefined ? (git?.commit ?? null) : request.gitCommit,
      image: null,
      history: record.metrics,
      trainingSeconds: exit.seconds,
      trainImages: staged.counts.train,
      ...(parentVersion !== undefined ? { parentVersion } : {}),
    });
    clearInterval(heartbeat);
    await record$;
    const registered = {
      phases: clock.close(),
      version: version.version,
      imagesPerSecond: card.imagesPerSecond,
      heldOut: version.metrics,
      artefacts: versionArtefacts(version),
    };
    await putRun(rt.meta, { ...record, status: "succeeded", finishedAt: new Date().toISOString(), ...registered });
    log.info("training completed", {
      version: version.version,
      accuracy: version.metrics.accuracy,
      seconds: exit.seconds,
    });
    return { version, card, runId };
  } catch (err) {
    log.error("training failed", { err });
    const reason = err instanceof Error ? err.message : String(err);
    clearInterval(heartbeat);
    await record$;
    await putRun(rt.meta, {
      ...record,
      phases: clock.close(),
      status: "failed",
      finishedAt: new Date().toISOString(),
      reason: reason.slice(0, 2000),
    }).catch((e: unknown) => log.warn("cannot record the failed run", { err: e }));
    await publishFailed(rt, request, runId, err, log);
    throw err;
  }
}

/** The run record's tags: what is known of where the run came from. */
function runTags(
  request: ContractRunRequest,
  git: { commit: string; dirty: boolean } | undefined,
): Record<string, string> {
  const commit = request.gitCommit ?? git?.commit;
  return {
    trainer: request.trainerName ?? "command",
    actor: request.actor,
    ...(commit ? { git_commit: commit } : {}),
    ...(git ? { git_dirty: String(git.dirty) } : {}),
    ...(request.fineTune ? { fine_tune: "true" } : {}),
    ...request.tags,
  };
}

/** Writes production's ONNX file where the trainer finds it; returns production's version number. */
export async function stageInitModel(rt: Runtime, model: string, path: string): Promise<number> {
  const version = await resolveAlias(rt.meta, model, PRODUCTION);
  const record = await getVersion(rt.meta, model, version);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, await rt.blobs.get(record.modelDigest));
  return version;
}

/**
 * This process's environment for the trainer, without Sightline's own settings (the trainer needs no access to the
 * stores: the platform registers what it writes) and without contract values a parent process may have carried.
 */
function inheritedEnv(): NodeJS.ProcessEnv {
  const contract = new Set<string>(TRAINER_ENV_NAMES);
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith("SIGHTLINE_") && !k.startsWith("AIP_") && !contract.has(k),
    ),
  );
}
