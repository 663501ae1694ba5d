import { randomUUID } from "node:crypto";
import type { RequestHandler } from "express";
import type { Logger } from "../core/telemetry/logger.ts";
import type { ServingMetrics } from "./metrics.ts";

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TRACE = /^([0-9a-f]{32})(?:\/(\d+))?/i;

/**
 * Gives every request an id (the caller's `x-request-id` when it is sane, else a new UUID) echoed in
 * `x-request-id`, times it into the latency histogram by route, and logs it in Cloud Logging's `httpRequest`
 * shape, tied to the Cloud Trace id when the load balancer sent one. Successes log at DEBUG: at thousands of
 * requests a second an access line each would cost more than the inference.
 */
export function requestContext(metrics: ServingMetrics, log: Logger, project: string | undefined): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers["x-request-id"];
    const requestId = typeof incoming === "string" && SAFE_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader("x-request-id", requestId);
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route ? `${req.baseUrl}${String(req.route.path)}` : "unmatched";
      metrics.httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
      const trace = TRACE.exec(String(req.headers["x-cloud-trace-context"] ?? ""))?.[1];
      const fields = {
        requestId,
        httpRequest: {
          requestMethod: req.method,
          requestUrl: req.originalUrl,
          status: res.statusCode,
          requestSize: req.headers["content-length"] ?? "0",
          responseSize: String(res.getHeader("content-length") ?? ""),
          userAgent: req.headers["user-agent"] ?? "",
          remoteIp: req.socket.remoteAddress ?? "",
          latency: `${seconds.toFixed(6)}s`,
        },
        ...(trace && project ? { "logging.googleapis.com/trace": `projects/${project}/traces/${trace}` } : {}),
      };
      if (res.statusCode >= 500) log.error("request failed", fields);
      else if (res.statusCode >= 400) log.info("request refused", fields);
      else log.debug("request", fields);
    });
    next();
  };
}
