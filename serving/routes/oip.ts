import express, { Router, type Request } from "express";
import { z } from "zod";
import { withModel, type ServingContext } from "../context.ts";
import { ApiError, briefIssues } from "../errors.ts";
import type { LoadedModel, ModelOutput } from "../loaded-model.ts";
import type { DataPlane } from "../data-plane.ts";

// Open Inference Protocol v2 (KServe), REST binding: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
// Larger than any tensor an image model takes; checked before zod walks the arrays.
const MAX_RANK = 8;
const MAX_OUTPUTS = 16;

const TensorSchema = z.object({
  name: z.string().max(256),
  shape: z.array(z.number().int().nonnegative()).max(MAX_RANK),
  datatype: z.string().max(32),
  // Walked by toImages once its length is known to fit the shape; zod would copy it element by element.
  data: z.custom<unknown[]>((v) => Array.isArray(v), "data must be an array"),
  parameters: z.record(z.string(), z.unknown()).optional(),
});

const InferRequestSchema = z.object({
  id: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z.array(TensorSchema).min(1),
  outputs: z.array(z.object({ name: z.string().max(256), parameters: z.record(z.string(), z.unknown()).optional() })).max(MAX_OUTPUTS).optional(),
});

/**
 * Counts and sizes before elements: a request listing a million inputs or shape entries must be refused from its
 * lengths, not validated item by item into a million-issue error.
 */
function checkCounts(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return;
  const { inputs, outputs } = body as Record<string, unknown>;
  if (Array.isArray(inputs)) {
    if (inputs.length > 1) throw new ApiError("invalid_tensor", `the model takes one input; got ${inputs.length}`);
    const shape: unknown = (inputs[0] as Record<string, unknown> | undefined)?.shape;
    if (Array.isArray(shape) && shape.length > MAX_RANK) throw new ApiError("invalid_tensor", `shape has ${shape.length} dimensions; at most ${MAX_RANK}`);
  }
  if (Array.isArray(outputs) && outputs.length > MAX_OUTPUTS) throw new ApiError("bad_request", `${outputs.length} outputs requested; at most ${MAX_OUTPUTS}`);
}

export function oipRoutes(ctx: ServingContext, plane: DataPlane): Router {
  const { config } = ctx;
  const router = Router();
  const ready = (): boolean => !ctx.draining && ctx.host.current !== undefined;

  router.get("/v2/health/live", (_req, res) => void res.json({ live: true }));
  router.get("/v2/health/ready", (_req, res) => void res.status(ready() ? 200 : 503).json({ ready: ready() }));
  router.get("/v2", (_req, res) => void res.json({ name: "sightline", version: "0.1.0", extensions: [] }));

  router.get("/v2/models/:model/ready", (req, res) => {
    servedModel(ctx, req);
    res.status(ready() ? 200 : 503).json({ name: req.params.model, ready: ready() });
  });
  router.get("/v2/models/:model", async (req, res) => {
    servedModel(ctx, req);
    res.json(await withModel(ctx, async (model) => metadata(model)));
  });

  // Each FP32 value is at most ~25 characters of JSON; the body limit follows the image limit.
  router.post("/v2/models/:model/infer", express.json({ limit: config.maxBodyBytes * 4, strict: true }), async (req, res) => {
    servedModel(ctx, req);
    checkCounts(req.body);
    const parsed = InferRequestSchema.safeParse(req.body);
    if (!parsed.success) throw new ApiError("bad_request", `not an inference request: ${briefIssues(parsed.error)}`);
    const request = parsed.data;
    const { model, outputs } = await plane.infer("oip", (m) => ({ kind: "tensors", tensors: toImages(request.inputs, m, config.maxImagesPerRequest) }));
    const names = oipOutputs(model);
    const wanted = request.outputs?.map((o) => o.name) ?? names.map((o) => o.name);
    for (const name of wanted) {
      if (!names.some((o) => o.name === name)) throw new ApiError("bad_request", `unknown output ${JSON.stringify(name)}; outputs are ${names.map((o) => o.name).join(" and ")}`);
    }
    const n = outputs.length;
    const answer = {
      model_name: model.name,
      model_version: String(model.version),
      id: request.id ?? String(res.locals.requestId),
      outputs: wanted.map((name) => {
        const out = names.find((o) => o.name === name)!;
        return { name, datatype: "FP32", shape: [n, out.width], data: outputs.flatMap((o) => Array.from(out.pick(o))) };
      }),
    };
    res.json(answer);
  });
  return router;
}

function servedModel(ctx: ServingContext, req: Request): void {
  const name = req.params.model;
  if (name !== ctx.host.ref.name) throw new ApiError("not_found", `model ${JSON.stringify(name)} is not served here; this server serves ${JSON.stringify(ctx.host.ref.name)}`);
}

/**
 * The outputs this endpoint answers: class probabilities (a logits model's after Sightline's softmax, so under the
 * name `probabilities`, not the model's own) and the embedding when the model has one.
 */
function oipOutputs(model: LoadedModel): { name: string; width: number; pick: (o: ModelOutput) => Float32Array }[] {
  const { outputs, embeddingDim } = model.card.onnx;
  const scores = { name: outputs.kind === "probabilities" ? outputs.scores : "probabilities", width: model.card.classes.length, pick: (o: ModelOutput) => o.probabilities };
  if (outputs.embedding === undefined || embeddingDim === undefined) return [scores];
  return [scores, { name: outputs.embedding, width: embeddingDim, pick: (o: ModelOutput) => o.embedding ?? new Float32Array(embeddingDim) }];
}

function metadata(model: LoadedModel): object {
  return {
    name: model.name,
    versions: [String(model.version)],
    platform: "onnxruntime_onnx",
    inputs: [{ name: model.card.onnx.input, datatype: "FP32", shape: [-1, ...model.inputShape] }],
    outputs: oipOutputs(model).map((o) => ({ name: o.name, datatype: "FP32", shape: [-1, o.width] })),
    parameters: { classes: model.card.classes, preprocessing: model.card.preprocessing },
  };
}

/** Checks the one FP32 input against the model's [N, …image shape] and splits it into images (row-major data). */
function toImages(tensors: z.infer<typeof TensorSchema>[], model: LoadedModel, maxImages: number): Float32Array[] {
  const expectedName = model.card.onnx.input;
  const dims = model.inputShape;
  if (tensors.length !== 1) throw new ApiError("invalid_tensor", `the model takes one input (${expectedName}); got ${tensors.length}`);
  const t = tensors[0]!;
  if (t.name !== expectedName) throw new ApiError("invalid_tensor", `input is named ${JSON.stringify(t.name)}; the model's input is ${JSON.stringify(expectedName)}`);
  if (t.datatype !== "FP32") throw new ApiError("invalid_tensor", `datatype ${t.datatype} is not supported; send FP32`);
  const shape = t.shape;
  if (shape.length !== 4 || dims.some((d, i) => shape[i + 1] !== d) || shape[0]! < 1) {
    throw new ApiError("invalid_tensor", `shape [${shape.join(", ")}] does not fit the model's [N, ${dims.join(", ")}] (N ≥ 1)`);
  }
  const n = shape[0]!;
  if (n > maxImages) throw new ApiError("payload_too_large", `${n} images; at most ${maxImages} per request`);
  const size = model.inputSize;
  const values = flattenData(t.data, shape.length, n * size, shape);
  return Array.from({ length: n }, (_, i) => values.subarray(i * size, (i + 1) * size));
}

/**
 * The tensor's values, row-major: `data` flat or nested at most `rank` deep (OIP allows both). Walked with an
 * explicit stack and stopped at the first surplus value, so neither depth nor length can cost more than the
 * expected tensor.
 */
function flattenData(data: unknown[], rank: number, expected: number, shape: number[]): Float32Array {
  const values = new Float32Array(expected);
  let count = 0;
  const stack: { items: unknown[]; next: number }[] = [{ items: data, next: 0 }];
  const tooMany = (): ApiError => new ApiError("invalid_tensor", `data has more than ${expected} values; shape [${shape.join(", ")}] needs ${expected}`);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next >= top.items.length) {
      stack.pop();
      continue;
    }
    const v = top.items[top.next++];
    if (Array.isArray(v)) {
      if (stack.length >= rank) throw new ApiError("bad_request", `data nests deeper than the shape's ${rank} dimensions`);
      stack.push({ items: v, next: 0 });
      continue;
    }
    if (typeof v !== "number" || !Number.isFinite(v)) throw new ApiError("invalid_tensor", `data[${count}] is ${describe(v)}, not a finite number`);
    if (count >= expected) throw tooMany();
    values[count++] = v;
  }
  if (count !== expected) throw new ApiError("invalid_tensor", `data has ${count} values; shape [${shape.join(", ")}] needs ${expected}`);
  return values;
}

/** A short description of a JSON value for an error message (never the value itself: it may be huge or deep). */
function describe(v: unknown): string {
  if (typeof v === "string") return v.length > 32 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (v === null || typeof v === "boolean") return String(v);
  return typeof v === "object" ? "an object" : typeof v;
}
