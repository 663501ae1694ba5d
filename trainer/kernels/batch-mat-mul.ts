/**
 * BatchMatMul for the wasm backend, routing transposed products to the fast path.
 *
 * The backend's BatchMatMul uses XNNPACK only when neither operand is transposed and the batch is 1; every other
 * case falls to a naive blocked C loop (~10–20× slower). Backprop through a dense layer is exactly those cases
 * (dW = xᵀ·dy, dx = dy·Wᵀ), so here a transposed 2-D operand is first materialised with the backend's Transpose
 * kernel and the product is then taken on the XNNPACK path. Batched (rank > 2 with batch > 1) products are passed
 * through unchanged.
 *
 * Contract (tfjs-core `BatchMatMul`): inputs {a, b}; attrs {transposeA, transposeB}; float32.
 */
import { BatchMatMul, util } from "@tensorflow/tfjs-core";
import type { BatchMatMulAttrs, KernelConfig, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { asKernelFunc, callKernel, input, release, view, WASM } from "./wasm-internals.ts";
import type { WasmKernelArgs } from "./wasm-internals.ts";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

const NAME = BatchMatMul;

function batchOf(shape: readonly number[]): number {
  return util.sizeFromShape(shape.slice(0, -2));
}

function transpose2d(backend: BackendWasm, t: TensorInfo): TensorInfo {
  const rows = t.shape[t.shape.length - 2] ?? 1;
  const cols = t.shape[t.shape.length - 1] ?? 1;
  return callKernel("Transpose", backend, { x: view(t, [rows, cols]) }, { perm: [1, 0] });
}

export function batchMatMulFast(args: WasmKernelArgs<BatchMatMulAttrs>): TensorInfo {
  const { backend, attrs } = args;
  const a = input(args.inputs, "a", NAME);
  const b = input(args.inputs, "b", NAME);
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  if (
    (!transposeA && !transposeB) ||
    a.shape.length < 2 ||
    b.shape.length < 2 ||
    batchOf(a.shape) !== 1 ||
    batchOf(b.shape) !== 1
  ) {
    return callKernel(NAME, backend, args.inputs, attrs as unknown as NamedAttrMap);
  }
  const rank = Math.max(a.shape.length, b.shape.length);
  const keepRank = (out: TensorInfo): TensorInfo => {
    // Keep the rank the op expects (leading 1-dims of the inputs' broadcast shape).
    const m = out.shape[out.shape.length - 2] ?? 1;
    const k = out.shape[out.shape.length - 1] ?? 1;
    out.shape = [...Array.from({ length: rank - 2 }, () => 1), m, k];
    return out;
  };
  if (transposeB && !transposeA) {
    // a·bᵀ = (b·aᵀ)ᵀ: with few rows in a (a dense layer's input gradient, dy·Wᵀ) transposing a and the product moves
    // and packs far less than transposing b (the weights) and packing it as XNNPACK's right operand.
    const m = a.shape[a.shape.length - 2] ?? 1;
    const k = a.shape[a.shape.length - 1] ?? 1;
    const n = b.shape[b.shape.length - 2] ?? 1;
    if (2 * m * k + n * m < 2 * n * k) {
      const aT = transpose2d(backend, a);
      let outT: TensorInfo | undefined;
      try {
        outT = callKernel(NAME, backend, { a: view(b, [n, k]), b: aT }, { transposeA: false, transposeB: false });
        return keepRank(transpose2d(backend, outT));
      } finally {
        release(backend, aT);
        if (outT !== undefined) release(backend, outT);
      }
    }
  }
  const temps: TensorInfo[] = [];
  let a2 = a;
  let b2 = b;
  if (transposeA) temps.push((a2 = transpose2d(backend, a)));
  if (transposeB) temps.push((b2 = transpose2d(backend, b)));
  try {
    return keepRank(callKernel(NAME, backend, { a: a2, b: b2 }, { transposeA: false, transposeB: false }));
  } finally {
    release(backend, ...temps);
  }
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: NAME,
  backendName: WASM,
  kernelFunc: asKernelFunc(batchMatMulFast),
};
