import { createHash } from "node:crypto";
import type { EventData } from "../events/schemas.ts";
import type { ContractJob } from "./trainers.ts";

/** What started a training run, as `training.requested` says it; recorded as the run's `trigger` tag. */
export type TrainingTrigger = EventData<"sightline.training.requested">["trigger"];

/**
 * Runs training jobs: a child process on this machine (embedded default) or a `batch/v1` Job on GKE. The retrain
 * function submits through this port and never asks which one it has.
 */
export interface TrainingJobSpec {
  /** The `training.requested` request id; the job's name derives from it, so a resubmission is recognised. */
  requestId: string;
  model: string;
  datasetId: string;
  /** Path of a training config YAML inside the trainer image/checkout (default: the reference CNN). */
  configPath?: string;
  epochs?: number;
  limit?: number;
  /** Start from production's weights instead of from scratch. */
  fineTune?: boolean;
  /** Why, for logs and labels (e.g. the drift report id). */
  reason?: string;
  /** What asked for the job (the run's `trigger` tag): `retrain`, `ci`, `cli`. */
  trigger?: TrainingTrigger;
  /** The drift report a retrain answers (the run's `drift_report` tag). */
  driftReportId?: string;
  /** A trainer on the trainer contract instead of the built-in one (then configPath, epochs and limit do not apply). */
  contract?: ContractJob;
}

export type JobState = "pending" | "running" | "succeeded" | "failed";

export interface JobStatus {
  name: string;
  requestId: string;
  state: JobState;
  /** Why it failed, or the runner's last word on it. */
  message?: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface SubmitResult {
  name: string;
  /** False when a job for this request id already existed (nothing new was started). */
  created: boolean;
}

export interface JobRunner extends JobReader {
  submit(spec: TrainingJobSpec): Promise<SubmitResult>;
  /** Undefined when no such job is known. */
  status(name: string): Promise<JobStatus | undefined>;
  /** Jobs not finished yet (pending or running), for the retrain policy's concurrency limit. */
  active(): Promise<JobStatus[]>;
  close(): Promise<void>;
}

/** One training job as the console lists it; model and dataset come from what was submitted. */
export interface JobSummary {
  name: string;
  requestId: string;
  model: string;
  datasetId: string;
  state: JobState;
  reason?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number | null;
  message?: string;
}

/** The end of a job's log, oldest line first. `missing`: there is no log to read (yet, or any more). */
export interface JobLog {
  lines: string[];
  truncated: boolean;
  missing: boolean;
  /** Where the lines come from when the runner has several (a pod's container). */
  source?: string;
}

export interface LogTailOptions {
  maxLines?: number;
  maxBytes?: number;
}

/** What a reader of jobs (the console) needs; every runner is one, and a reader needs no trainer image. */
export interface JobReader {
  /** Newest first, at most `limit`. */
  list(options?: { limit?: number }): Promise<JobSummary[]>;
  /** Undefined when no such job is known. */
  get(name: string): Promise<JobSummary | undefined>;
  logTail(name: string, options?: LogTailOptions): Promise<JobLog>;
  close(): Promise<void>;
}

/** A job name valid as a Kubernetes object name (RFC 1123 label, ≤ 63) that is a pure function of the request id. */
export function jobNameFor(requestId: string): string {
  const slug = requestId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  const hash = createHash("sha256").update(requestId).digest("hex").slice(0, 8);
  return slug ? `train-${slug}-${hash}` : `train-${hash}`;
}
