import { z } from "zod";
import { PreprocessSpecSchema } from "../imaging/preprocess.ts";

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);

/**
 * What serving needs to reproduce training exactly (classes in index order, the preprocessing spec, the ONNX
 * interface) and what a person needs to judge the model (metrics, evaluation, config, lineage ids). Written by the
 * trainer as a blob; its digest is in the model version's record.
 */
export const ModelCardSchema = z.object({
  schema: z.literal("sightline.model-card/v1"),
  name: z.string(),
  runId: z.string(),
  requestId: z.string(),
  datasetId: z.string().regex(/^[0-9a-f]{64}$/),
  manifestDigest: digest,
  classes: z.array(z.string()).min(2),
  preprocessing: PreprocessSpecSchema,
  onnx: z.object({
    modelDigest: digest,
    opset: z.number().int(),
    input: z.string(),
    outputs: z.object({ probabilities: z.string(), embedding: z.string() }),
    embeddingDim: z.number().int().positive(),
  }),
  profileDigest: digest,
  architecture: z.string(),
  config: z.record(z.string(), z.unknown()),
  configHash: z.string(),
  gitCommit: z.string().nullable(),
  image: z.string().nullable(),
  metrics: z.record(z.string(), z.number()),
  evaluation: z.record(z.string(), z.unknown()),
  history: z.array(z.record(z.string(), z.unknown())),
  trainedAt: z.iso.datetime({ offset: true }),
  trainingSeconds: z.number().nonnegative(),
  imagesPerSecond: z.number().nonnegative(),
  backend: z.string(),
});

export type ModelCard = z.infer<typeof ModelCardSchema>;

export function parseModelCard(bytes: Uint8Array, where: string): ModelCard {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new Error(`model card ${where} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = ModelCardSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`model card ${where} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
