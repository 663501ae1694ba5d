export interface BatcherOptions {
  /** Largest batch handed to `run`. */
  maxSize: number;
  /**
   * Longest an item waits for company when the runner is idle. Only applied after a batch of more than one item
   * (a sign of concurrent traffic): at low load an item runs at once and batching adds no latency.
   */
  maxDelayMs: number;
  onBatch?: (size: number) => void;
}

interface Pending<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
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
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
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
    this.running = true;
    this.lastBatchSize = batch.length;
    this.options.onBatch?.(batch.length);
    this.run(batch.map((p) => p.item))
      .then(
        (outputs) => {
          if (outputs.length !== batch.length) throw new Error(`batch runner returned ${outputs.length} results for ${batch.length} items`);
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

  private notifyIdle(): void {
    if (this.running || this.queue.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
