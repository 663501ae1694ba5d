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
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error meant for the client: its message is safe to show, and says what to change. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ApiError";
    this.code = code;
    this.status = ERROR_STATUS[code];
  }
}

export const errorBody = (code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } => ({ error: { code, message } });
