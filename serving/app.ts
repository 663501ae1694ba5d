import cors from "cors";
import express, { type ErrorRequestHandler, type RequestHandler } from "express";
import { GOOGLE_CLOUD_PROJECT } from "../core/config/settings/platform.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { authenticate } from "./auth.ts";
import { AbandonedError, QueueFullError } from "./batcher.ts";
import type { ServingContext } from "./context.ts";
import { DataPlane } from "./data-plane.ts";
import {
  answerFor,
  ApiError,
  ERROR_STATUS,
  errorBody,
  type ErrorAnswer,
  type ErrorBodyShape,
  type ErrorCode,
} from "./errors.ts";
import { requestContext, requestLogFields } from "./http-log.ts";
import { requestScope } from "./request-scope.ts";
import { adminRoutes } from "./routes/admin.ts";
import { healthRoutes, metricsRoutes } from "./routes/health.ts";
import { isOipPath, oipErrorBody } from "./oip/errors.ts";
import { oipRoutes } from "./routes/oip.ts";
import { predictRoutes } from "./routes/predict.ts";
import { vertexRoutes } from "./routes/vertex.ts";

/** Seconds a shed request is told to wait: a full queue drains in well under that. */
export const RETRY_AFTER_SECONDS = 1;

const INFERENCE_ROUTES = ["/predict", "/v2/models/:model/infer", "/v2/models/:model/versions/:version/infer"];

/**
 * The inference API (ARCHITECTURE.md, Serving contract) as an Express app: the public port. /metrics and /admin/*
 * are here only when no internal port is configured (a single local process).
 */
export function createApp(ctx: ServingContext): express.Express {
  const app = baseApp(ctx);
  const plane = new DataPlane(ctx);
  const vertex = vertexRoutes(ctx, plane);
  // Routes go straight into the app's router, in this order: a nested router costs every request that passes
  // through it without a match a turn of the event loop (router leaves with setImmediate) and its closures.
  const { router } = app;
  app.use(requestScope());
  vertex.errorShape(router);
  if (ctx.config.corsOrigins.length > 0)
    app.use(cors({ origin: ctx.config.corsOrigins, exposedHeaders: ["x-request-id", "x-prediction-id"] }));
  // Vertex AI's health checks carry no credential, like the other probes.
  vertex.health(router);
  const auth = authenticate(ctx.config.auth);
  if (auth) app.use(auth);
  healthRoutes(ctx, router);
  // Shed before reading the body: a full queue means this request would only wait and time out.
  app.post([...INFERENCE_ROUTES, ...vertex.paths], shedWhenFull(ctx));
  predictRoutes(ctx, plane, router);
  oipRoutes(ctx, plane, router);
  vertex.predict(router);
  if (ctx.config.internalPort === undefined) app.use(internalRoutes(ctx));
  return finish(app, ctx.log);
}

/** The internal port (not exposed by the Service): /metrics for the scraper and /admin/* for operators. */
export function createInternalApp(ctx: ServingContext): express.Express {
  return finish(baseApp(ctx).use(internalRoutes(ctx)), ctx.log);
}

function internalRoutes(ctx: ServingContext): express.Router {
  const router = express.Router();
  router.use(metricsRoutes(ctx));
  if (ctx.config.adminToken !== undefined) router.use(adminRoutes(ctx, ctx.config.adminToken));
  return router;
}

function baseApp(ctx: ServingContext): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  // A hop count, never `true`: trusting every X-Forwarded-For entry would let any client choose its remoteIp.
  app.set("trust proxy", ctx.config.trustedProxyHops);
  app.use(
    requestContext({
      metrics: ctx.metrics,
      log: ctx.log,
      project: GOOGLE_CLOUD_PROJECT.read(),
      requestLog: ctx.config.requestLog,
    }),
  );
  return app;
}

/** The 404 for anything else, then the JSON error handler. */
export function finish(app: express.Express, log: Logger): express.Express {
  app.use((req, _res, next) => next(new ApiError("not_found", `no route ${req.method} ${req.path}`)));
  app.use(errorHandler(log));
  return app;
}

function shedWhenFull(ctx: ServingContext): RequestHandler {
  return (_req, _res, next) => {
    const queued = ctx.queuedImages();
    next(queued >= ctx.config.maxQueuedImages ? new QueueFullError(queued) : undefined);
  };
}

// body-parser's error types → our codes; its messages are safe to show.
const BODY_ERRORS: Record<string, ErrorCode> = {
  "entity.too.large": "payload_too_large",
  "entity.parse.failed": "bad_request",
  "entity.verify.failed": "bad_request",
  "encoding.unsupported": "unsupported_media_type",
  "charset.unsupported": "unsupported_media_type",
  "request.aborted": "bad_request",
  "request.size.invalid": "bad_request",
  "stream.encoding.set": "internal",
  "parameters.too.many": "bad_request",
};

function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let answer: ErrorAnswer;
    if (err instanceof QueueFullError) {
      answer = {
        code: "overloaded",
        status: ERROR_STATUS.overloaded,
        message: err.message,
        headers: { "retry-after": String(RETRY_AFTER_SECONDS) },
      };
    } else if (err instanceof AbandonedError) {
      // Only reaches a response whose client is gone: nothing is listening, but it is not a server fault.
      answer = { code: "timeout", status: ERROR_STATUS.timeout, message: err.message, headers: {} };
    } else if (err instanceof Error && "type" in err && typeof err.type === "string" && err.type in BODY_ERRORS) {
      const code = BODY_ERRORS[err.type]!;
      answer = {
        code,
        status: ERROR_STATUS[code],
        message: code === "internal" ? "internal error" : err.message,
        headers: {},
      };
    } else {
      answer = answerFor(err);
    }
    const { code, status, message, headers } = answer;
    if (status >= 500 && code !== "not_ready" && code !== "timeout") {
      // Error Reporting shows `context.httpRequest` beside the stack (ReportedErrorEvent's ErrorContext).
      const context = {
        httpRequest: {
          method: req.method,
          url: req.originalUrl,
          responseStatusCode: status,
          userAgent: req.headers["user-agent"] ?? "",
          remoteIp: req.ip ?? "",
        },
      };
      log.error("unhandled error", { ...requestLogFields(res), route: req.path, context, err });
    }
    if (res.headersSent) return void res.end();
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    // A refused upload may still be streaming in; closing after the answer spares reading the rest of it.
    if (status === 413) res.setHeader("connection", "close");
    // A route may set its protocol's shape; every /v2 path (unknown ones and refusals before routing included) is OIP's.
    const shape =
      (res.locals.errorBody as ErrorBodyShape | undefined) ?? (isOipPath(req.path) ? oipErrorBody : errorBody);
    res.status(status).json(shape(code, message));
  };
}
