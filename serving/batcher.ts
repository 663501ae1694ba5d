import { SightlineError } from "../core/errors.ts";

export interface BatcherOptions {
  /** Largest batch handed to `run`. */
  maxSize: number;
  /**
   * Longest an item waits for company when the runner is idle. Only applied after a batch of more than one item
   * (a sign of concurrent traffic): at low load an item runs at once and batching adds no latency.
   */
  maxDelayMs: number;
  onBatch?: (size: number) => void;
  /** Items that may wait for a run; one more is refused with `QueueFullError`. Unbounded when unset. */
  maxQueue?: number;
  /**
   * The abort signal of the work submitting an item, read at `submit`: an item whose signal fires while it waits
   * (its request timed out, was answered or its client left) is dropped before it runs.
   */
  signal?: () => AbortSignal | undefined;
  /** Items refused because the queue was full, or dropped because their work was abandoned. */
  onDrop?: (reason: "full" | "abandoned", count: number) => void;
  /** Change in the number of waiting items (a process-wide count of them is kept from these). */
  onQueueChange?: (delta: number) => void;
}

/** The batch queue is full: the caller should shed the request (503, Retry-After). */
export class QueueFullError extends SightlineError {
  readonly queued: number;
  constructor(queued: number) {
    super("unavailable", "overloaded", `the inference queue is full (${queued} images waiting); try again shortly`);
    this.queued = queued;
  }
}

/** An item dropped before it ran because the work that submitted it was abandoned. */
export class AbandonedError extends SightlineError {
  constructor() {
    super("unavailable", "abandoned", "dropped before it ran: its request was already answered or abandoned");
  }
}

interface Pending<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * Dynamic micro-batching: one run at a time; whatever arrives while a run is busy goes into the next one (up to
 * `maxSize`). Under load, batches grow with the queue; when idle, an item starts a run on the next tick, so only
 * items submitted in the same tick share it.
 */
export class MicroBatcher<I, O> {
  private readonly queue: Pending<I, O>[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private lastBatchSize = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly run: (items: I[]) => Promise<O[]>;
  private readonly options: BatcherOptions;

  constructor(run: (items: I[]) => Promise<O[]>, options: BatcherOptions) {
    this.run = run;
    this.options = options;
  }

  submit(item: I): Promise<O> {
    const signal = this.options.signal?.();
    if (signal?.aborted) {
      this.options.onDrop?.("abandoned", 1);
      return Promise.reject(new AbandonedError());
    }
    const max = this.options.maxQueue;
    if (max !== undefined && this.queue.length >= max) {
      this.options.onDrop?.("full", 1);
      return Promise.reject(new QueueFullError(this.queue.length));
    }
    return new Promise<O>((resolve, reject) => {
      const pending: Pending<I, O> = { item, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        pending.onAbort = () => this.abandon(pending);
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      this.queue.push(pending);
      this.options.onQueueChange?.(1);
      this.schedule();
    });
  }

  /** Items waiting for a run (not counting the one running). */
  get queued(): number {
    return this.queue.length;
  }

  /** Items queued or running. */
  get pending(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    if (this.queue.length >= this.options.maxSize) return void this.flush();
    this.scheduled = true;
    if (this.options.maxDelayMs > 0 && this.lastBatchSize > 1) {
      this.timer = setTimeout(() => this.flush(), this.options.maxDelayMs);
    } else {
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.scheduled = false;
    if (this.running || this.queue.length === 0) return this.notifyIdle();
    const batch = this.queue.splice(0, this.options.maxSize);
    this.options.onQueueChange?.(-batch.length);
    for (const p of batch) if (p.onAbort) p.signal?.removeEventListener("abort", p.onAbort);
    this.running = true;
    this.lastBatchSize = batch.length;
    this.options.onBatch?.(batch.length);
    this.run(batch.map((p) => p.item))
      .then(
        (outputs) => {
          if (outputs.length !== batch.length)
            throw new Error(`batch runner returned ${outputs.length} results for ${batch.length} items`);
          batch.forEach((p, i) => p.resolve(outputs[i]!));
        },
        (err: unknown) => batch.forEach((p) => p.reject(err)),
      )
      .catch((err: unknown) => batch.forEach((p) => p.reject(err)))
      .finally(() => {
        this.running = false;
        // Work that queued up during the run goes at once: it has waited already.
        if (this.queue.length > 0) this.flush();
        else this.notifyIdle();
      });
  }

  private abandon(pending: Pending<I, O>): void {
    const at = this.queue.indexOf(pending);
    if (at < 0) return;
    this.queue.splice(at, 1);
    this.options.onQueueChange?.(-1);
    this.options.onDrop?.("abandoned", 1);
    pending.reject(new AbandonedError());
    if (this.queue.length === 0) this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.running || this.queue.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
