import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { Config } from "../config/config.ts";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import {
  jobNameFor,
  type JobLog,
  type JobReader,
  type JobRunner,
  type JobStatus,
  type JobSummary,
  type LogTailOptions,
  type SubmitResult,
  type TrainingJobSpec,
} from "./job-runner.ts";
import { lastLine, tailLines } from "./log-tail.ts";
import { settleUnfinishedRuns } from "./run-settle.ts";
import { SPEC_ENV_NAMES, specEnv, storesEnv } from "./trainer-env.ts";
import { SIGHTLINE_HOME } from "../config/settings/stores.ts";

const DEFAULT_ENTRY = fileURLToPath(new URL("../../trainer/main.ts", import.meta.url));

export interface LocalJobRunnerOptions {
  /** The resolved configuration: the trainer gets this home and these stores as environment URIs. */
  config: Pick<Config, "home" | "blobs" | "meta" | "bus">;
  /** Where job records live (collection `jobs`); not closed by the runner. */
  meta: MetadataStore;
  /** The script run with this Node binary; default trainer/main.ts of this checkout (tests substitute a stub). */
  entry?: string;
  /** Extra variables for every job, e.g. SIGHTLINE_GIT_COMMIT. */
  env?: Record<string, string>;
  log?: Logger;
}

const JobRecordSchema = z.object({
  name: z.string(),
  requestId: z.string(),
  model: z.string(),
  datasetId: z.string(),
  reason: z.string().optional(),
  state: z.enum(["pending", "running", "succeeded", "failed"]),
  host: z.string(),
  /** The process that started the trainer and records its end. */
  runnerPid: z.number().int(),
  pid: z.number().int().optional(),
  log: z.string(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  exitCode: z.number().int().nullable().optional(),
  message: z.string().optional(),
});
/** A local training job as its runner records it. */
export type JobRecord = z.infer<typeof JobRecordSchema>;

/** Local training jobs keyed by job name. */
export const Jobs = defineCollection({ name: "jobs", schema: JobRecordSchema });

/**
 * Runs each training job as a child process of this one (`node trainer/main.ts`) and keeps its record in the
 * MetadataStore. The record is created with `create`, so a request id starts at most one trainer even when several
 * processes submit it at once. The outcome is recorded by the process that started the child; if that process dies
 * first, status() says so instead of reporting a job that runs forever.
 */
export class LocalJobRunner implements JobRunner {
  private readonly options: LocalJobRunnerOptions;
  private readonly log: Logger;
  private readonly children = new Set<ChildProcess>();
  /** Record writes, in order: a job's "running" must never land after its "succeeded". */
  private writes: Promise<void> = Promise.resolve();

  constructor(options: LocalJobRunnerOptions) {
    this.options = options;
    this.log = options.log ?? createLogger({ component: "local-job-runner" });
  }

  async submit(spec: TrainingJobSpec): Promise<SubmitResult> {
    const name = jobNameFor(spec.requestId);
    const record: JobRecord = {
      name,
      requestId: spec.requestId,
      model: spec.model,
      datasetId: spec.datasetId,
      reason: spec.reason,
      state: "pending",
      host: hostname(),
      runnerPid: process.pid,
      log: join(this.options.config.home, "jobs", `${name}.log`),
      createdAt: new Date().toISOString(),
    };
    if (!(await Jobs.create(this.options.meta, name, toJson(record)))) {
      this.log.info("training job already submitted", { job: name, requestId: spec.requestId });
      return { name, created: false };
    }
    this.start(record, spec);
    return { name, created: true };
  }

  async status(name: string): Promise<JobStatus | undefined> {
    const record = await Jobs.get(this.options.meta, name);
    return record && view(record);
  }

  async active(): Promise<JobStatus[]> {
    const docs = (
      await Promise.all(
        (["pending", "running"] as const).map((state) =>
          Jobs.query(this.options.meta, { where: [{ field: "state", op: "==", value: state }] }),
        ),
      )
    ).flat();
    return docs.map((d) => view(d.data)).filter((s) => s.state === "pending" || s.state === "running");
  }

  list(options: { limit?: number } = {}): Promise<JobSummary[]> {
    return listLocalJobs(this.options.meta, options);
  }

  get(name: string): Promise<JobSummary | undefined> {
    return getLocalJob(this.options.meta, name);
  }

  logTail(name: string, options: LogTailOptions = {}): Promise<JobLog> {
    return localLogTail(this.options.meta, name, options);
  }

  /** Waits for pending record writes. Running trainers are left alone; their end is then recorded by nobody. */
  async close(): Promise<void> {
    if (this.children.size > 0) this.log.warn("closing with training jobs still running", { jobs: this.children.size });
    await this.writes;
  }

  private start(record: JobRecord, spec: TrainingJobSpec): void {
    let fd: number;
    try {
      mkdirSync(dirname(record.log), { recursive: true });
      fd = openSync(record.log, "a");
    } catch (err) {
      this.update(record, {
        state: "failed",
        finishedAt: new Date().toISOString(),
        message: `cannot open the job log ${record.log}: ${(err as Error).message}`,
      });
      return;
    }
    const entry = this.options.entry ?? DEFAULT_ENTRY;
    // The child writes straight into the log file, so its output is kept even if this process dies first.
    const child = spawn(process.execPath, [entry], { env: this.childEnv(spec), stdio: ["ignore", fd, fd] });
    closeSync(fd);
    this.children.add(child);
    let ended = false;
    child.once("error", (err) => {
      if (ended) return;
      ended = true;
      this.children.delete(child);
      this.update(record, {
        state: "failed",
        finishedAt: new Date().toISOString(),
        message: `cannot start ${entry}: ${err.message}`,
      });
    });
    child.once("exit", (code, signal) => {
      if (ended) return;
      ended = true;
      this.children.delete(child);
      void this.finish(record, code, signal);
    });
    if (child.pid !== undefined) {
      this.update(record, { state: "running", pid: child.pid, startedAt: new Date().toISOString() });
      this.log.info("training job started", {
        job: record.name,
        requestId: record.requestId,
        pid: child.pid,
        log: record.log,
      });
    }
  }

  private async finish(record: JobRecord, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const finishedAt = new Date().toISOString();
    this.settleRuns(record, code, signal);
    if (code === 0) {
      this.update(record, { state: "succeeded", exitCode: 0, finishedAt });
      this.log.info("training job succeeded", { job: record.name, requestId: record.requestId });
      return;
    }
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    const last = await lastLine(record.log).catch((err: Error) => `(cannot read ${record.log}: ${err.message})`);
    const message = last ? `${how}: ${last}` : how;
    this.update(record, { state: "failed", exitCode: code, finishedAt, message });
    this.log.warn("training job failed", {
      job: record.name,
      requestId: record.requestId,
      detail: message,
      log: record.log,
    });
  }

  /** The trainer is gone: a run it left `running` will never be finished by it (run-settle.ts). */
  private settleRuns(record: JobRecord, code: number | null, signal: NodeJS.Signals | null): void {
    this.writes = this.writes
      .then(async () => {
        const settled = await settleUnfinishedRuns(this.options.meta, record.requestId, { code, signal });
        if (settled.length > 0)
          this.log.warn("the trainer ended without finishing its run", {
            job: record.name,
            runs: settled,
            ...(signal ? { signal } : { exitCode: code }),
          });
      })
      .catch((err: unknown) => this.log.error("cannot settle the job's runs", { job: record.name, err }));
  }

  private update(record: JobRecord, patch: Partial<JobRecord>): void {
    Object.assign(record, patch);
    const data = toJson(record);
    this.writes = this.writes
      .then(() => Jobs.put(this.options.meta, record.name, data))
      .catch((err: unknown) =>
        this.log.error("cannot record the training job's state", { job: record.name, state: record.state, err }),
      );
  }

  private childEnv(spec: TrainingJobSpec): NodeJS.ProcessEnv {
    // The parent's environment (PATH, credentials, emulator hosts) minus per-job values it may happen to carry.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of SPEC_ENV_NAMES) delete env[key];
    const { config } = this.options;
    return { ...env, [SIGHTLINE_HOME.name]: config.home, ...storesEnv(config), ...this.options.env, ...specEnv(spec) };
  }
}

/** The jobs in the records, newest first; the runner's own bookkeeping (host, pids, log path) left out. */
async function listLocalJobs(meta: MetadataStore, options: { limit?: number }): Promise<JobSummary[]> {
  const docs = await Jobs.query(meta, {
    orderBy: { field: "createdAt", direction: "desc" },
    limit: options.limit ?? 100,
  });
  return docs.map((d) => summary(d.data));
}

async function getLocalJob(meta: MetadataStore, name: string): Promise<JobSummary | undefined> {
  const record = await Jobs.get(meta, name);
  return record && summary(record);
}

async function localLogTail(meta: MetadataStore, name: string, options: LogTailOptions): Promise<JobLog> {
  const record = await Jobs.get(meta, name);
  if (!record) return { lines: [], truncated: false, missing: true };
  return tailLines(record.log, options).then(
    (t) => ({ ...t, missing: false }),
    () => ({ lines: [], truncated: false, missing: true }),
  );
}

const summary = ({ host: _h, runnerPid: _r, pid: _p, log: _l, ...rest }: JobRecord): JobSummary => rest;

/**
 * The local jobs for a process that only reads them (the console): the records in the MetadataStore and their log
 * files, which are on this machine.
 */
export function localJobReader(meta: MetadataStore): JobReader {
  return {
    list: (options = {}) => listLocalJobs(meta, options),
    get: (name) => getLocalJob(meta, name),
    logTail: (name, options = {}) => localLogTail(meta, name, options),
    close: async () => {},
  };
}

/** The record as a status; an unfinished job whose processes are all gone is reported failed, with why. */
function view(r: JobRecord): JobStatus {
  const status: JobStatus = { name: r.name, requestId: r.requestId, state: r.state };
  if (r.message !== undefined) status.message = r.message;
  if (r.startedAt !== undefined) status.startedAt = r.startedAt;
  if (r.finishedAt !== undefined) status.finishedAt = r.finishedAt;
  const unfinished = r.state === "pending" || r.state === "running";
  // Another host's pids mean nothing here; its record is taken as it is.
  if (!unfinished || r.host !== hostname() || alive(r.runnerPid) || (r.pid !== undefined && alive(r.pid)))
    return status;
  status.state = "failed";
  status.message =
    r.pid === undefined
      ? `the runner (pid ${r.runnerPid}) exited before it started the trainer`
      : `the trainer (pid ${r.pid}) is gone and its runner (pid ${r.runnerPid}) exited without recording how it ended; see ${r.log}`;
  return status;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Optional fields that are unset are left out: stores refuse `undefined` (Firestore) or drop it (SQLite). */
function toJson(record: JobRecord): JobRecord {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as JobRecord;
}
