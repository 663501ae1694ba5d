import { ApiError } from "./errors.ts";

/** Rejects with a 503 `timeout` when `work` takes longer than `ms`; the work itself finishes in the background. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  // One promise and one timer per request (this runs for every inference): no race, no async frame.
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ApiError("timeout", `${what} took longer than ${ms} ms`)), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
