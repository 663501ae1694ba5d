import type { Logger } from "../core/telemetry/logger.ts";
import type { ServingConfig } from "./config.ts";
import { ApiError } from "./errors.ts";
import type { LoadedModel } from "./loaded-model.ts";
import type { ServingMetrics } from "./metrics.ts";
import type { ModelHost } from "./model-host.ts";
import type { PredictionLog } from "./prediction-log.ts";

/** What the routes share: one per worker process. */
export interface ServingContext {
  config: ServingConfig;
  host: ModelHost;
  metrics: ServingMetrics;
  predictionLog: PredictionLog | undefined;
  log: Logger;
  /** The Prometheus text for GET /metrics (this process's registry, or every cluster worker's). */
  metricsText(): Promise<{ contentType: string; body: string }>;
  /** Images waiting in this process's batch queues (every loaded version's): the load-shedding signal. */
  queuedImages(): number;
  /** Set on SIGTERM: /ready answers 503 so load balancers stop sending, while requests in flight finish. */
  draining: boolean;
}

/** Runs `fn` with the served model leased, so a hot swap cannot retire it mid-request. */
export async function withModel<T>(ctx: ServingContext, fn: (model: LoadedModel) => Promise<T>): Promise<T> {
  const model = ctx.host.current;
  if (!model) throw new ApiError("not_ready", "no model is loaded yet; try again shortly");
  const release = model.lease();
  try {
    return await fn(model);
  } finally {
    release();
  }
}
