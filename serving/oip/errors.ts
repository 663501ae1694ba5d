import { messageErrorBody } from "../errors.ts";

/**
 * Open Inference Protocol errors: every /v2 route answers the spec's `inference_error_response`, a bare message,
 * because tritonclient and KServe's REST client read `error` as a string. Sightline's own routes keep
 * `{"error":{"code","message"}}`; the status codes and headers are the same for both.
 */
export const isOipPath = (path: string): boolean => path === "/v2" || path.startsWith("/v2/");

export const oipErrorBody = messageErrorBody;
