import { SightlineError, type ErrorKind } from "../errors.ts";
import { createLogger, type Logger } from "./logger.ts";

/**
 * One drift report, reduced to what goes on a dashboard: the drift function writes one of these per report.
 * The embedded default logs it (Prometheus and logs, no Cloud Monitoring); on Google Cloud it becomes custom
 * metrics (see cloud-monitoring-sink.ts).
 */
export interface DriftMetricPoint {
  /** Model name. */
  model: string;
  /** Model version (the registry's integer). */
  version: number;
  /** End of the window of predictions the report covers; the time of every point written. */
  endTime: Date;
  /** Overall drift score: share of drifted features, 0–1. */
  score: number;
  /** Per-feature score (feature name → the value its test compared with its threshold, 0–1ish). */
  features: Readonly<Record<string, number>>;
  /** Number of predictions in the window. */
  windowSize: number;
  /** Whether the report says the dataset drifted. */
  drifted: boolean;
}

export interface DriftMetricsSink {
  write(report: DriftMetricPoint): Promise<void>;
  /** Releases connections; a sink is not used after close. Calling it twice is harmless. */
  close(): Promise<void>;
}

/** Feature label value that carries the overall score next to the per-feature ones. */
export const OVERALL_FEATURE = "_overall";

/**
 * A drift point that was refused (kind invalid, the default) or that Cloud Monitoring did not take (the sink says
 * which kind: unavailable for an outage, invalid when the API refused the point).
 */
export class DriftMetricsError extends SightlineError {
  /** gRPC status code of the underlying failure, when there is one (see util/grpc.ts). */
  readonly grpcCode: number | undefined;

  constructor(message: string, options: { cause?: unknown; grpcCode?: number | undefined; kind?: ErrorKind } = {}) {
    const kind = options.kind ?? "invalid";
    super(kind, kind === "invalid" ? "drift_metric_invalid" : "drift_metrics_failed", message, {
      cause: options.cause,
    });
    this.grpcCode = options.grpcCode;
  }
}

/**
 * Refuses a point no backend could store faithfully: empty model name, a version that is not a positive
 * integer, an invalid time, non-finite numbers, a negative or fractional window, or a feature named like the
 * overall series. Throws DriftMetricsError naming the field.
 */
export function validateDriftMetricPoint(point: DriftMetricPoint): void {
  const fail = (what: string): never => {
    throw new DriftMetricsError(
      `invalid drift metric point for model "${point.model}" version ${point.version}: ${what}`,
    );
  };
  if (typeof point.model !== "string" || point.model.length === 0) fail("model name is empty");
  if (!Number.isSafeInteger(point.version) || point.version < 1) fail(`version must be a positive integer`);
  if (!(point.endTime instanceof Date) || Number.isNaN(point.endTime.getTime())) fail("endTime is not a valid date");
  if (!Number.isFinite(point.score)) fail(`score is not finite (${point.score})`);
  if (!Number.isSafeInteger(point.windowSize) || point.windowSize < 0)
    fail(`windowSize must be a non-negative integer (${point.windowSize})`);
  if (typeof point.drifted !== "boolean") fail("drifted is not a boolean");
  for (const [feature, score] of Object.entries(point.features)) {
    if (feature.length === 0) fail("a feature name is empty");
    if (feature === OVERALL_FEATURE) fail(`feature name "${OVERALL_FEATURE}" is reserved for the overall score`);
    if (!Number.isFinite(score)) fail(`feature "${feature}" score is not finite (${score})`);
  }
}

/** The embedded default: one structured log line per report (Cloud Logging JSON on stderr). */
export class LogDriftMetrics implements DriftMetricsSink {
  private readonly logger: Logger;

  constructor(logger: Logger = createLogger({ component: "drift-metrics" })) {
    this.logger = logger;
  }

  async write(point: DriftMetricPoint): Promise<void> {
    validateDriftMetricPoint(point);
    this.logger.info("drift metrics", {
      model: point.model,
      version: point.version,
      endTime: point.endTime.toISOString(),
      score: point.score,
      features: { ...point.features },
      windowSize: point.windowSize,
      drifted: point.drifted,
    });
  }

  async close(): Promise<void> {}
}
