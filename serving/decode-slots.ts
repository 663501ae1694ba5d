import pLimit, { type LimitFunction } from "p-limit";
import { ApiError } from "./errors.ts";

/** Seconds a refused client is told to wait: decodes take milliseconds, so the queue moves quickly. */
export const DECODE_RETRY_AFTER_SECONDS = 1;

/**
 * At most `maxActive` image decodes at once in this process, and at most `maxQueued` images waiting for one. A
 * request whose images do not all fit in the queue is refused whole (503 + Retry-After) before any is decoded:
 * decoded pixels are what costs memory, and a queue that only grows turns a burst into an out-of-memory kill.
 */
export class DecodeSlots {
  private readonly limit: LimitFunction;
  readonly maxQueued: number;

  constructor(options: { maxActive: number; maxQueued: number }) {
    this.limit = pLimit(options.maxActive);
    this.maxQueued = options.maxQueued;
  }

  get active(): number {
    return this.limit.activeCount;
  }

  /** Images waiting for a slot (p-limit counts as pending also those about to start in a free slot). */
  get queued(): number {
    return Math.max(0, this.limit.activeCount + this.limit.pendingCount - this.limit.concurrency);
  }

  /**
   * Runs `decode(i)` for i in [0, count), each in a slot, results in order. Throws ApiError `overloaded` when the
   * `count` images would overflow the queue. A decode whose turn comes after `signal` aborted is skipped.
   */
  async run<T>(count: number, decode: (i: number) => Promise<T>, signal?: AbortSignal): Promise<T[]> {
    const inFlight = this.limit.activeCount + this.limit.pendingCount;
    if (inFlight + count - this.limit.concurrency > this.maxQueued) {
      throw new ApiError(
        "overloaded",
        `this server is decoding ${Math.min(inFlight, this.limit.concurrency)} images with ${this.queued} waiting; retry in ${DECODE_RETRY_AFTER_SECONDS} s`,
        {
          headers: { "retry-after": String(DECODE_RETRY_AFTER_SECONDS) },
        },
      );
    }
    let failed = false;
    return Promise.all(
      Array.from({ length: count }, (_, i) =>
        this.limit(async () => {
          // The client has its answer (a timeout, or another image's error): decoding for nobody would only delay
          // the requests behind.
          if (signal?.aborted) throw new ApiError("timeout", "the request timed out before this image was decoded");
          if (failed) throw new ApiError("bad_request", "another image of the request failed");
          try {
            return await decode(i);
          } catch (err) {
            failed = true;
            throw err;
          }
        }),
      ),
    );
  }
}
