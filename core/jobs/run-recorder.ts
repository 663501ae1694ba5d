import type { MetadataStore } from "../meta/metadata-store.ts";
import type { Logger } from "../telemetry/logger.ts";
import { putRun, type RunRecord } from "./run-record.ts";
import type { MetricsLine } from "./trainer-contract.ts";

/** How often a running record takes in the metric lines that arrived (each write is one document). */
export const RECORD_EVERY_MS = 2000;
/** How often progress alone (no new metric line) is written: enough to show a run is alive. */
export const PROGRESS_EVERY_MS = 10_000;
/**
 * How often the record is written while nothing else is (long evaluations, exports): the heartbeat that tells a
 * quiet run from a dead one (core/runs/status.ts shows a run silent for many heartbeats as `lost`).
 */
export const HEARTBEAT_SECONDS = 30;

/** Seconds per phase: each `enter` closes the phase before it. */
export class PhaseClock {
  private readonly seconds: Record<string, number> = {};
  private current: { name: string; started: number } | undefined;

  enter(name: string): void {
    this.close();
    this.current = { name, started: performance.now() };
  }

  /** The phases so far, the current one up to now (it stays open). */
  read(): Record<string, number> {
    const out = { ...this.seconds };
    if (this.current)
      out[this.current.name] = (out[this.current.name] ?? 0) + (performance.now() - this.current.started) / 1000;
    return out;
  }

  /** Closes the current phase and returns every phase's seconds. */
  close(): Record<string, number> {
    Object.assign(this.seconds, this.read());
    this.current = undefined;
    return { ...this.seconds };
  }
}

/**
 * Keeps one run's record up to date while it runs: the first write awaited (a run nobody can see is not tracked),
 * metric lines and phase timings throttled and fire-and-forget (a store hiccup must not fail the training), the
 * final write after every update still in flight, so the last state always lands last.
 */
export class RunRecorder {
  readonly record: RunRecord;
  private readonly meta: MetadataStore;
  private readonly log: Logger;
  private readonly everyMs: number;
  private pending: Promise<void> = Promise.resolve();
  private lastWrite = 0;
  private readonly clock = new PhaseClock();
  private heartbeat: NodeJS.Timeout | undefined;

  private readonly heartbeatMs: number;

  constructor(
    meta: MetadataStore,
    record: Omit<RunRecord, "status" | "startedAt" | "metrics" | "invalidMetricLines">,
    log: Logger,
    options: { everyMs?: number; heartbeatSeconds?: number } = {},
  ) {
    this.meta = meta;
    this.log = log;
    this.everyMs = options.everyMs ?? RECORD_EVERY_MS;
    const heartbeatSeconds = options.heartbeatSeconds ?? HEARTBEAT_SECONDS;
    this.heartbeatMs = heartbeatSeconds * 1000;
    this.record = {
      ...record,
      status: "running",
      startedAt: new Date().toISOString(),
      metrics: [],
      invalidMetricLines: 0,
      heartbeatSeconds,
    };
  }

  async start(): Promise<void> {
    this.lastWrite = Date.now();
    await putRun(this.meta, this.record);
    // Unref'd: the heartbeat never keeps a finished trainer's process alive.
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastWrite >= this.heartbeatMs) this.flush(true);
    }, this.heartbeatMs / 2).unref();
  }

  /** Closes the current phase (its seconds go to `phases`) and opens the next. */
  enterPhase(name: string): void {
    this.clock.enter(name);
    this.record.phases = this.clock.read();
    this.flush();
  }

  /** Where the trainer is; written at most every PROGRESS_EVERY_MS unless something else is written first. */
  progress(p: NonNullable<RunRecord["progress"]>): void {
    this.record.progress = p;
    if (Date.now() - this.lastWrite >= PROGRESS_EVERY_MS) this.flush(true);
  }

  metrics(line: MetricsLine): void {
    this.record.metrics.push(line);
    this.flush();
  }

  /** Writes now if the last write is older than the throttle interval (or `force`), without waiting for it. */
  flush(force = false): void {
    if (!force && Date.now() - this.lastWrite < this.everyMs) return;
    this.lastWrite = Date.now();
    const snapshot = structuredClone(this.record);
    this.pending = this.pending
      .then(() => putRun(this.meta, snapshot))
      .catch((err: unknown) => this.log.warn("cannot update the run record", { err }));
  }

  async succeed(patch: Partial<RunRecord> = {}): Promise<void> {
    this.closePhase();
    await this.finish({ ...patch, status: "succeeded" });
  }

  /** Records the failure; a store that refuses the write is logged, never hides the training's own error. */
  async fail(err: unknown): Promise<void> {
    this.closePhase();
    const reason = err instanceof Error ? err.message : String(err);
    await this.finish({ status: "failed", reason: reason.slice(0, 2000) }).catch((e: unknown) =>
      this.log.warn("cannot record the failed run", { err: e }),
    );
  }

  private async finish(patch: Partial<RunRecord>): Promise<void> {
    clearInterval(this.heartbeat);
    Object.assign(this.record, patch, { finishedAt: new Date().toISOString() });
    await this.pending;
    await putRun(this.meta, this.record);
  }

  private closePhase(): void {
    this.record.phases = this.clock.close();
  }
}
