/**
 * Identity and same-dtype Cast for the wasm backend without a copy. The backend's kernels copy the whole buffer;
 * tfjs's engine calls Identity to save every tensor a gradient needs (`saveTensorsForBackwardMode`), and the ReLU
 * gradient casts float32 to float32, so a training step copied each activation two or three times. Tensors are
 * immutable, so the output can share the input's buffer: the reference count goes up (as the backend's own Reshape
 * does, and as the CPU backend's Identity does) and the buffer is freed when the last holder disposes it.
 *
 * Contracts (tfjs-core): `Identity` inputs {x}; `Cast` inputs {x}, attrs {dtype} — another dtype goes to the
 * backend's kernel.
 */
import { Cast, Identity } from "@tensorflow/tfjs-core";
import type { CastAttrs, KernelConfig, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { asKernelFunc, callKernel, WASM } from "./wasm-internals.ts";
import type { WasmKernelArgs } from "./wasm-internals.ts";

function share(args: WasmKernelArgs<unknown>, kernel: string): TensorInfo {
  const x = args.inputs.x;
  if (x === undefined) throw new Error(`${kernel}: missing input 'x'`);
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export function identityShared(args: WasmKernelArgs<unknown>): TensorInfo {
  if (args.inputs.x?.dtype === "string") return callKernel(Identity, args.backend, args.inputs, {});
  return share(args, Identity);
}

export function castShared(args: WasmKernelArgs<CastAttrs>): TensorInfo {
  const x = args.inputs.x;
  if (x === undefined || x.dtype !== args.attrs.dtype || x.dtype === "string") {
    return callKernel(Cast, args.backend, args.inputs, args.attrs as unknown as NamedAttrMap);
  }
  return share(args, Cast);
}

export const identityConfig: KernelConfig = {
  kernelName: Identity,
  backendName: WASM,
  kernelFunc: asKernelFunc(identityShared),
};
export const castConfig: KernelConfig = { kernelName: Cast, backendName: WASM, kernelFunc: asKernelFunc(castShared) };
