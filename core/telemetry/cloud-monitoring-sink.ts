import { MetricServiceClient } from "@google-cloud/monitoring";
import type { protos } from "@google-cloud/monitoring";
import { grpcCode, grpcKind } from "../util/grpc.ts";
import {
  type DriftMetricPoint,
  DriftMetricsError,
  type DriftMetricsSink,
  OVERALL_FEATURE,
  validateDriftMetricPoint,
} from "./drift-metrics.ts";

type TimeSeries = protos.google.monitoring.v3.ITimeSeries;
type MetricDescriptor = protos.google.api.IMetricDescriptor;
/** What MetricServiceClient accepts (apiEndpoint, port, sslCreds, … — tests point it at a loopback fake). */
export type MetricServiceClientOptions = NonNullable<ConstructorParameters<typeof MetricServiceClient>[0]>;

const PREFIX = "custom.googleapis.com/sightline/drift";
export const DRIFT_METRIC_TYPES = {
  /** DOUBLE; labels model, version, feature (one series per feature, plus feature="_overall"). */
  score: `${PREFIX}/score`,
  /** INT64; labels model, version. */
  windowSize: `${PREFIX}/window_size`,
  /** INT64 0/1 (not BOOL: a number can be averaged, summed and thresholded in charts and alerts); labels model, version. */
  detected: `${PREFIX}/detected`,
} as const;

/** CreateTimeSeries accepts at most 200 time series per request. */
export const MAX_SERIES_PER_REQUEST = 200;

const MODEL_LABELS = [
  { key: "model", valueType: "STRING", description: "Model name" },
  { key: "version", valueType: "STRING", description: "Model version" },
] as const;

/** Descriptors for createDescriptors(); the same kinds, value types and labels the writes use. */
export const DRIFT_METRIC_DESCRIPTORS: readonly MetricDescriptor[] = [
  {
    type: DRIFT_METRIC_TYPES.score,
    metricKind: "GAUGE",
    valueType: "DOUBLE",
    unit: "1",
    displayName: "Sightline drift score",
    description:
      'Drift score per feature (the value its test compares with its threshold); feature="_overall" is the share of drifted features.',
    labels: [...MODEL_LABELS, { key: "feature", valueType: "STRING", description: 'Feature name, or "_overall"' }],
  },
  {
    type: DRIFT_METRIC_TYPES.windowSize,
    metricKind: "GAUGE",
    valueType: "INT64",
    unit: "1",
    displayName: "Sightline drift window size",
    description: "Number of predictions in the window a drift report covers.",
    labels: [...MODEL_LABELS],
  },
  {
    type: DRIFT_METRIC_TYPES.detected,
    metricKind: "GAUGE",
    valueType: "INT64",
    unit: "1",
    displayName: "Sightline drift detected",
    description: "1 when the drift report says the model's inputs drifted, else 0.",
    labels: [...MODEL_LABELS],
  },
];

/**
 * Writes drift reports to Cloud Monitoring as custom metrics (GAUGE, one point per series per report).
 *
 * Monitored resource: `global` (label project_id). The series describe a model, not the machine that computed
 * them: the drift function is serverless, and `generic_task`/`generic_node` would need a location, namespace and
 * task/node id; filling those with the function instance would split one model's series across instances,
 * filling them with constants is `global` with extra steps.
 *
 * Cloud Monitoring rules the caller should know: points of a series must be written in time order and no more
 * often than every 5 s, so writing the same report twice (a redelivered event) is refused with INVALID_ARGUMENT
 * — treat that code as "already written" if the report is known to be a repeat. End times older than 25 hours
 * are refused. Retries are gax's defaults: CreateTimeSeries is configured non-idempotent, so gax does not retry
 * it. Descriptors are created automatically by the first write; createDescriptors() makes them explicit (units,
 * descriptions), e.g. before alert policies that reference the metrics are deployed.
 */
export class CloudMonitoringSink implements DriftMetricsSink {
  private readonly projectId: string;
  private readonly client: MetricServiceClient;
  private closed: Promise<void> | undefined;

  constructor(projectId: string, clientOptions: MetricServiceClientOptions = {}) {
    if (projectId.length === 0)
      throw new DriftMetricsError("CloudMonitoringSink needs a project id", { kind: "config" });
    this.projectId = projectId;
    this.client = new MetricServiceClient({ projectId, ...clientOptions });
  }

  async write(point: DriftMetricPoint): Promise<void> {
    if (this.closed !== undefined)
      throw new DriftMetricsError("CloudMonitoringSink is closed", { kind: "unavailable" });
    validateDriftMetricPoint(point);
    const series = driftTimeSeries(this.projectId, point);
    const name = this.client.projectPath(this.projectId);
    const batches = Math.ceil(series.length / MAX_SERIES_PER_REQUEST);
    for (let b = 0; b < batches; b++) {
      const timeSeries = series.slice(b * MAX_SERIES_PER_REQUEST, (b + 1) * MAX_SERIES_PER_REQUEST);
      try {
        await this.client.createTimeSeries({ name, timeSeries });
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        const written = b * MAX_SERIES_PER_REQUEST;
        throw new DriftMetricsError(
          `Cloud Monitoring createTimeSeries failed for ${name}, model "${point.model}" version ${point.version} ` +
            `at ${point.endTime.toISOString()} (request ${b + 1}/${batches}, ${timeSeries.length} series; ` +
            `${written} of ${series.length} series written before it): ${reason}`,
          { cause: err, grpcCode: grpcCode(err), kind: grpcKind(grpcCode(err)) },
        );
      }
    }
  }

  /**
   * Creates the three metric descriptors; the API updates one that exists (labels are never removed), so this can
   * run on every deploy. Not needed for writing; see the class comment.
   */
  async createDescriptors(): Promise<void> {
    const name = this.client.projectPath(this.projectId);
    for (const metricDescriptor of DRIFT_METRIC_DESCRIPTORS) {
      try {
        await this.client.createMetricDescriptor({ name, metricDescriptor });
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new DriftMetricsError(
          `Cloud Monitoring createMetricDescriptor ${metricDescriptor.type} failed for ${name}: ${reason}`,
          {
            cause: err,
            grpcCode: grpcCode(err),
            kind: grpcKind(grpcCode(err)),
          },
        );
      }
    }
  }

  close(): Promise<void> {
    this.closed ??= this.client.close();
    return this.closed;
  }
}

/** The time series of one report: window_size, detected, the overall score, then one score per feature. */
export function driftTimeSeries(projectId: string, point: DriftMetricPoint): TimeSeries[] {
  const resource = { type: "global", labels: { project_id: projectId } };
  const model = { model: point.model, version: String(point.version) };
  const interval = { endTime: timestamp(point.endTime) };
  const int64 = (type: string, value: number): TimeSeries => ({
    metric: { type, labels: model },
    resource,
    metricKind: "GAUGE",
    valueType: "INT64",
    points: [{ interval, value: { int64Value: value } }],
  });
  const score = (feature: string, value: number): TimeSeries => ({
    metric: { type: DRIFT_METRIC_TYPES.score, labels: { ...model, feature } },
    resource,
    metricKind: "GAUGE",
    valueType: "DOUBLE",
    points: [{ interval, value: { doubleValue: value } }],
  });
  return [
    int64(DRIFT_METRIC_TYPES.windowSize, point.windowSize),
    int64(DRIFT_METRIC_TYPES.detected, point.drifted ? 1 : 0),
    score(OVERALL_FEATURE, point.score),
    ...Object.entries(point.features).map(([feature, value]) => score(feature, value)),
  ];
}

function timestamp(date: Date): { seconds: number; nanos: number } {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}
