import * as ort from "onnxruntime-node";
import { inputShape, type PreprocessSpec } from "../core/imaging/preprocess.ts";
import type { ModelCard } from "../core/registry/model-card.ts";
import { toProbabilities } from "../core/registry/scores.ts";
import type { SplitData } from "../core/datasets/training-data.ts";
import { SightlineError } from "../core/errors.ts";

const BATCH = 256;

/** What running an ONNX classifier needs from its card. */
export type ClassifierInterface = Pick<ModelCard, "classes"> & {
  preprocessing: PreprocessSpec;
  onnx: Pick<ModelCard["onnx"], "input" | "outputs">;
};

export interface SplitScores {
  /** n × classes probabilities (softmax applied to a logits output). */
  probabilities: Float32Array;
  /** n × embeddingDim, when the model has an embedding output. */
  embeddings?: Float32Array;
  embeddingDim?: number;
}

/**
 * Runs a session over a preprocessed split, the way serving runs it (the same input layout and score kind), in
 * batches. Throws when an output is missing, has the wrong width, or holds a value that is not finite.
 */
export async function classifySplit(
  session: ort.InferenceSession,
  model: ClassifierInterface,
  split: SplitData,
  options: { embeddings?: boolean } = {},
): Promise<SplitScores> {
  const shape = inputShape(model.preprocessing);
  const { scores, kind } = model.onnx.outputs;
  const embedding = options.embeddings === false ? undefined : model.onnx.outputs.embedding;
  const k = model.classes.length;
  const probabilities = new Float32Array(split.n * k);
  const embeddingParts: Float32Array[] = [];
  let embeddingDim: number | undefined;
  for (let start = 0; start < split.n; start += BATCH) {
    const end = Math.min(split.n, start + BATCH);
    const input = new ort.Tensor("float32", split.x.subarray(start * split.pixels, end * split.pixels), [
      end - start,
      ...shape,
    ]);
    const out = await session.run({ [model.onnx.input]: input }, embedding ? [scores, embedding] : [scores]);
    const s = floatOutput(out, scores, end - start);
    if (s.width !== k)
      throw new SightlineError(
        "invalid",
        "model_output_invalid",
        `output ${scores} has ${s.width} values per image; the dataset has ${k} classes`,
      );
    probabilities.set(toProbabilities(s.data, k, kind), start * k);
    if (embedding) {
      const e = floatOutput(out, embedding, end - start);
      embeddingDim = e.width;
      embeddingParts.push(e.data);
    }
  }
  if (!probabilities.every(Number.isFinite))
    throw new SightlineError(
      "invalid",
      "model_output_invalid",
      `output ${scores} holds values that are not finite numbers (NaN or ±Inf)`,
    );
  if (!embedding || embeddingDim === undefined) return { probabilities };
  const embeddings = new Float32Array(split.n * embeddingDim);
  let offset = 0;
  for (const part of embeddingParts) {
    embeddings.set(part, offset);
    offset += part.length;
  }
  if (!embeddings.every(Number.isFinite))
    throw new SightlineError(
      "invalid",
      "model_output_invalid",
      `embedding output ${embedding} holds values that are not finite numbers`,
    );
  return { probabilities, embeddings, embeddingDim };
}

/** A float32 output of n rows, copied out of ONNX Runtime's buffer. */
function floatOutput(
  out: ort.InferenceSession.OnnxValueMapType,
  name: string,
  n: number,
): { data: Float32Array; width: number } {
  const tensor = out[name];
  if (!tensor) throw new SightlineError("invalid", "model_output_invalid", `the model returned no output ${name}`);
  if (!(tensor.data instanceof Float32Array))
    throw new SightlineError("invalid", "model_output_invalid", `output ${name} is ${tensor.type}, not float32`);
  if (tensor.dims.length !== 2 || tensor.dims[0] !== n)
    throw new SightlineError(
      "invalid",
      "model_output_invalid",
      `output ${name} has shape [${tensor.dims.join(", ")}]; expected [${n}, D]`,
    );
  return { data: Float32Array.from(tensor.data), width: tensor.dims[1]! };
}
