import type { z } from "zod";

/** The API's error codes (ARCHITECTURE.md, Serving contract) with their HTTP status. */
export const ERROR_STATUS = {
  bad_request: 400,
  undecodable_image: 400,
  unauthorized: 401,
  not_found: 404,
  timeout: 503,
  payload_too_large: 413,
  too_many_pixels: 413,
  unsupported_media_type: 415,
  invalid_tensor: 422,
  internal: 500,
  not_ready: 503,
  overloaded: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Longest message an error body carries: a hostile request must not be able to make the answer larger than itself. */
export const MAX_MESSAGE_CHARS = 2048;

/** An error meant for the client: its message is safe to show, and says what to change. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Response headers that go with the error (e.g. Retry-After on 503 overloaded). */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(capMessage(message), options);
    this.name = "ApiError";
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.headers = options?.headers ?? {};
  }
}

export const errorBody = (code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } => ({ error: { code, message } });

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
    const path = issue.path.length === 0 ? "" : ` at ${issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("")}`;
    return `${issue.message}${path}`;
  });
  const more = error.issues.length - shown.length;
  return capMessage(`${shown.join("; ")}${more > 0 ? ` (and ${more} more issues)` : ""}`, 512);
}

