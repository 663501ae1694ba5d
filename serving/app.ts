import cors from "cors";
import express, { type ErrorRequestHandler } from "express";
import type { ServingContext } from "./context.ts";
import { ApiError, ERROR_STATUS, errorBody, type ErrorCode } from "./errors.ts";
import { requestContext } from "./http-log.ts";
import { adminRoutes } from "./routes/admin.ts";
import { healthRoutes } from "./routes/health.ts";
import { oipRoutes } from "./routes/oip.ts";
import { predictRoutes } from "./routes/predict.ts";

/** The inference API (ARCHITECTURE.md, Serving contract) as an Express app. */
export function createApp(ctx: ServingContext): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("trust proxy", true);
  app.use(requestContext(ctx.metrics, ctx.log, process.env.GOOGLE_CLOUD_PROJECT));
  if (ctx.config.corsOrigins.length > 0) app.use(cors({ origin: ctx.config.corsOrigins, exposedHeaders: ["x-request-id"] }));
  app.use(healthRoutes(ctx));
  app.use(predictRoutes(ctx));
  app.use(oipRoutes(ctx));
  if (ctx.config.adminToken !== undefined) app.use(adminRoutes(ctx, ctx.config.adminToken));
  app.use((req, _res, next) => next(new ApiError("not_found", `no route ${req.method} ${req.path}`)));
  app.use(errorHandler(ctx));
  return app;
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

function errorHandler(ctx: ServingContext): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let code: ErrorCode;
    let message: string;
    if (err instanceof ApiError) {
      code = err.code;
      message = err.message;
    } else if (err instanceof Error && "type" in err && typeof err.type === "string" && err.type in BODY_ERRORS) {
      code = BODY_ERRORS[err.type]!;
      message = code === "internal" ? "internal error" : err.message;
    } else {
      code = "internal";
      message = "internal error; the request id is in the x-request-id header";
    }
    const status = ERROR_STATUS[code];
    if (status >= 500 && code !== "not_ready" && code !== "timeout") ctx.log.error("unhandled error", { requestId: res.locals.requestId, route: req.path, err });
    if (res.headersSent) return void res.end();
    // A refused upload may still be streaming in; closing after the answer spares reading the rest of it.
    if (status === 413) res.setHeader("connection", "close");
    res.status(status).json(errorBody(code, message));
  };
}
