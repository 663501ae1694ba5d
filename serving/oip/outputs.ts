import { rankClasses } from "../../core/registry/scores.ts";
import type { Inference } from "../data-plane.ts";
import { ApiError } from "../errors.ts";
import type { LoadedModel, ModelOutput } from "../loaded-model.ts";
import { writeBytesElements, writeFloat32LE } from "./binary.ts";
import { booleanParameter, countParameter, type InferRequest, type Parameters } from "./schemas.ts";

export interface OutputTensor {
  name: string;
  width: number;
  /** Set on the class scores output: what `classification` labels. */
  classes?: readonly string[];
  pick: (o: ModelOutput) => Float32Array;
}

/**
 * The outputs this endpoint answers: class probabilities (a logits model's after Sightline's softmax, so under the
 * name `probabilities`, not the model's own) and the embedding when the model has one.
 */
export function modelOutputs(model: LoadedModel): OutputTensor[] {
  const { outputs, embeddingDim } = model.card.onnx;
  const { classes } = model.card;
  const scores = {
    name: outputs.kind === "probabilities" ? outputs.scores : "probabilities",
    width: classes.length,
    classes,
    pick: (o: ModelOutput) => o.probabilities,
  };
  if (outputs.embedding === undefined || embeddingDim === undefined) return [scores];
  return [
    scores,
    {
      name: outputs.embedding,
      width: embeddingDim,
      pick: (o: ModelOutput) => o.embedding ?? new Float32Array(embeddingDim),
    },
  ];
}

export interface OutputPlan {
  tensor: OutputTensor;
  /** Sent as raw bytes after the JSON header (binary tensor data extension). */
  binary: boolean;
  /** Top-k classes as "score:index:label" strings instead of the scores (classification extension). */
  classification?: number;
}

/**
 * What to answer, checked before the model runs: the requested outputs (all of them when none are named), each
 * named once and known, with its binary and classification parameters. `outputs[].parameters.binary_data`
 * overrides the request's `parameters.binary_data_output`, as in Triton.
 */
export function planOutputs(request: InferRequest, model: LoadedModel): OutputPlan[] {
  const tensors = modelOutputs(model);
  const allBinary = booleanParameter(request.parameters, "binary_data_output", "request") ?? false;
  // An empty list asks for nothing in particular, as an absent one does (Triton reads them alike).
  const requested: { name: string; parameters?: Parameters }[] = request.outputs?.length
    ? request.outputs
    : tensors.map((t) => ({ name: t.name }));
  const seen = new Set<string>();
  return requested.map((out, i) => {
    const where = `outputs[${i}]`;
    if (seen.has(out.name))
      throw new ApiError("bad_request", `output ${JSON.stringify(out.name)} is requested more than once`);
    seen.add(out.name);
    const tensor = tensors.find((t) => t.name === out.name);
    if (!tensor)
      throw new ApiError(
        "bad_request",
        `unknown output ${JSON.stringify(out.name)}; outputs are ${tensors.map((t) => JSON.stringify(t.name)).join(" and ")}`,
      );
    const binary = booleanParameter(out.parameters, "binary_data", where) ?? allBinary;
    const k = countParameter(out.parameters, "classification", where, 1);
    if (k === undefined) return { tensor, binary };
    if (!tensor.classes)
      throw new ApiError(
        "bad_request",
        `${where}: classification applies to the class scores output, not ${JSON.stringify(tensor.name)}`,
      );
    // Asking for more classes than there are gets them all, as Triton does.
    return { tensor, binary, classification: Math.min(k, tensor.classes.length) };
  });
}

/** The spec's `$response_output` (without `data` when binary: its bytes are in `parts`, in order). */
export interface ResponseOutput {
  name: string;
  datatype: "FP32" | "BYTES";
  shape: number[];
  parameters?: { binary_data_size: number };
  data?: (number | string)[];
}

export function answerOutputs(
  plans: OutputPlan[],
  inference: Inference,
): { outputs: ResponseOutput[]; parts: Buffer[] } {
  const n = inference.outputs.length;
  const parts: Buffer[] = [];
  const outputs = plans.map(({ tensor, binary, classification }): ResponseOutput => {
    if (classification !== undefined) {
      const labels = inference.outputs.flatMap((o) => topK(tensor.pick(o), tensor.classes!, classification));
      const shape = [n, classification];
      if (!binary) return { name: tensor.name, datatype: "BYTES", shape, data: labels };
      const bytes = writeBytesElements(labels.map((s) => Buffer.from(s, "utf8")));
      parts.push(bytes);
      return { name: tensor.name, datatype: "BYTES", shape, parameters: { binary_data_size: bytes.length } };
    }
    const values = new Float32Array(n * tensor.width);
    inference.outputs.forEach((o, i) => values.set(tensor.pick(o), i * tensor.width));
    const shape = [n, tensor.width];
    if (!binary) return { name: tensor.name, datatype: "FP32", shape, data: Array.from(values) };
    const bytes = writeFloat32LE(values);
    parts.push(bytes);
    return { name: tensor.name, datatype: "FP32", shape, parameters: { binary_data_size: bytes.length } };
  });
  return { outputs, parts };
}

/** Triton's classification format: "score:index:label", best first (ties by index). */
function topK(scores: Float32Array, classes: readonly string[], k: number): string[] {
  return rankClasses(scores)
    .slice(0, k)
    .map((i) => `${scores[i]}:${i}:${classes[i]}`);
}
