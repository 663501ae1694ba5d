import { Socket } from "node:net";
import { status } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CloudMonitoringSink,
  DRIFT_METRIC_TYPES,
  MAX_SERIES_PER_REQUEST,
} from "../../core/telemetry/cloud-monitoring-sink.ts";
import { type DriftMetricPoint, DriftMetricsError, LogDriftMetrics } from "../../core/telemetry/drift-metrics.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { grpcCode } from "../../core/util/grpc.ts";
import { type DecodedTimeSeries, type FakeMonitoring, startFakeMonitoring } from "../support/fake-monitoring.ts";

// The auth library would otherwise probe for a GCE metadata server while gax resolves the universe domain.
process.env.METADATA_SERVER_DETECTION = "none";

/** Every outgoing socket connect in this process (net and tls both go through net.Socket.prototype.connect). */
const originalConnect = Socket.prototype.connect;
const connects: string[] = [];
function recordConnects(): void {
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
    const target =
      typeof first === "object" && first !== null
        ? (first as { host?: string; port?: number; path?: string })
        : { port: first as number, host: args[1] as string | undefined };
    connects.push(target.path ?? `${target.host ?? "localhost"}:${target.port}`);
    return (originalConnect as (...a: unknown[]) => Socket).apply(this, args);
  } as typeof originalConnect;
}

const END = new Date("2026-11-05T12:00:00.250Z");
const END_SECONDS = String(Math.floor(END.getTime() / 1000));

function report(overrides: Partial<DriftMetricPoint> = {}): DriftMetricPoint {
  return {
    model: "fashion-cnn",
    version: 3,
    endTime: END,
    score: 0.375,
    features: { brightness: 0.02, contrast: 0.41, sharpness: 0.125 },
    windowSize: 500,
    drifted: true,
    ...overrides,
  };
}

function manyFeatures(n: number): Record<string, number> {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${String(i).padStart(4, "0")}`, i / n]));
}

const byType = (series: DecodedTimeSeries[], type: string): DecodedTimeSeries[] =>
  series.filter((s) => s.metric?.type === type);

describe("CloudMonitoringSink against a loopback MetricService", () => {
  let fake: FakeMonitoring;
  let sink: CloudMonitoringSink;

  beforeAll(async () => {
    recordConnects();
    fake = await startFakeMonitoring();
  });
  afterAll(async () => {
    Socket.prototype.connect = originalConnect;
    await fake.close();
  });
  beforeEach(() => {
    fake.reset();
    sink = new CloudMonitoringSink("p", fake.clientOptions());
  });
  afterEach(async () => {
    await sink.close();
  });

  it("writes window_size, detected and one score series per feature plus _overall, on the global resource", async () => {
    await sink.write(report());

    expect(fake.timeSeriesCalls).toHaveLength(1);
    const { request, metadata } = fake.timeSeriesCalls[0]!;
    expect(request.name).toBe("projects/p");
    const series = request.timeSeries ?? [];
    expect(series).toHaveLength(6);
    for (const s of series) {
      expect(s.resource).toEqual({ type: "global", labels: { project_id: "p" } });
      expect(s.metricKind).toBe("GAUGE");
      expect(s.points).toHaveLength(1);
      // A GAUGE point: the report's end time (milliseconds kept as nanos), no start time.
      expect(s.points?.[0]?.interval).toEqual({ endTime: { seconds: END_SECONDS, nanos: 250_000_000 } });
    }

    const [windowSize] = byType(series, DRIFT_METRIC_TYPES.windowSize);
    expect(windowSize?.metric?.labels).toEqual({ model: "fashion-cnn", version: "3" });
    expect(windowSize?.valueType).toBe("INT64");
    expect(windowSize?.points?.[0]?.value).toEqual({ int64Value: "500", value: "int64Value" });

    const [detected] = byType(series, DRIFT_METRIC_TYPES.detected);
    expect(detected?.metric?.labels).toEqual({ model: "fashion-cnn", version: "3" });
    expect(detected?.valueType).toBe("INT64");
    expect(detected?.points?.[0]?.value).toEqual({ int64Value: "1", value: "int64Value" });

    const scores = byType(series, DRIFT_METRIC_TYPES.score);
    expect(scores.every((s) => s.valueType === "DOUBLE")).toBe(true);
    expect(
      Object.fromEntries(scores.map((s) => [s.metric?.labels?.feature, s.points?.[0]?.value?.doubleValue])),
    ).toEqual({
      _overall: 0.375,
      brightness: 0.02,
      contrast: 0.41,
      sharpness: 0.125,
    });
    expect(scores.every((s) => s.metric?.labels?.model === "fashion-cnn" && s.metric.labels.version === "3")).toBe(
      true,
    );

    // The real client made the call: gax's headers, the routing header, and no credentials on a plain-text channel.
    expect(metadata["x-goog-api-client"]?.[0]).toMatch(/gax\//);
    expect(metadata["x-goog-request-params"]).toEqual(["name=projects%2Fp"]);
    expect(metadata.authorization).toBeUndefined();
  });

  it("writes detected = 0 for a report without drift", async () => {
    await sink.write(report({ drifted: false, score: 0, features: {} }));
    const series = fake.timeSeriesCalls[0]?.request.timeSeries ?? [];
    expect(series).toHaveLength(3);
    // Zeros live in a oneof, so they travel on the wire (not dropped as proto3 defaults).
    expect(byType(series, DRIFT_METRIC_TYPES.detected)[0]?.points?.[0]?.value).toEqual({
      int64Value: "0",
      value: "int64Value",
    });
    expect(byType(series, DRIFT_METRIC_TYPES.score)[0]?.points?.[0]?.value).toEqual({
      doubleValue: 0,
      value: "doubleValue",
    });
  });

  it("splits a report into requests of at most 200 series, each series written exactly once", async () => {
    await sink.write(report({ features: manyFeatures(450) }));

    expect(fake.timeSeriesCalls.map((c) => c.request.timeSeries?.length)).toEqual([200, 200, 53]);
    expect(fake.timeSeriesCalls.every((c) => c.request.name === "projects/p")).toBe(true);
    const all = fake.timeSeriesCalls.flatMap((c) => c.request.timeSeries ?? []);
    const features = byType(all, DRIFT_METRIC_TYPES.score).map((s) => s.metric?.labels?.feature);
    expect(new Set(features).size).toBe(451);
    expect(features.sort()).toEqual(["_overall", ...Object.keys(manyFeatures(450))].sort());
    expect(byType(all, DRIFT_METRIC_TYPES.windowSize)).toHaveLength(1);
    expect(byType(all, DRIFT_METRIC_TYPES.detected)).toHaveLength(1);
  });

  it("puts exactly 200 series in one request and 201 in two", async () => {
    expect(MAX_SERIES_PER_REQUEST).toBe(200);
    await sink.write(report({ features: manyFeatures(197) }));
    expect(fake.timeSeriesCalls.map((c) => c.request.timeSeries?.length)).toEqual([200]);

    fake.reset();
    await sink.write(report({ features: manyFeatures(198) }));
    expect(fake.timeSeriesCalls.map((c) => c.request.timeSeries?.length)).toEqual([200, 1]);
  });

  it("turns INVALID_ARGUMENT into a rejected promise that names the project, model, version and status", async () => {
    fake.failCreateTimeSeries({
      code: status.INVALID_ARGUMENT,
      message: "Field timeSeries[0].metric.labels had an invalid value",
    });

    const err = await sink.write(report()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DriftMetricsError);
    const message = (err as Error).message;
    expect(message).toMatch(
      /createTimeSeries failed for projects\/p, model "fashion-cnn" version 3 at 2026-11-05T12:00:00\.250Z/,
    );
    expect(message).toMatch(/INVALID_ARGUMENT/);
    expect(message).toMatch(/metric\.labels had an invalid value/);
    expect(grpcCode(err)).toBe(status.INVALID_ARGUMENT);
    expect(grpcCode((err as Error).cause)).toBe(status.INVALID_ARGUMENT);
    expect(fake.timeSeriesCalls).toHaveLength(1);
  });

  it("stops at the first failed request and says how much was written", async () => {
    fake.failCreateTimeSeries({ code: status.INVALID_ARGUMENT, message: "bad point", afterCalls: 1 });
    await expect(sink.write(report({ features: manyFeatures(450) }))).rejects.toThrow(
      /request 2\/3, 200 series; 200 of 453 series written before it\).*bad point/,
    );
    expect(fake.timeSeriesCalls).toHaveLength(2);
  });

  it("leaves retries to gax: CreateTimeSeries is non-idempotent, so UNAVAILABLE is not retried", async () => {
    fake.failCreateTimeSeries({ code: status.UNAVAILABLE, message: "backend down" });
    const err = await sink.write(report()).catch((e: unknown) => e);
    expect(grpcCode(err)).toBe(status.UNAVAILABLE);
    expect(fake.timeSeriesCalls).toHaveLength(1);
  });

  it("reports a repeated report (same end time) as INVALID_ARGUMENT, as Cloud Monitoring does", async () => {
    await sink.write(report());
    const err = await sink.write(report()).catch((e: unknown) => e);
    expect(grpcCode(err)).toBe(status.INVALID_ARGUMENT);
    expect((err as Error).message).toMatch(/written in order/);
    await sink.write(report({ endTime: new Date(END.getTime() + 60_000) }));
    expect(fake.timeSeriesCalls).toHaveLength(3);
  });

  it("refuses invalid points before any request", async () => {
    await expect(sink.write(report({ score: Number.NaN }))).rejects.toThrow(/score is not finite/);
    await expect(sink.write(report({ features: { _overall: 0.5 } }))).rejects.toThrow(/reserved/);
    await expect(sink.write(report({ version: 0 }))).rejects.toThrow(/version must be a positive integer/);
    await expect(sink.write(report({ windowSize: 1.5 }))).rejects.toThrow(/windowSize/);
    await expect(sink.write(report({ endTime: new Date(Number.NaN) }))).rejects.toThrow(/endTime/);
    await expect(sink.write(report({ features: { contrast: Number.POSITIVE_INFINITY } }))).rejects.toThrow(
      /"contrast" score is not finite/,
    );
    expect(fake.timeSeriesCalls).toHaveLength(0);
  });

  it("creates the three metric descriptors with their kinds, value types and labels", async () => {
    await sink.createDescriptors();
    const summary = Object.fromEntries(
      [...fake.descriptors].map(([type, d]) => [type, [d.metricKind, d.valueType, (d.labels ?? []).map((l) => l.key)]]),
    );
    expect(summary).toEqual({
      [DRIFT_METRIC_TYPES.score]: ["GAUGE", "DOUBLE", ["model", "version", "feature"]],
      [DRIFT_METRIC_TYPES.windowSize]: ["GAUGE", "INT64", ["model", "version"]],
      [DRIFT_METRIC_TYPES.detected]: ["GAUGE", "INT64", ["model", "version"]],
    });
  });

  it("closes once and refuses writes afterwards", async () => {
    await sink.close();
    await sink.close();
    await expect(sink.write(report())).rejects.toThrow(/closed/);
  });

  it("connected to nothing but the loopback fake", () => {
    expect(connects.length).toBeGreaterThan(0);
    expect(new Set(connects)).toEqual(new Set([`127.0.0.1:${fake.port}`]));
  });
});

describe("LogDriftMetrics", () => {
  it("writes one structured log line per report", async () => {
    const lines: string[] = [];
    const sink = new LogDriftMetrics(
      createLogger({ component: "drift-metrics" }, { level: "INFO", write: (l) => lines.push(l) }),
    );
    await sink.write(report());
    await sink.close();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      severity: "INFO",
      message: "drift metrics",
      component: "drift-metrics",
      model: "fashion-cnn",
      version: 3,
      endTime: "2026-11-05T12:00:00.250Z",
      score: 0.375,
      features: { brightness: 0.02, contrast: 0.41, sharpness: 0.125 },
      windowSize: 500,
      drifted: true,
    });
  });

  it("refuses the same invalid points as the Cloud Monitoring sink", async () => {
    const lines: string[] = [];
    const sink = new LogDriftMetrics(createLogger({}, { write: (l) => lines.push(l) }));
    await expect(sink.write(report({ model: "" }))).rejects.toBeInstanceOf(DriftMetricsError);
    expect(lines).toHaveLength(0);
  });
});
