import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Runtime } from "../core/config/runtime.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { createApp, createInternalApp } from "./app.ts";
import { refText, type ServingConfig } from "./config.ts";
import type { ServingContext } from "./context.ts";
import { ServingMetrics } from "./metrics.ts";
import { ModelHost } from "./model-host.ts";
import { PREDICTION_LOG_CLOSE_MS, PredictionLog } from "./prediction-log.ts";
import { currentRequest } from "./request-scope.ts";

export interface RunningServer {
  url: string;
  port: number;
  /** The internal listener (/metrics, /admin/*), when `internalPort` is set. */
  internalUrl: string | undefined;
  context: ServingContext;
  /** Not ready → wait `drainSeconds` → stop accepting → finish requests in flight → flush the prediction log. */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  /** Replaces this process's /metrics text (cluster workers answer with every worker's). */
  metricsText?: (metrics: ServingMetrics) => Promise<{ contentType: string; body: string }>;
  /** Subscription that triggers an immediate reload on promotion events (polling works without it). */
  subscription?: string;
  /** Collect prom-client's process metrics (off in tests that start several servers in one process). */
  defaultMetrics?: boolean;
  /** Cluster workers leave the internal port to the primary, which answers it for all of them. */
  internalListener?: boolean;
}

// Requests still running this long after the drain are cut off.
export const HARD_STOP_MS = 30_000;

/**
 * Longest a SIGTERM'd server takes to exit: the drain, then requests in flight (cut off at the hard stop), then
 * the prediction log's last flush. The pod's terminationGracePeriodSeconds must cover it plus the preStop hook.
 */
export function shutdownSeconds(config: Pick<ServingConfig, "drainSeconds">): number {
  return config.drainSeconds + HARD_STOP_MS / 1000 + PREDICTION_LOG_CLOSE_MS / 1000;
}

/** Starts the inference API on `config.host:config.port` in this process; the model loads in the background. */
export async function startServer(
  rt: Runtime,
  config: ServingConfig,
  log: Logger,
  options: StartOptions = {},
): Promise<RunningServer> {
  const metrics = new ServingMetrics({ defaults: options.defaultMetrics ?? true });
  const predictionLog =
    config.predictionLog.sampleRate > 0
      ? new PredictionLog(rt.bus, config.predictionLog, metrics, log.child({ component: "prediction-log" }))
      : undefined;
  const batch = {
    ...config.batch,
    maxQueue: config.maxQueuedImages,
    signal: () => currentRequest()?.signal,
    onDrop: (reason: "full" | "abandoned", n: number) => metrics.batchDropped.inc({ reason }, n),
    onQueueChange: (delta: number) => void (metrics.queuedImages += delta),
  };
  const host = new ModelHost(
    rt,
    {
      ref: config.model,
      reloadPollMs: config.reloadPollMs,
      ortThreads: config.ortThreads,
      ortPlacement: config.ortPlacement,
      batch,
      ...(options.subscription ? { subscription: options.subscription } : {}),
    },
    metrics,
    log.child({ component: "model-host" }),
  );
  const metricsText =
    options.metricsText ??
    (async (m: ServingMetrics) => ({ contentType: m.registry.contentType, body: await m.registry.metrics() }));
  const context: ServingContext = {
    config,
    host,
    metrics,
    predictionLog,
    log,
    metricsText: () => metricsText(metrics),
    queuedImages: () => metrics.queuedImages,
    draining: false,
  };

  const server = createServer(createApp(context));
  // Slow or stalled uploads are cut off; keep-alive outlives typical client and L4 load balancer idle timeouts.
  server.requestTimeout = config.requestTimeoutMs + 5_000;
  server.headersTimeout = Math.min(server.requestTimeout, 60_000);
  server.keepAliveTimeout = 65_000;
  await listen(server, config.host, config.port);
  const port = (server.address() as AddressInfo).port;
  const urlOf = (p: number): string => `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${p}`;
  const url = urlOf(port);
  let internal: Server | undefined;
  if (config.internalPort !== undefined && (options.internalListener ?? true)) {
    internal = createServer(createInternalApp(context));
    internal.requestTimeout = 30_000;
    await listen(internal, config.host, config.internalPort);
  }
  const internalUrl = internal ? urlOf((internal.address() as AddressInfo).port) : undefined;
  log.info("serving", { url, internalUrl, model: refText(config.model), pid: process.pid });
  await host.start();

  let stopping: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (stopping ??= (async () => {
      context.draining = true;
      log.info("draining", { seconds: config.drainSeconds });
      if (config.drainSeconds > 0) await new Promise((r) => setTimeout(r, config.drainSeconds * 1000));
      const hardStop = setTimeout(() => server.closeAllConnections(), HARD_STOP_MS);
      hardStop.unref();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      clearTimeout(hardStop);
      await predictionLog?.close(PREDICTION_LOG_CLOSE_MS);
      await host.stop();
      // Scrapes answer until the end, so the drain itself shows in the metrics.
      if (internal) {
        const closed = new Promise<void>((resolve) => internal.close(() => resolve()));
        internal.closeAllConnections();
        await closed;
      }
      log.info("stopped");
    })());
  return { url, port, internalUrl, context, shutdown };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
