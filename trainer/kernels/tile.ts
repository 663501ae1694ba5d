/**
 * Tile for the wasm backend, fast when the result is the input repeated whole: every repeated axis comes before every
 * non-1 axis of the input (a per-channel vector [1, 1, 1, C] tiled to [N, H, W, C], which is what tfjs-core's
 * batch-norm gradient does three times per layer). The input is written once and then doubled with copyWithin
 * (memmove), instead of the backend's per-element index arithmetic. Other patterns go to the backend's kernel.
 *
 * Contract (tfjs-core `Tile`): inputs {x}; attrs {reps: number[]} (one per axis).
 */
import { Tile, util } from "@tensorflow/tfjs-core";
import type { KernelConfig, NamedAttrMap, TensorInfo, TileAttrs } from "@tensorflow/tfjs-core";
import { alloc, asKernelFunc, callKernel, heap, WASM } from "./wasm-internals.ts";
import type { WasmKernelArgs } from "./wasm-internals.ts";
import { simdFor } from "./simd.ts";

/** The number of copies when the output is `copies` back-to-back copies of x, else -1. */
function wholeCopies(shape: readonly number[], reps: readonly number[]): number {
  if (reps.length !== shape.length) return -1;
  let k = reps.length;
  while (k > 0 && reps[k - 1] === 1) k--;
  for (let d = 0; d < k; d++) if (shape[d] !== 1) return -1;
  return util.sizeFromShape(reps.slice(0, k));
}

export function tileFast(args: WasmKernelArgs<TileAttrs>): TensorInfo {
  const { backend, attrs } = args;
  const x = args.inputs.x;
  if (x === undefined) throw new Error(`${Tile}: missing input 'x'`);
  const copies = x.dtype === "float32" ? wholeCopies(x.shape, attrs.reps) : -1;
  if (copies < 1) return callKernel(Tile, backend, args.inputs, attrs as unknown as NamedAttrMap);
  const out = alloc(
    backend,
    x.shape.map((s, d) => s * (attrs.reps[d] ?? 1)),
  );
  const d = heap(backend, out);
  const size = util.sizeFromShape(x.shape);
  const xs = heap(backend, x);
  // wasm memory.copy where available: TypedArray copies on the threaded build's shared heap are several times slower.
  const copy = simdFor(backend)?.copy;
  if (copy !== undefined) {
    const at = d.byteOffset;
    copy(at, xs.byteOffset, size * 4);
    for (let filled = size, total = size * copies; filled < total; filled *= 2)
      copy(at + filled * 4, at, Math.min(filled, total - filled) * 4);
    return out;
  }
  d.set(xs.subarray(0, size));
  for (let filled = size, total = size * copies; filled < total; filled *= 2)
    d.copyWithin(filled, 0, Math.min(filled, total - filled));
  return out;
}

export const tileConfig: KernelConfig = { kernelName: Tile, backendName: WASM, kernelFunc: asKernelFunc(tileFast) };
