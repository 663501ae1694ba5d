/**
 * Sum and Mean for the wasm backend, fast for reductions over the LEADING axes (a bias gradient or batch-norm
 * statistics: Σ over N, H, W of an NHWC tensor). The backend's kernels first transpose the reduced axes to the end (a
 * full copy with a strided read) and then reduce; here the tensor is read once, as rows of the kept size: blocks of
 * 64 rows on the SIMD routine (simd.ts; kept size a multiple of 4) or row by row, into float64 accumulators. Every
 * other case (inner axes, all axes, non-float32) is passed to the backend's own kernel.
 *
 * Contracts (tfjs-core `Sum`, `Mean`): inputs {x}; attrs {axis: number | number[], keepDims}.
 */
import { Mean, Sum, util } from "@tensorflow/tfjs-core";
import type { KernelConfig, MeanAttrs, NamedAttrMap, SumAttrs, TensorInfo } from "@tensorflow/tfjs-core";
import { alloc, asKernelFunc, callKernel, heap, release, WASM } from "./wasm-internals.ts";
import { simdFor } from "./simd.ts";
import type { WasmKernelArgs } from "./wasm-internals.ts";

const NAME = Sum;

let scratch = new Float64Array(0);

/** Rows per float32 block sum on the SIMD path (the blocks are added in float64). */
const SIMD_BLOCK_ROWS = 64;

/** The number of leading axes reduced, or -1 when `axis` is not exactly [0, 1, …, r-1] with 0 < r < rank. */
function leadingAxes(axis: number | number[], rank: number): number {
  const axes = util.parseAxisParam(
    axis,
    Array.from({ length: rank }, () => 1),
  );
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  if (sorted.length === 0 || sorted.length >= rank) return -1;
  for (let i = 0; i < sorted.length; i++) if (sorted[i] !== i) return -1;
  return sorted.length;
}

export function sumFast(args: WasmKernelArgs<SumAttrs>): TensorInfo {
  return reduceLeading(args, NAME, false);
}

export function meanFast(args: WasmKernelArgs<MeanAttrs>): TensorInfo {
  return reduceLeading(args, Mean, true);
}

function reduceLeading(args: WasmKernelArgs<SumAttrs | MeanAttrs>, kernel: string, mean: boolean): TensorInfo {
  const { backend, attrs } = args;
  const x = args.inputs.x;
  if (x === undefined) throw new Error(`${kernel}: missing input 'x'`);
  const r = x.dtype === "float32" ? leadingAxes(attrs.axis, x.shape.length) : -1;
  if (r < 0) return callKernel(kernel, backend, args.inputs, attrs as unknown as NamedAttrMap);
  const kept = x.shape.slice(r);
  const cols = util.sizeFromShape(kept);
  const rows = util.sizeFromShape(x.shape.slice(0, r));
  const out = alloc(backend, attrs.keepDims ? [...x.shape.slice(0, r).map(() => 1), ...kept] : kept);
  if (scratch.length < cols) scratch = new Float64Array(cols);
  const acc = scratch;
  acc.fill(0, 0, cols);
  const simd = cols % 4 === 0 ? simdFor(backend) : undefined;
  if (simd !== undefined) {
    // Blocks of rows summed on the SIMD routine (float32), the block sums added here in float64.
    const tmp = alloc(backend, [cols]);
    try {
      const xs = heap(backend, x);
      const t = heap(backend, tmp);
      for (let r0 = 0; r0 < rows; r0 += SIMD_BLOCK_ROWS) {
        simd.colSum(xs.byteOffset + r0 * cols * 4, t.byteOffset, Math.min(SIMD_BLOCK_ROWS, rows - r0), cols);
        for (let c = 0; c < cols; c++) acc[c] = (acc[c] as number) + (t[c] as number);
      }
    } finally {
      release(backend, tmp);
    }
  } else {
    const xs = heap(backend, x);
    for (let i = 0, o = 0; i < rows; i++) {
      for (let c = 0; c < cols; c++, o++) acc[c] = (acc[c] as number) + (xs[o] as number);
    }
  }
  const d = heap(backend, out);
  const scale = mean ? 1 / rows : 1;
  for (let c = 0; c < cols; c++) d[c] = (acc[c] as number) * scale;
  return out;
}

export const sumConfig: KernelConfig = {
  kernelName: NAME,
  backendName: WASM,
  kernelFunc: asKernelFunc(sumFast),
};

export const meanConfig: KernelConfig = {
  kernelName: Mean,
  backendName: WASM,
  kernelFunc: asKernelFunc(meanFast),
};
