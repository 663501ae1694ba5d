/**
 * The trace a request belongs to, from W3C `traceparent` or Google's `X-Cloud-Trace-Context`, as the special
 * fields Cloud Logging uses to tie a log line to its trace and span.
 */
import type { LogFields } from "./logger.ts";

export interface TraceContext {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits (Cloud Logging's spanId format), when the caller named its span. */
  spanId: string | undefined;
  sampled: boolean;
}

// version-traceid-parentid-flags; a future version may append fields after a dash (W3C Trace Context §3.2).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
// TRACE_ID/SPAN_ID;o=OPTIONS, the span id in decimal; both the span and the options may be absent.
const CLOUD_TRACE = /^([0-9a-fA-F]{32})(?:\/(\d{1,20}))?(?:;o=(\d+))?$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);
const MAX_SPAN = (1n << 64n) - 1n;

export function parseTraceparent(header: string | undefined): TraceContext | undefined {
  const m = TRACEPARENT.exec(header?.trim() ?? "");
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  // Version ff is forbidden, and version 00 has exactly four fields.
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

export function parseCloudTraceContext(header: string | undefined): TraceContext | undefined {
  const m = CLOUD_TRACE.exec(header?.trim() ?? "");
  if (!m) return undefined;
  const traceId = m[1]!.toLowerCase();
  if (traceId === ZERO_TRACE) return undefined;
  let spanId: string | undefined;
  if (m[2] !== undefined) {
    const span = BigInt(m[2]);
    // Not a uint64, or zero: the span is unusable but the trace still is.
    if (span > 0n && span <= MAX_SPAN) spanId = span.toString(16).padStart(16, "0");
  }
  return { traceId, spanId, sampled: m[3] === "1" };
}

/** `traceparent` wins when both headers are present and it is valid; an invalid one falls back to Google's. */
export function traceFromHeaders(headers: Record<string, string | string[] | undefined>): TraceContext | undefined {
  return (
    parseTraceparent(single(headers.traceparent)) ?? parseCloudTraceContext(single(headers["x-cloud-trace-context"]))
  );
}

/** Cloud Logging's special fields for a trace; `trace` needs the project, the others stand alone. */
export function traceLogFields(trace: TraceContext | undefined, project: string | undefined): LogFields {
  if (!trace) return {};
  const fields: LogFields = {};
  if (project) fields["logging.googleapis.com/trace"] = `projects/${project}/traces/${trace.traceId}`;
  if (trace.spanId) fields["logging.googleapis.com/spanId"] = trace.spanId;
  fields["logging.googleapis.com/trace_sampled"] = trace.sampled;
  return fields;
}

// Repeated headers: W3C says a request with several traceparent values is to be treated as having none.
const single = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
