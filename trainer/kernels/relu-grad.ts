/**
 * The ReLU gradient in one pass on the wasm backend. tfjs-core's gradient for `Relu` is mul(dy, cast(step(x))): a
 * Step pass, a Cast and a Multiply over the activation. Registered here instead: the same gradient, which on the
 * wasm backend runs `ReluGradMask` (dy where x > 0, else 0; SIMD in simd.ts) and on any other backend, or when the
 * kernel is not registered, the stock ops.
 *
 * Kernel contract (`ReluGradMask`, this project's own): inputs {dy, x} float32 of equal size; output dy's shape.
 * Differs from the stock ops only where x is NaN (0 instead of NaN) and in the sign of zeros.
 */
import * as tf from "@tensorflow/tfjs-core";
import { Relu } from "@tensorflow/tfjs-core";
import type { GradConfig, KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { alloc, heap, input, WASM } from "./wasm-internals.ts";
import { simdFor } from "./simd.ts";

export const RELU_GRAD_MASK = "ReluGradMask";

export function reluGradMaskWasm(inputs: Record<string, TensorInfo | undefined>, backend: BackendWasm): TensorInfo {
  const dy = input(inputs, "dy", RELU_GRAD_MASK);
  const x = input(inputs, "x", RELU_GRAD_MASK);
  const size = tf.util.sizeFromShape(dy.shape);
  if (tf.util.sizeFromShape(x.shape) !== size)
    throw new Error(`${RELU_GRAD_MASK}: x [${x.shape.join(", ")}] and dy [${dy.shape.join(", ")}] differ in size`);
  const out = alloc(backend, [...dy.shape]);
  const g = heap(backend, dy);
  const xs = heap(backend, x);
  const d = heap(backend, out);
  const simd = simdFor(backend);
  const n4 = simd !== undefined ? size >> 2 : 0;
  if (simd !== undefined && n4 > 0) simd.reluGrad(g.byteOffset, xs.byteOffset, d.byteOffset, n4);
  for (let i = 4 * n4; i < size; i++) d[i] = (xs[i] as number) > 0 ? (g[i] as number) : 0;
  return out;
}

export const reluGradMaskConfig: KernelConfig = {
  kernelName: RELU_GRAD_MASK,
  backendName: WASM,
  kernelFunc: ({ inputs, backend }) => reluGradMaskWasm(inputs, backend as BackendWasm),
};

export const reluGradConfig: GradConfig = {
  kernelName: Relu,
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => {
    const [x] = saved;
    if (x === undefined || Array.isArray(dy)) throw new Error("Relu gradient: expected one saved input and one dy");
    return {
      x: () =>
        tf.getBackend() === WASM &&
        tf.getKernel(RELU_GRAD_MASK, WASM) !== undefined &&
        x.dtype === "float32" &&
        dy.dtype === "float32"
          ? (tf.engine().runKernel(RELU_GRAD_MASK, { dy, x }, {}) as tf.Tensor)
          : tf.mul(dy, tf.cast(tf.step(x), "float32")),
    };
  },
};
