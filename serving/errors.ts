import type { z } from "zod";
import { errorKind, KIND_STATUS, SightlineError, type ErrorKind } from "../core/errors.ts";

// Each kind's status (core/errors.ts) is what any Sightline error answers unless it is an ApiError, whose code is
// more precise.
export { KIND_STATUS };

/** The API's error codes (ARCHITECTURE.md, Serving contract) with their HTTP status. */
export const ERROR_STATUS = {
  bad_request: 400,
  undecodable_image: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  timeout: 503,
  payload_too_large: 413,
  too_many_pixels: 413,
  unsupported_media_type: 415,
  invalid_tensor: 422,
  internal: 500,
  not_ready: 503,
  overloaded: 503,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** An API code that says what the client can do; `internal` is only ever the handler's answer to a bug. */
export type ClientErrorCode = Exclude<ErrorCode, "internal">;

/** The kind of each API code a client can act on: the status above refines the kind's (a 413 is a kind of 400). */
export const API_ERROR_KIND: Record<ClientErrorCode, ErrorKind> = {
  bad_request: "invalid",
  undecodable_image: "invalid",
  unauthorized: "invalid",
  not_found: "not_found",
  conflict: "conflict",
  timeout: "unavailable",
  payload_too_large: "invalid",
  too_many_pixels: "invalid",
  unsupported_media_type: "invalid",
  invalid_tensor: "invalid",
  not_ready: "unavailable",
  overloaded: "unavailable",
  unavailable: "unavailable",
};

/** The API code a Sightline error of each kind answers with when it is not an ApiError. */
const KIND_API_CODE: Record<ErrorKind | "internal", ErrorCode> = {
  invalid: "bad_request",
  not_found: "not_found",
  conflict: "conflict",
  unavailable: "unavailable",
  corrupt: "internal",
  config: "internal",
  internal: "internal",
};

/** Longest message an error body carries: a hostile request must not be able to make the answer larger than itself. */
export const MAX_MESSAGE_CHARS = 2048;

/** An error meant for the client: its message is safe to show, and says what to change. */
export class ApiError extends SightlineError {
  declare readonly code: ClientErrorCode;
  readonly status: number;
  /** Response headers that go with the error (e.g. Retry-After on 503 overloaded). */
  readonly headers: Record<string, string>;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(API_ERROR_KIND[code], code, capMessage(message), options);
    this.status = ERROR_STATUS[code];
    this.headers = options?.headers ?? {};
  }
}

export const INTERNAL_MESSAGE = "internal error; the request id is in the x-request-id header";
const UNAVAILABLE_MESSAGE = "temporarily unavailable; try again shortly";

/** How the error handler answers an error: its API code, status, message (safe to show) and headers. */
export interface ErrorAnswer {
  code: ErrorCode;
  status: number;
  message: string;
  headers: Record<string, string>;
}

/**
 * An ApiError answers its own code; any other Sightline error its kind's (KIND_STATUS), with its message when the
 * status is the client's (4xx) and a generic one when it is the server's (a message from the server's own
 * dependencies may name buckets or paths); anything else is a bug: 500.
 */
export function answerFor(err: unknown): ErrorAnswer {
  if (err instanceof ApiError)
    return { code: err.code, status: err.status, message: err.message, headers: err.headers };
  const kind = errorKind(err);
  const code = KIND_API_CODE[kind];
  const status = KIND_STATUS[kind];
  const message =
    status < 500 ? capMessage((err as Error).message) : kind === "unavailable" ? UNAVAILABLE_MESSAGE : INTERNAL_MESSAGE;
  return { code, status, message, headers: {} };
}

export const errorBody = (code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } => ({
  error: { code, message },
});

/** How a protocol shapes its error bodies; a route sets its own in `res.locals.errorBody` (default: errorBody). */
export type ErrorBodyShape = (code: ErrorCode, message: string) => unknown;

/** `{"error": "<message>"}`: the bare-message shape of OIP's spec and of Vertex AI's prebuilt containers. */
export const messageErrorBody: ErrorBodyShape = (_code, message) => ({ error: message });

export function capMessage(message: string, max = MAX_MESSAGE_CHARS): string {
  if (message.length <= max) return message;
  return `${message.slice(0, max)}… (${message.length - max} more characters)`;
}

/** zod's first few issues, one line each; the rest only counted (a list of 500,000 issues is not an answer). */
export function briefIssues(error: z.ZodError, max = 3): string {
  const shown = error.issues.slice(0, max).map((issue) => {
    const path =
      issue.path.length === 0
        ? ""
        : ` at ${issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}`;
    return `${issue.message}${path}`;
  });
  const more = error.issues.length - shown.length;
  return capMessage(`${shown.join("; ")}${more > 0 ? ` (and ${more} more issues)` : ""}`, 512);
}
