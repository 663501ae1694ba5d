import type { LoadedModel } from "../loaded-model.ts";
import { modelOutputs } from "./outputs.ts";

/** The extensions this server implements, by Triton's names (what clients look for in server metadata). */
export const EXTENSIONS = ["binary_tensor_data", "classification"];

export const serverMetadata = (): { name: string; version: string; extensions: string[] } => ({
  name: "sightline",
  version: "0.1.0",
  extensions: EXTENSIONS,
});

/**
 * The spec's `$metadata_model_response`. It has no `parameters`; its YAML types `properties` as a map of strings,
 * so the card's classes and preprocessing go there as JSON text: what a client needs to preprocess itself or to
 * read the scores.
 */
export function modelMetadata(model: LoadedModel): object {
  return {
    name: model.name,
    versions: [String(model.version)],
    // The spec's name for "an ONNX model encoded for ONNX Runtime".
    platform: "onnx_onnxv1",
    inputs: [{ name: model.card.onnx.input, datatype: "FP32", shape: [-1, ...model.inputShape] }],
    outputs: modelOutputs(model).map((o) => ({ name: o.name, datatype: "FP32", shape: [-1, o.width] })),
    properties: {
      classes: JSON.stringify(model.card.classes),
      preprocessing: JSON.stringify(model.card.preprocessing),
      // One metadata tensor has one datatype; the same input also takes encoded images.
      bytes_input: `${model.card.onnx.input} also takes datatype BYTES: one encoded PNG, JPEG or WebP image per element, shape [-1] or [-1, 1]; base64 strings in JSON, raw bytes with binary_tensor_data`,
    },
  };
}
