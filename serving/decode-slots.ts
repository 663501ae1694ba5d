import { ApiError } from "./errors.ts";

/** Seconds a refused client is told to wait: decodes take milliseconds, so the queue moves quickly. */
export const DECODE_RETRY_AFTER_SECONDS = 1;

/**
 * At most `maxActive` image decodes at once in this process, and at most `maxQueued` images waiting for one. A
 * request whose images do not all fit in the queue is refused whole (503 + Retry-After) before any is decoded:
 * decoded pixels are what costs memory, and a queue that only grows turns a burst into an out-of-memory kill.
 */
export class DecodeSlots {
  readonly maxActive: number;
  readonly maxQueued: number;
  private running = 0;
  // Each waiting image's wake-up, in arrival order; a finished decode hands its slot to the first.
  private readonly waiting: (() => void)[] = [];

  constructor(options: { maxActive: number; maxQueued: number }) {
    this.maxActive = options.maxActive;
    this.maxQueued = options.maxQueued;
  }

  get active(): number {
    return this.running;
  }

  /** Images waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Runs `decode(i)` for i in [0, count), each in a slot, results in order. Throws ApiError `overloaded` when the
   * `count` images would overflow the queue. A decode whose turn comes after `signal` aborted is skipped.
   */
  async run<T>(count: number, decode: (i: number) => Promise<T>, signal?: AbortSignal): Promise<T[]> {
    const inFlight = this.running + this.waiting.length;
    if (inFlight + count - this.maxActive > this.maxQueued) {
      throw new ApiError(
        "overloaded",
        `this server is decoding ${Math.min(inFlight, this.maxActive)} images with ${this.queued} waiting; retry in ${DECODE_RETRY_AFTER_SECONDS} s`,
        {
          headers: { "retry-after": String(DECODE_RETRY_AFTER_SECONDS) },
        },
      );
    }
    let failed = false;
    const one = async (i: number): Promise<T> => {
      // A free slot is taken at once: no queue, no turn of the event loop (a lone image, most requests).
      if (this.running < this.maxActive) this.running++;
      else await new Promise<void>((resolve) => this.waiting.push(resolve));
      // The client has its answer (a timeout, or another image's error): decoding for nobody would only delay
      // the requests behind.
      if (signal?.aborted) {
        this.release();
        throw new ApiError("timeout", "the request timed out before this image was decoded");
      }
      if (failed) {
        this.release();
        throw new ApiError("bad_request", "another image of the request failed");
      }
      try {
        return await decode(i);
      } catch (err) {
        failed = true;
        throw err;
      } finally {
        this.release();
      }
    };
    if (count === 1) return [await one(0)];
    return Promise.all(Array.from({ length: count }, (_, i) => one(i)));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}
