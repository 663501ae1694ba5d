import { describe, expect, it } from "vitest";
import {
  parseCloudTraceContext,
  parseTraceparent,
  traceFromHeaders,
  traceLogFields,
} from "../../core/telemetry/trace-context.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const OTHER = "105445aa7843bc8bf206b12000100000";

describe("W3C traceparent", () => {
  it("reads the trace id, the parent span id and the sampled flag", () => {
    expect(parseTraceparent(`00-${TRACE}-00f067aa0ba902b7-01`)).toEqual({
      traceId: TRACE,
      spanId: "00f067aa0ba902b7",
      sampled: true,
    });
    expect(parseTraceparent(`00-${TRACE}-00f067aa0ba902b7-00`)).toMatchObject({ sampled: false });
    // Only bit 0 is "sampled"; other flag bits are ignored.
    expect(parseTraceparent(`00-${TRACE}-00f067aa0ba902b7-02`)).toMatchObject({ sampled: false });
    expect(parseTraceparent(`00-${TRACE}-00f067aa0ba902b7-03`)).toMatchObject({ sampled: true });
  });

  it("accepts a future version's extra fields but not version 00's", () => {
    expect(parseTraceparent(`01-${TRACE}-00f067aa0ba902b7-01-what-the-future-holds`)).toMatchObject({ traceId: TRACE });
    expect(parseTraceparent(`00-${TRACE}-00f067aa0ba902b7-01-extra`)).toBeUndefined();
  });

  it("ignores invalid values", () => {
    for (const bad of [
      undefined,
      "",
      `ff-${TRACE}-00f067aa0ba902b7-01`, // forbidden version
      `00-${"0".repeat(32)}-00f067aa0ba902b7-01`, // all-zero trace id
      `00-${TRACE}-${"0".repeat(16)}-01`, // all-zero span id
      `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`, // uppercase hex
      `00-${TRACE.slice(1)}-00f067aa0ba902b7-01`, // short trace id
      `00-${TRACE}-00f067aa0ba902b-01`, // short span id
      `00-${TRACE}-00f067aa0ba902b7`, // no flags
      `00-${TRACE}-00f067aa0ba902b7-01, 00-${OTHER}-00f067aa0ba902b7-01`, // repeated header joined by Node
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
    }
  });
});

describe("X-Cloud-Trace-Context", () => {
  it("converts the decimal span id to 16 hex digits and reads o=1 as sampled", () => {
    expect(parseCloudTraceContext(`${OTHER}/1;o=1`)).toEqual({
      traceId: OTHER,
      spanId: "0000000000000001",
      sampled: true,
    });
    expect(parseCloudTraceContext(`${OTHER}/12345678901234567890;o=1`)).toEqual({
      traceId: OTHER,
      spanId: "ab54a98ceb1f0ad2",
      sampled: true,
    });
    // The largest uint64 is exact (no floating point on the way).
    expect(parseCloudTraceContext(`${OTHER}/18446744073709551615;o=0`)).toEqual({
      traceId: OTHER,
      spanId: "ffffffffffffffff",
      sampled: false,
    });
  });

  it("takes a trace without span or options, unsampled", () => {
    expect(parseCloudTraceContext(OTHER)).toEqual({ traceId: OTHER, spanId: undefined, sampled: false });
    expect(parseCloudTraceContext(`${OTHER}/42`)).toEqual({
      traceId: OTHER,
      spanId: "000000000000002a",
      sampled: false,
    });
    expect(parseCloudTraceContext(`${OTHER.toUpperCase()}/42;o=1`)).toMatchObject({ traceId: OTHER });
  });

  it("drops a span id that is no uint64, keeps the trace; refuses a malformed trace", () => {
    expect(parseCloudTraceContext(`${OTHER}/18446744073709551616;o=1`)).toEqual({
      traceId: OTHER,
      spanId: undefined,
      sampled: true,
    });
    expect(parseCloudTraceContext(`${OTHER}/0;o=1`)).toMatchObject({ spanId: undefined });
    for (const bad of ["", "nothex", `${OTHER.slice(2)}/1;o=1`, `${OTHER}/abc;o=1`, `${"0".repeat(32)}/1;o=1`])
      expect(parseCloudTraceContext(bad), bad).toBeUndefined();
  });
});

describe("both headers", () => {
  const cloud = `${OTHER}/1;o=0`;
  const w3c = `00-${TRACE}-00f067aa0ba902b7-01`;

  it("prefers a valid traceparent, and falls back to X-Cloud-Trace-Context when it is invalid or absent", () => {
    expect(traceFromHeaders({ traceparent: w3c, "x-cloud-trace-context": cloud })).toEqual({
      traceId: TRACE,
      spanId: "00f067aa0ba902b7",
      sampled: true,
    });
    expect(traceFromHeaders({ traceparent: "00-garbage", "x-cloud-trace-context": cloud })).toEqual({
      traceId: OTHER,
      spanId: "0000000000000001",
      sampled: false,
    });
    expect(traceFromHeaders({ "x-cloud-trace-context": cloud })).toMatchObject({ traceId: OTHER });
    expect(traceFromHeaders({})).toBeUndefined();
  });

  it("gives Cloud Logging's special fields, the trace named by its project", () => {
    const trace = traceFromHeaders({ traceparent: w3c });
    expect(traceLogFields(trace, "my-project")).toEqual({
      "logging.googleapis.com/trace": `projects/my-project/traces/${TRACE}`,
      "logging.googleapis.com/spanId": "00f067aa0ba902b7",
      "logging.googleapis.com/trace_sampled": true,
    });
    expect(traceLogFields(trace, undefined)).not.toHaveProperty("logging.googleapis.com/trace");
    expect(traceLogFields(undefined, "my-project")).toEqual({});
  });
});
