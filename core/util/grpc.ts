import type { ErrorKind } from "../errors.ts";

/**
 * The gRPC status code of an error thrown by a Google Cloud client, if it has one; our own errors carry the one
 * they wrap as `grpcCode` (their `code` is Sightline's own, a string).
 */
export function grpcCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; grpcCode?: unknown } | null;
  const code = typeof e?.grpcCode === "number" ? e.grpcCode : e?.code;
  return typeof code === "number" ? code : undefined;
}

// https://grpc.io/docs/guides/status-codes/
const INVALID = new Set([3, 9, 11]); // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
const CONFIG = new Set([5, 7, 16]); // NOT_FOUND (the project or resource named by configuration), PERMISSION_DENIED, UNAUTHENTICATED

/** What a failed Google Cloud call means to the caller: retry later (the default), fix the request, or fix the settings. */
export function grpcKind(code: number | undefined): ErrorKind {
  if (code !== undefined && INVALID.has(code)) return "invalid";
  if (code !== undefined && CONFIG.has(code)) return "config";
  return "unavailable";
}
