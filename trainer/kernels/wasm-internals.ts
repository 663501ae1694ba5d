/**
 * Shared plumbing for the fast wasm-backend kernels: typed access to the backend's heap, output allocation and
 * calls into the backend's own (XNNPACK-backed) kernels.
 *
 * Kernels here run *inside* a kernel call, so they work on `TensorInfo`s (not `tf.Tensor`s): every intermediate is
 * allocated with `alloc` / produced by `callKernel` and must be released with `release` before returning.
 */
import { getKernel, util } from "@tensorflow/tfjs-core";
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

export const WASM = "wasm";

/** The arguments every kernel function receives, with the backend narrowed to the wasm backend. */
export interface WasmKernelArgs<A> {
  inputs: NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: A;
}

/**
 * Adapts a typed kernel implementation to tfjs's `KernelFunc`. tfjs types `backend` as `{}` and `attrs` as a loose
 * map; the engine guarantees both (the kernel is registered for "wasm" only, and attrs come from the op), so the
 * casts are confined to this one place.
 */
export function asKernelFunc<A>(impl: (args: WasmKernelArgs<A>) => TensorInfo): KernelFunc {
  return (params) =>
    impl({
      inputs: params.inputs,
      backend: params.backend as BackendWasm,
      attrs: (params.attrs ?? {}) as unknown as A,
    });
}

/** Returns a named input or throws a clear error (kernels are called by the engine, but be strict anyway). */
export function input(inputs: NamedTensorInfoMap, name: string, kernel: string): TensorInfo {
  const t = inputs[name];
  if (t === undefined) throw new Error(`${kernel}: missing input '${name}'`);
  if (t.dtype !== "float32") throw new Error(`${kernel}: input '${name}' must be float32, got ${t.dtype}`);
  return t;
}

export function rank4(shape: readonly number[], what: string): [number, number, number, number] {
  if (shape.length !== 4) throw new Error(`${what} must be rank 4 (NHWC), got shape [${shape.join(", ")}]`);
  return [shape[0] ?? 0, shape[1] ?? 0, shape[2] ?? 0, shape[3] ?? 0];
}

/** Allocates an uninitialised float32 output on the wasm heap. */
export function alloc(backend: BackendWasm, shape: number[]): TensorInfo {
  return backend.makeOutput(shape, "float32");
}

/**
 * A Float32Array view of a tensor's bytes on the wasm heap (no copy). Views are invalidated when the heap grows, so
 * take them after all allocations of a step, and never keep them across calls.
 */
export function heap(backend: BackendWasm, t: TensorInfo): Float32Array {
  // typedArrayFromHeap returns a union over dtypes; every tensor handled here was checked to be float32.
  return backend.typedArrayFromHeap(t) as Float32Array;
}

export function release(backend: BackendWasm, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

/** A view of the same data with another shape of equal size (no copy, no ref-count change: do not release it). */
export function view(t: TensorInfo, shape: number[]): TensorInfo {
  if (util.sizeFromShape(shape) !== util.sizeFromShape(t.shape)) {
    throw new Error(`cannot view shape [${t.shape.join(", ")}] as [${shape.join(", ")}]`);
  }
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/**
 * The wasm backend's own kernels that the fast kernels build on. They are captured the first time they are needed
 * (or, for kernels we override, when the override is registered) so that our overrides never call themselves.
 */
const originals = new Map<string, KernelConfig>();

export function rememberOriginal(kernelName: string): KernelConfig | undefined {
  const existing = originals.get(kernelName);
  if (existing !== undefined) return existing;
  const config = getKernel(kernelName, WASM);
  if (config !== undefined) originals.set(kernelName, config);
  return config;
}

export function callKernel(
  kernelName: string,
  backend: BackendWasm,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap,
): TensorInfo {
  const config = rememberOriginal(kernelName);
  if (config === undefined) throw new Error(`wasm backend kernel '${kernelName}' is not registered`);
  const out = config.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm backend kernel '${kernelName}' returned several outputs`);
  return out;
}

/** Normalises a `[h, w] | n` attribute. */
export function pair(v: number | [number, number] | number[], what: string): [number, number] {
  if (typeof v === "number") return [v, v];
  if (v.length !== 2) throw new Error(`${what} must be a number or a pair, got [${v.join(", ")}]`);
  return [v[0] ?? 1, v[1] ?? 1];
}

export function requireNHWC(dataFormat: string | undefined, kernel: string): void {
  if (dataFormat !== undefined && dataFormat !== "NHWC") {
    throw new Error(`${kernel} (fast wasm kernel): dataFormat '${dataFormat}' is not supported, only 'NHWC'`);
  }
}
