import express, { Router, type RequestHandler } from "express";
import type { ServingContext } from "../context.ts";
import type { DataPlane } from "../data-plane.ts";
import { allowImageFormats } from "../../core/imaging/formats.ts";
import { IMAGE_TYPES, mediaType, readImages } from "../inputs.ts";

/**
 * POST /predict: one or more images in, one prediction per image out (ARCHITECTURE.md, Serving contract). Added to
 * `router` (the app's own, so that no nested router is entered and left on the way).
 */
export function predictRoutes(ctx: ServingContext, plane: DataPlane, router: Router = Router()): Router {
  const { config } = ctx;
  const limit = config.maxBodyBytes;
  allowImageFormats(config.imageFormats);
  const raw = express.raw({ type: [...IMAGE_TYPES], limit });
  // base64 is 4/3 the size of the bytes it carries
  const json = express.json({ limit: Math.ceil((limit * 4) / 3) + 1024, strict: true });
  // The one parser the media type calls for (a multipart body is read by readImages): each parser would otherwise
  // parse the Content-Type again only to decline.
  const body: RequestHandler = (req, res, next) => {
    const type = mediaType(req);
    if (IMAGE_TYPES.has(type)) return raw(req, res, next);
    if (type === "application/json") return json(req, res, next);
    next();
  };
  router.post("/predict", body, async (req, res) => {
    const images = await readImages(req, { maxBodyBytes: limit, maxImages: config.maxImagesPerRequest });
    const { model, predictions } = await plane.infer("predict", { kind: "images", images });
    res.json({
      request_id: String(res.locals.requestId),
      model: { name: model.name, version: model.version },
      predictions,
    });
  });
  return router;
}
