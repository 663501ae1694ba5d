import type { EventBus } from "../core/events/event-bus.ts";
import { makeEvent } from "../core/events/envelope.ts";
import type { EventData } from "../core/events/schemas.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import type { ServingMetrics } from "./metrics.ts";
import { currentRequest } from "./request-scope.ts";

/** Longest the last flush at shutdown may take before the remaining records are given up. */
export const PREDICTION_LOG_CLOSE_MS = 5_000;

export type PredictionRecord = EventData<"sightline.predictions.logged">["records"][number];

export interface PredictionLogOptions {
  /** Fraction of predictions logged (0–1). */
  sampleRate: number;
  /** Fraction of logged predictions that carry their embedding. */
  embeddingRate: number;
  /** Records held while waiting to be published; beyond it new records are dropped and counted. */
  bufferSize: number;
  flushMs: number;
  maxRecordsPerEvent: number;
}

/**
 * Sampled prediction records, published in batches as `sightline.predictions.logged` (one event per model
 * version and flush). Requests only append to a bounded buffer and never wait for the bus: when it is slow or
 * down, records are dropped and counted, and the next event says how many were lost.
 */
export class PredictionLog {
  private buffer = new Map<string, PredictionRecord[]>();
  private size = 0;
  private dropped = 0;
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly random: () => number;
  private readonly bus: EventBus;
  private readonly options: PredictionLogOptions;
  private readonly metrics: ServingMetrics;
  private readonly log: Logger;

  constructor(
    bus: EventBus,
    options: PredictionLogOptions,
    metrics: ServingMetrics,
    log: Logger,
    random: () => number = Math.random,
  ) {
    this.bus = bus;
    this.options = options;
    this.metrics = metrics;
    this.log = log;
    this.random = random;
    this.timer = setInterval(() => void this.flush(), options.flushMs);
    this.timer.unref();
  }

  /** Decides, before any work is spent on it, whether a prediction is logged and whether with its embedding. */
  sample(): { log: boolean; embedding: boolean } {
    const log = this.options.sampleRate > 0 && this.random() < this.options.sampleRate;
    return { log, embedding: log && this.options.embeddingRate > 0 && this.random() < this.options.embeddingRate };
  }

  append(model: string, version: number, record: PredictionRecord): void {
    record = withPredictionId(record);
    if (this.size >= this.options.bufferSize) {
      this.dropped++;
      this.metrics.logRecords.inc({ outcome: "dropped" });
      return;
    }
    const key = `${model}:${version}`;
    let list = this.buffer.get(key);
    if (!list) this.buffer.set(key, (list = []));
    list.push(record);
    this.size++;
  }

  /** Publishes what is buffered; one flush at a time. */
  flush(): Promise<void> {
    this.flushing ??= this.publishAll().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Stops the timer and publishes what is left (bounded by `timeoutMs`). */
  async close(timeoutMs = PREDICTION_LOG_CLOSE_MS): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise((resolve) => (timeout = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timeout);
  }

  private async publishAll(): Promise<void> {
    if (this.size === 0) return;
    const batches = this.buffer;
    this.buffer = new Map();
    this.size = 0;
    for (const [key, records] of batches) {
      const split = key.lastIndexOf(":");
      const model = key.slice(0, split);
      const version = Number(key.slice(split + 1));
      for (let start = 0; start < records.length; start += this.options.maxRecordsPerEvent) {
        const chunk = records.slice(start, start + this.options.maxRecordsPerEvent);
        const dropped = this.dropped;
        // The embedded bus publishes synchronously (validation, JSON, an SQLite commit: ~1 ms per 100 records);
        // a turn of the event loop before each event keeps a large flush from stalling the requests behind it.
        await new Promise((resolve) => setImmediate(resolve));
        try {
          await this.bus.publish(
            makeEvent("sightline.predictions.logged", { model, version, records: chunk, dropped }, { subject: key }),
          );
          this.dropped -= dropped;
          this.metrics.logRecords.inc({ outcome: "published" }, chunk.length);
        } catch (err) {
          this.dropped += chunk.length;
          this.metrics.logRecords.inc({ outcome: "dropped" }, chunk.length);
          this.log.warn("prediction log: publish failed, records dropped", { model: key, records: chunk.length, err });
        }
      }
    }
  }
}

/**
 * A record whose request id the caller chose gets serving's own id beside it (keeping any per-image suffix,
 * `…/3`), so lineage never files one caller's prediction over another's.
 */
function withPredictionId(record: PredictionRecord): PredictionRecord {
  const scope = currentRequest();
  if (!scope?.clientRequestId || record.predictionId !== undefined) return record;
  const { requestId } = scope;
  if (record.requestId === requestId) return { ...record, predictionId: scope.predictionId };
  if (record.requestId.startsWith(`${requestId}/`))
    return { ...record, predictionId: scope.predictionId + record.requestId.slice(requestId.length) };
  return record;
}
