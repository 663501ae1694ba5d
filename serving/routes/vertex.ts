import express, { type RequestHandler, type Router } from "express";
import { rankClasses } from "../../core/registry/scores.ts";
import type { ServingContext } from "../context.ts";
import type { DataPlane, Prediction } from "../data-plane.ts";
import { ApiError, messageErrorBody } from "../errors.ts";
import { mediaType } from "../inputs.ts";
import { readVertexRequest, type VertexParameters } from "../vertex-request.ts";
import { readiness } from "./health.ts";

/** One prediction in Vertex AI's image classification shape (ClassificationPredictionResult). */
export interface VertexPrediction {
  /** Class indices, as strings: the schema's ids are int64, which JSON carries as strings. */
  ids: string[];
  displayNames: string[];
  confidences: number[];
}

/**
 * Errors on the Vertex route are `{"error": "<message>"}` with our status, as Vertex's prebuilt (TF Serving)
 * containers answer: rawPredict passes status and body through, and predict puts the body in its error's message.
 */
export const vertexErrorBody = messageErrorBody;

/** Vertex AI's paths as literal Express paths: its default predict route ends in ":predict", no parameter. */
export const literalPath = (path: string): string => path.replace(/[{}()[\]+?!:*\\]/g, "\\$&");

/** Adds routes to the router it is given, at the point of the app's order where it is called. */
export type Mount = (router: Router) => void;

/**
 * The Vertex AI custom-container contract (docs/deploy-vertex.md): the predict handler on VERTEX_PREDICT_ROUTE and
 * AIP_PREDICT_ROUTE, through the one data plane, and the readiness check on AIP_HEALTH_ROUTE. Its three parts go
 * in at different points of the app's order, each straight into the app's router.
 */
export function vertexRoutes(
  ctx: ServingContext,
  plane: DataPlane,
): { paths: string[]; errorShape: Mount; health: Mount; predict: Mount } {
  const { config } = ctx;
  const paths = config.vertex.predictRoutes.map(literalPath);
  const health: Mount = (router) => {
    if (config.vertex.healthRoute !== undefined) router.get(literalPath(config.vertex.healthRoute), readiness(ctx));
  };

  // Set before anything can refuse the request (authentication, shedding, the body parser).
  const errorShape: Mount = (router) =>
    void router.post(paths, (_req, res, next) => {
      res.locals.errorBody = vertexErrorBody;
      next();
    });

  const limit = config.maxBodyBytes;
  // base64 is 4/3 the size of the bytes it carries
  const json = express.json({ limit: Math.ceil((limit * 4) / 3) + 1024, strict: true });
  const answer: RequestHandler = async (req, res) => {
    if (mediaType(req) !== "application/json")
      throw new ApiError(
        "unsupported_media_type",
        `content type ${JSON.stringify(mediaType(req) || "(none)")} is not accepted; send application/json`,
      );
    const request = readVertexRequest(req.body, {
      maxImages: config.maxImagesPerRequest,
      formats: config.imageFormats,
    });
    const { model, predictions } = await plane.infer("vertex", { kind: "images", images: request.images });
    // Vertex fills in `model` and `modelVersionId` itself: its own resource names, which the container is not told.
    res.json({
      predictions: predictions.map((p) => vertexPrediction(p, model.card.classes, request.parameters)),
      deployedModelId: config.vertex.deployedModelId,
    });
  };
  // One route per path, so each has its own latency series.
  const predict: Mount = (router) => {
    for (const path of paths) router.post(path, json, answer);
  };
  return { paths, errorShape, health, predict };
}

/** The classes at or above the threshold, most confident first (ties by index), at most maxPredictions of them. */
export function vertexPrediction(
  prediction: Prediction,
  classes: readonly string[],
  parameters: VertexParameters,
): VertexPrediction {
  const ranked = rankClasses(prediction.scores)
    .map((index) => ({ confidence: prediction.scores[index]!, index }))
    .filter((c) => c.confidence >= parameters.confidenceThreshold)
    .slice(0, parameters.maxPredictions);
  return {
    ids: ranked.map((c) => String(c.index)),
    displayNames: ranked.map((c) => classes[c.index]!),
    confidences: ranked.map((c) => c.confidence),
  };
}
