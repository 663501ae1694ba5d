/**
 * The inverse of export.ts for weights: sets a tfjs-layers model's weights from an ONNX file that export.ts wrote
 * for the same architecture (initializers `LAYER/kernel`, `LAYER/bias`, `LAYER/gamma`, …; convolution kernels
 * OIHW there, HWIO here). Fine-tuning starts from production this way without a second weights format.
 */
import onnxProto from "onnx-proto";
import * as tf from "@tensorflow/tfjs-core";
import type * as tfl from "@tensorflow/tfjs-layers";
import { SightlineError } from "../../core/errors.ts";

/** The ONNX file does not fit the model it is loaded into (fine-tuning starts from it). */
export class WeightImportError extends SightlineError {
  constructor(message: string) {
    super("invalid", "onnx_weights_mismatch", message);
  }
}

/** Sets every weight of `model` from the ONNX file; returns how many tensors were set. */
export function importOnnxWeights(model: tfl.LayersModel, onnx: Uint8Array): number {
  let proto;
  try {
    proto = onnxProto.onnx.ModelProto.decode(onnx);
  } catch (err) {
    throw new WeightImportError(`not an ONNX model: ${(err as Error).message}`);
  }
  const initializers = new Map((proto.graph?.initializer ?? []).map((t) => [t.name ?? "", t]));
  let set = 0;
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((variable) => {
      const short = variable.originalName.split("/").pop() ?? variable.originalName;
      const name = `${layer.name}/${short}`;
      const init = initializers.get(name);
      if (!init)
        throw new WeightImportError(
          `the ONNX file has no initializer ${name}: it was not exported from this architecture`,
        );
      const data = floats(init, name);
      const shape = variable.shape as number[];
      const dims = (init.dims ?? []).map(Number);
      if (shape.length === 4) {
        const [kh, kw, cin, cout] = shape as [number, number, number, number];
        if (dims.join() !== [cout, cin, kh, kw].join())
          throw new WeightImportError(
            `${name} is [${dims.join(", ")}]; this model's kernel needs [${[cout, cin, kh, kw].join(", ")}] (OIHW)`,
          );
        return tf.tensor(oihwToHwio(data, kh, kw, cin, cout), shape);
      }
      if (dims.join() !== shape.join())
        throw new WeightImportError(`${name} is [${dims.join(", ")}]; this model needs [${shape.join(", ")}]`);
      return tf.tensor(data, shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
    set += values.length;
  }
  return set;
}

function floats(t: onnxProto.onnx.ITensorProto, name: string): Float32Array {
  if (t.dataType !== onnxProto.onnx.TensorProto.DataType.FLOAT) throw new WeightImportError(`${name} is not float32`);
  if (t.floatData && t.floatData.length > 0) return Float32Array.from(t.floatData);
  const raw = t.rawData ?? new Uint8Array();
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Float32Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

function oihwToHwio(values: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let y = 0; y < kh; y += 1) {
    for (let x = 0; x < kw; x += 1) {
      for (let i = 0; i < cin; i += 1) {
        for (let o = 0; o < cout; o += 1)
          out[((y * kw + x) * cin + i) * cout + o] = values[((o * cin + i) * kh + y) * kw + x] ?? 0;
      }
    }
  }
  return out;
}
