import express, { Router } from "express";
import type { ServingContext } from "../context.ts";
import type { DataPlane } from "../data-plane.ts";
import { allowImageFormats } from "../../core/imaging/formats.ts";
import { readImages } from "../inputs.ts";

/** POST /predict: one or more images in, one prediction per image out (ARCHITECTURE.md, Serving contract). */
export function predictRoutes(ctx: ServingContext, plane: DataPlane): Router {
  const { config } = ctx;
  const router = Router();
  const limit = config.maxBodyBytes;
  allowImageFormats(config.imageFormats);
  router.post(
    "/predict",
    express.raw({ type: ["image/png", "image/jpeg", "image/webp", "application/octet-stream"], limit }),
    // base64 is 4/3 the size of the bytes it carries
    express.json({ limit: Math.ceil((limit * 4) / 3) + 1024, strict: true }),
    async (req, res) => {
      const images = await readImages(req, { maxBodyBytes: limit, maxImages: config.maxImagesPerRequest });
      const { model, predictions } = await plane.infer("predict", { kind: "images", images });
      res.json({
        request_id: String(res.locals.requestId),
        model: { name: model.name, version: model.version },
        predictions,
      });
    },
  );
  return router;
}
