import { timingSafeEqual } from "node:crypto";
import { Router, type RequestHandler } from "express";
import type { ServingContext } from "../context.ts";
import { ApiError } from "../errors.ts";

/** POST /admin/reload re-reads the alias now. Only mounted when SIGHTLINE_ADMIN_TOKEN is set. */
export function adminRoutes(ctx: ServingContext, token: string): Router {
  const router = Router();
  router.post("/admin/reload", bearer(token), async (_req, res) => {
    const result = await ctx.host.check("admin");
    res.status(result.error ? 409 : 200).json({
      changed: result.changed,
      version: result.version ?? null,
      ...(result.error ? { error: { code: "reload_failed", message: result.error } } : {}),
    });
  });
  return router;
}

/** Checks `Authorization: Bearer <token>` in constant time. */
export function bearer(token: string): RequestHandler {
  const expected = Buffer.from(token);
  return (req, _res, next) => {
    const given = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new ApiError("unauthorized", "a valid bearer token is required");
    next();
  };
}
