/**
 * A fake Cloud Monitoring MetricService on loopback: a real gRPC server (grpc-js) built from the monitoring
 * client's own .proto files, so the real MetricServiceClient talks to it over the real wire protocol.
 *
 * It implements CreateTimeSeries and CreateMetricDescriptor, records every request (decoded, camelCase, int64 as
 * strings, enums as names) with its metadata, and enforces the service's rules that a writer can get wrong:
 * `projects/{id}` name, 1–200 series per request, exactly one point per series, a GAUGE interval with no start
 * time or start = end, the value's type matching valueType, no duplicate series in one request, and points of a
 * series written in time order (an equal or older end time is refused, as the real service does). Unlike the
 * real service, a request with one bad series is refused whole (the real one writes the good series and
 * reports the bad ones). `failCreateTimeSeries` makes it answer with a chosen status instead.
 *
 * Tests must set METADATA_SERVER_DETECTION=none before creating the client (or the auth library may probe for a
 * GCE metadata server while gax resolves the universe domain).
 */
import path from "node:path";
import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

export interface DecodedTimestamp {
  seconds?: string;
  nanos?: number;
}
export interface DecodedTimeSeries {
  metric?: { type?: string; labels?: Record<string, string> };
  resource?: { type?: string; labels?: Record<string, string> };
  metricKind?: string;
  valueType?: string;
  unit?: string;
  points?: {
    interval?: { startTime?: DecodedTimestamp; endTime?: DecodedTimestamp };
    value?: { doubleValue?: number; int64Value?: string; boolValue?: boolean; stringValue?: string; value?: string };
  }[];
}
export interface DecodedCreateTimeSeriesRequest {
  name?: string;
  timeSeries?: DecodedTimeSeries[];
}
export interface DecodedMetricDescriptor {
  type?: string;
  metricKind?: string;
  valueType?: string;
  unit?: string;
  labels?: { key?: string; valueType?: string; description?: string }[];
}
export interface RecordedCall<T> {
  request: T;
  metadata: Record<string, string[]>;
}

export interface Failure {
  code: grpc.status;
  message: string;
  /** Calls that still succeed before the failures start (default 0). */
  afterCalls?: number;
}

export interface FakeMonitoring {
  readonly port: number;
  /** Options for `new MetricServiceClient(…)`: loopback, plain text (no TLS, no auth). */
  clientOptions(): { apiEndpoint: string; port: number; sslCreds: grpc.ChannelCredentials };
  /** Every CreateTimeSeries call received, in order (refused ones included). */
  readonly timeSeriesCalls: RecordedCall<DecodedCreateTimeSeriesRequest>[];
  /** Descriptors by type, as last created. */
  readonly descriptors: Map<string, DecodedMetricDescriptor>;
  /** Answer CreateTimeSeries with this status (after `afterCalls` successes); undefined restores normal service. */
  failCreateTimeSeries(failure: Failure | undefined): void;
  /** Forget recorded calls, written points and descriptors. */
  reset(): void;
  close(): Promise<void>;
}

const VALUE_FIELD: Record<string, string> = {
  DOUBLE: "doubleValue",
  INT64: "int64Value",
  BOOL: "boolValue",
  STRING: "stringValue",
  DISTRIBUTION: "distributionValue",
};
const MAX_SERIES = 200;

function loadService(): grpc.ServiceDefinition {
  const require = createRequire(import.meta.url);
  const monitoring = path.dirname(require.resolve("@google-cloud/monitoring/package.json"));
  // google/api and google/protobuf imports ship with google-gax, the client's own dependency.
  const gax = path.dirname(createRequire(path.join(monitoring, "package.json")).resolve("google-gax"));
  const definition = protoLoader.loadSync("google/monitoring/v3/metric_service.proto", {
    includeDirs: [path.join(monitoring, "build", "protos"), path.join(gax, "..", "protos")],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  return definition["google.monitoring.v3.MetricService"] as grpc.ServiceDefinition;
}

function seriesKey(series: DecodedTimeSeries): string {
  const sorted = (labels: Record<string, string> | undefined): [string, string][] =>
    Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([
    series.metric?.type,
    sorted(series.metric?.labels),
    series.resource?.type,
    sorted(series.resource?.labels),
  ]);
}

function nanosOf(ts: DecodedTimestamp | undefined): bigint | undefined {
  if (ts === undefined) return undefined;
  return BigInt(ts.seconds ?? "0") * 1_000_000_000n + BigInt(ts.nanos ?? 0);
}

/** Why the real service would refuse this request, or undefined. */
function invalid(request: DecodedCreateTimeSeriesRequest, lastEnd: Map<string, bigint>): string | undefined {
  if (!/^projects\/[^/]+$/.test(request.name ?? ""))
    return `Field name had an invalid value of "${request.name ?? ""}"`;
  const series = request.timeSeries ?? [];
  if (series.length === 0) return "Field timeSeries is required";
  if (series.length > MAX_SERIES)
    return `Field timeSeries had an invalid value: a request can contain at most ${MAX_SERIES} time series (got ${series.length})`;
  const seen = new Set<string>();
  for (const [i, s] of series.entries()) {
    const key = seriesKey(s);
    if (seen.has(key)) return `Field timeSeries[${i}] duplicates another time series in the request`;
    seen.add(key);
    if (!s.metric?.type) return `Field timeSeries[${i}].metric.type is required`;
    if (!s.resource?.type) return `Field timeSeries[${i}].resource.type is required`;
    if (s.points?.length !== 1)
      return `Field timeSeries[${i}].points must contain exactly one point (got ${s.points?.length ?? 0})`;
    const [point] = s.points;
    const end = nanosOf(point?.interval?.endTime);
    if (end === undefined) return `Field timeSeries[${i}].points[0].interval.endTime is required`;
    const start = nanosOf(point?.interval?.startTime);
    if (s.metricKind === "GAUGE" && start !== undefined && start !== end)
      return `Field timeSeries[${i}]: a GAUGE point's start time must equal its end time`;
    const expected = VALUE_FIELD[s.valueType ?? ""];
    if (expected === undefined || point?.value?.value !== expected)
      return `Field timeSeries[${i}].points[0].value: ${point?.value?.value} does not match value type ${s.valueType}`;
    const last = lastEnd.get(key);
    if (last !== undefined && end <= last)
      return `Field timeSeries[${i}].points[0].interval.endTime had an invalid value: Points must be written in order. One or more of the points specified had an older start time than the most recent point.`;
  }
  return undefined;
}

export async function startFakeMonitoring(): Promise<FakeMonitoring> {
  const timeSeriesCalls: RecordedCall<DecodedCreateTimeSeriesRequest>[] = [];
  const descriptors = new Map<string, DecodedMetricDescriptor>();
  const lastEnd = new Map<string, bigint>();
  let failure: Failure | undefined;
  let okCalls = 0;

  const metadataOf = (metadata: grpc.Metadata): Record<string, string[]> =>
    Object.fromEntries(Object.entries(metadata.toJSON()).map(([k, v]) => [k, v.map(String)]));

  const server = new grpc.Server();
  server.addService(loadService(), {
    CreateTimeSeries(
      call: grpc.ServerUnaryCall<DecodedCreateTimeSeriesRequest, object>,
      callback: grpc.sendUnaryData<object>,
    ): void {
      timeSeriesCalls.push({ request: call.request, metadata: metadataOf(call.metadata) });
      if (failure !== undefined && okCalls >= (failure.afterCalls ?? 0)) {
        callback({ code: failure.code, details: failure.message });
        return;
      }
      const reason = invalid(call.request, lastEnd);
      if (reason !== undefined) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: reason });
        return;
      }
      for (const s of call.request.timeSeries ?? []) {
        const end = nanosOf(s.points?.[0]?.interval?.endTime);
        if (end !== undefined) lastEnd.set(seriesKey(s), end);
      }
      okCalls++;
      callback(null, {});
    },
    CreateMetricDescriptor(
      call: grpc.ServerUnaryCall<{ name?: string; metricDescriptor?: DecodedMetricDescriptor }, object>,
      callback: grpc.sendUnaryData<object>,
    ): void {
      const { name, metricDescriptor } = call.request;
      if (!/^projects\/[^/]+$/.test(name ?? "") || !metricDescriptor?.type) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: "name and metricDescriptor.type are required" });
        return;
      }
      descriptors.set(metricDescriptor.type, metricDescriptor);
      callback(null, { ...metricDescriptor, name: `${name}/metricDescriptors/${metricDescriptor.type}` });
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });

  return {
    port,
    clientOptions: () => ({ apiEndpoint: "127.0.0.1", port, sslCreds: grpc.credentials.createInsecure() }),
    timeSeriesCalls,
    descriptors,
    failCreateTimeSeries(next) {
      failure = next;
      okCalls = 0;
    },
    reset() {
      timeSeriesCalls.length = 0;
      descriptors.clear();
      lastEnd.clear();
      failure = undefined;
      okCalls = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
}
