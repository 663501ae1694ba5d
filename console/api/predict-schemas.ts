import { z } from "zod";

/** The Predict page's endpoints: the console's server forwards an image to the inference API and answers this. */

/** `GET /api/predict`: whether an inference API is configured, where, and the largest image it forwards. */
export const PredictSetup = z.object({ servingUrl: z.string().nullable(), maxBytes: z.number().int() });
export type PredictSetup = z.infer<typeof PredictSetup>;

/** What the inference API answers on `POST /predict` (ARCHITECTURE.md, Serving contract), for one image. */
export const ServingAnswer = z.object({
  request_id: z.string().min(1),
  model: z.object({ name: z.string(), version: z.number().int() }),
  predictions: z
    .array(
      z.object({
        label: z.string(),
        index: z.number().int(),
        confidence: z.number(),
        scores: z.array(z.number()),
      }),
    )
    .length(1),
});
export type ServingAnswer = z.infer<typeof ServingAnswer>;

/** `POST /api/predict` (multipart, one `file` part): the answer, each score named by its class. */
export const PredictResult = z.object({
  requestId: z.string(),
  model: z.object({ name: z.string(), version: z.number().int() }),
  label: z.string(),
  confidence: z.number(),
  /** Highest first. Class names come from the model's card, read from the registry; `#N` when it has none. */
  scores: z.array(z.object({ label: z.string(), score: z.number() })),
  servingUrl: z.string(),
  /** How long the inference API took to answer, as the console measured it. */
  millis: z.number(),
});
export type PredictResult = z.infer<typeof PredictResult>;

/** `GET /api/predict/lineage?id=`: whether lineage has recorded the prediction yet (serving logs them in batches). */
export const PredictionRecorded = z.object({ id: z.string(), recorded: z.boolean() });
export type PredictionRecorded = z.infer<typeof PredictionRecorded>;
