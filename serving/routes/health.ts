import { Router, type RequestHandler } from "express";
import type { ServingContext } from "../context.ts";

/** Liveness (the process answers) and readiness (a model is loaded and we are not draining). */
export function healthRoutes(ctx: ServingContext, router: Router = Router()): Router {
  router.get("/health", (_req, res) => void res.json({ status: "ok" }));
  router.get("/ready", readiness(ctx));
  return router;
}

/** 200 once a model is loaded, 503 before it and while draining: what load balancers and Vertex AI probe. */
export function readiness(ctx: ServingContext): RequestHandler {
  return (_req, res) => {
    const model = ctx.host.current;
    if (ctx.draining) return void res.status(503).json({ status: "draining" });
    if (!model) return void res.status(503).json({ status: "loading", model: null });
    res.json({
      status: "ready",
      model: { name: model.name, version: model.version, loadedAt: model.loadedAt.toISOString() },
    });
  };
}

/** GET /metrics (Prometheus text): on the internal port when there is one. */
export function metricsRoutes(ctx: ServingContext): Router {
  const router = Router();
  router.get("/metrics", async (_req, res) => {
    const { contentType, body } = await ctx.metricsText();
    res.type(contentType).send(body);
  });
  return router;
}
