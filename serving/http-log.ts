import { randomUUID } from "node:crypto";
import type { Request, RequestHandler, Response } from "express";
import type { LogFields, Logger } from "../core/telemetry/logger.ts";
import { traceFromHeaders, traceLogFields } from "../core/telemetry/trace-context.ts";
import type { ServingConfig } from "./config.ts";
import type { ServingMetrics } from "./metrics.ts";

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequestLogOptions {
  metrics: ServingMetrics;
  log: Logger;
  /** Google Cloud project of the trace ids (`logging.googleapis.com/trace` names it). */
  project: string | undefined;
  requestLog: ServingConfig["requestLog"];
}

/** Fields every log line about this request carries: its id and its trace. Set by `requestContext`. */
export const requestLogFields = (res: Response): LogFields => (res.locals.logFields as LogFields | undefined) ?? {};

/**
 * Gives every request an id (the caller's `x-request-id` when it is sane, else a new UUID) echoed in
 * `x-request-id`, reads its trace (`traceparent` or `X-Cloud-Trace-Context`), times it into the latency histogram
 * by route, and writes a request log in Cloud Logging's `httpRequest` shape. Successes are sampled at
 * `requestLog.sampleRate`; errors and slow requests are always logged (5xx at ERROR, but 503 at WARNING).
 */
export function requestContext(options: RequestLogOptions): RequestHandler {
  const { metrics, log, project, requestLog } = options;
  return (req, res, next) => {
    const incoming = req.headers["x-request-id"];
    const requestId = typeof incoming === "string" && SAFE_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = requestId;
    const logFields: LogFields = { requestId, ...traceLogFields(traceFromHeaders(req.headers), project) };
    res.locals.logFields = logFields;
    res.setHeader("x-request-id", requestId);
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : "unmatched";
      const status = res.statusCode;
      metrics.httpDuration.observe({ method: req.method, route, status: String(status) }, seconds);
      const slow = seconds * 1000 > requestLog.slowMs;
      if (status < 400 && !slow && !(Math.random() < requestLog.sampleRate)) return;
      const fields = { ...logFields, httpRequest: httpRequest(req, res, seconds) };
      // A 503 is this server saying "not now" (not ready yet, draining, shedding load): expected while a model
      // loads or a pod stops, so it must not flood Error Reporting the way a fault should.
      if (status === 503) log.warn("request refused: unavailable", fields);
      else if (status >= 500) log.error("request failed", fields);
      else if (status >= 400) log.info("request refused", fields);
      else if (slow) log.warn("slow request", fields);
      else log.info("request", fields);
    });
    next();
  };
}

/** Cloud Logging's HttpRequest (https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry#HttpRequest). */
function httpRequest(req: Request, res: Response, seconds: number): LogFields {
  const responseSize = res.getHeader("content-length");
  return {
    requestMethod: req.method,
    requestUrl: req.originalUrl,
    status: res.statusCode,
    requestSize: req.headers["content-length"] ?? "0",
    ...(responseSize !== undefined ? { responseSize: String(responseSize) } : {}),
    userAgent: req.headers["user-agent"] ?? "",
    // The client as the trusted proxies saw it (`trust proxy` = SIGHTLINE_TRUSTED_PROXY_HOPS), else the socket's peer.
    remoteIp: req.ip ?? req.socket.remoteAddress ?? "",
    protocol: `HTTP/${req.httpVersion}`,
    latency: `${seconds.toFixed(6)}s`,
  };
}
