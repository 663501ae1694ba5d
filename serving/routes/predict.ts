import express, { Router } from "express";
import { classifyImages } from "../classify.ts";
import { withModel, type ServingContext } from "../context.ts";
import { allowImageFormats } from "../../core/imaging/formats.ts";
import { DecodeSlots } from "../decode-slots.ts";
import { readImages } from "../inputs.ts";
import { withTimeout } from "../timeout.ts";

/** POST /predict: one or more images in, one prediction per image out (ARCHITECTURE.md, Serving contract). */
export function predictRoutes(ctx: ServingContext): Router {
  const { config } = ctx;
  const router = Router();
  const limit = config.maxBodyBytes;
  allowImageFormats(config.imageFormats);
  // One per process: every request's decodes share it.
  const decodeSlots = new DecodeSlots(config.decodes);
  router.post(
    "/predict",
    express.raw({ type: ["image/png", "image/jpeg", "image/webp", "application/octet-stream"], limit }),
    // base64 is 4/3 the size of the bytes it carries
    express.json({ limit: Math.ceil((limit * 4) / 3) + 1024, strict: true }),
    async (req, res) => {
      const requestId = String(res.locals.requestId);
      const images = await readImages(req, { maxBodyBytes: limit, maxImages: config.maxImagesPerRequest });
      const answer = await withModel(ctx, async (model) => {
        const signal = AbortSignal.timeout(config.requestTimeoutMs);
        const predictions = await withTimeout(
          classifyImages(images, {
            model,
            requestId,
            maxPixels: config.maxPixels,
            maxRequestPixels: config.maxRequestPixels,
            decodeSlots,
            signal,
            metrics: ctx.metrics,
            predictionLog: ctx.predictionLog,
          }),
          config.requestTimeoutMs,
          "classification",
        );
        return { request_id: requestId, model: { name: model.name, version: model.version }, predictions };
      });
      res.json(answer);
    },
  );
  return router;
}
