/**
 * One family for Sightline's own errors: each carries a stable `code` (for tests, logs and scripts: messages change,
 * codes do not) and a `kind` (what the caller can do about it). The CLI maps kind → exit code once and every HTTP
 * surface answers a kind with KIND_STATUS below, so no caller lists classes to decide "is this the user's fault".
 */
export const ERROR_KINDS = {
  /** The input is wrong: fix it and retry. */
  invalid: "invalid",
  /** What was asked for does not exist. */
  not_found: "not_found",
  /** Someone else changed it first, or it already exists: re-read and retry. */
  conflict: "conflict",
  /** A dependency is down or busy: retrying later may work. */
  unavailable: "unavailable",
  /** Stored bytes or records fail their own check: retrying will not help. */
  corrupt: "corrupt",
  /** The settings (environment, config or policy files) are wrong. */
  config: "config",
} as const;

export type ErrorKind = keyof typeof ERROR_KINDS;

export interface SightlineErrorOptions {
  cause?: unknown;
}

export class SightlineError extends Error {
  /** Stable, machine-readable, snake_case: e.g. `blob_corrupt`. */
  readonly code: string;
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, code: string, message: string, options?: SightlineErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.code = code;
  }
}

export const isSightlineError = (err: unknown): err is SightlineError => err instanceof SightlineError;

/** The kind of any thrown value: ours say theirs; anything else is a bug or an unclassified failure. */
export const errorKind = (err: unknown): ErrorKind | "internal" => (isSightlineError(err) ? err.kind : "internal");

/**
 * Each kind's HTTP status, for every HTTP surface (serving, the console): corrupt stored data and wrong settings are
 * the server's fault, not the client's. A surface with more precise codes of its own (serving's 413, 415, 401, 422,
 * all kind `invalid`) answers those instead.
 */
export const KIND_STATUS: Record<ErrorKind | "internal", number> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  corrupt: 500,
  config: 500,
  internal: 500,
};
