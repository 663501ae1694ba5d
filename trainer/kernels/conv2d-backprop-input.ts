/**
 * Conv2DBackpropInput for the wasm backend, expressed as ONE forward convolution in the backend's XNNPACK Conv2D
 * (the backend's own kernel is a direct C loop, ~10× slower):
 *
 *   dx = conv2d(dilate(dy, strides), flip(W)ᵀ, stride 1, explicit padding (fh-1-padTop, …))
 *
 * where flip(W)ᵀ[i, j, o, c] = W[fh-1-i, fw-1-j, c, o] and dilate inserts (stride-1) zeros between dy's rows and
 * columns (only materialised when a stride is > 1). Padding that the forward op applied beyond fh-1 would need a
 * negative padding here; such (unusual, explicit-padding) cases are delegated to the backend's own kernel, which is
 * correct, just slow.
 *
 * Contract (tfjs-core `Conv2DBackpropInput`): inputs {dy, filter}; attrs {strides, pad, dataFormat,
 * dimRoundingMode, inputShape}. NHWC only.
 */
import { backend_util, Conv2DBackpropInput } from "@tensorflow/tfjs-core";
import type { Conv2DBackpropInputAttrs, KernelConfig, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { alloc, asKernelFunc, callKernel, heap, input, rank4, release, requireNHWC, WASM } from "./wasm-internals.ts";
import type { WasmKernelArgs } from "./wasm-internals.ts";

const NAME = Conv2DBackpropInput;

export function conv2DBackpropInputFast(args: WasmKernelArgs<Conv2DBackpropInputAttrs>): TensorInfo {
  const { backend, attrs } = args;
  const dy = input(args.inputs, "dy", NAME);
  const filter = input(args.inputs, "filter", NAME);
  requireNHWC(attrs.dataFormat, NAME);
  const inShape = rank4(attrs.inputShape, `${NAME}: inputShape`);
  const fShape = rank4(filter.shape, `${NAME}: filter`);
  const info = backend_util.computeConv2DInfo(
    inShape,
    fShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
  const dyShape = rank4(dy.shape, `${NAME}: dy`);
  if (dyShape.join() !== info.outShape.join()) {
    throw new Error(
      `${NAME}: dy shape [${dyShape.join(", ")}] does not match the convolution's output [${info.outShape.join(", ")}]`,
    );
  }
  const {
    batchSize: n,
    inHeight: ih,
    inWidth: iw,
    inChannels: ic,
    outHeight: oh,
    outWidth: ow,
    outChannels: oc,
  } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const hd = (oh - 1) * sh + 1;
  const wd = (ow - 1) * sw + 1;
  const top = fh - 1 - info.padInfo.top;
  const left = fw - 1 - info.padInfo.left;
  const bottom = ih + fh - 1 - hd - top;
  const right = iw + fw - 1 - wd - left;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) {
    // Forward padding larger than the filter: not expressible as a padded convolution; use the backend's kernel.
    return callKernel(NAME, backend, args.inputs, attrs as unknown as NamedAttrMap);
  }

  // flip(W)ᵀ: [fh, fw, ic, oc] → [fh, fw, oc, ic], spatially reversed.
  const wT = alloc(backend, [fh, fw, oc, ic]);
  {
    const w = heap(backend, filter);
    const d = heap(backend, wT);
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        const sBase = ((fh - 1 - i) * fw + (fw - 1 - j)) * ic * oc;
        const dBase = (i * fw + j) * oc * ic;
        for (let c = 0; c < ic; c++) {
          for (let o = 0; o < oc; o++) d[dBase + o * ic + c] = w[sBase + c * oc + o] ?? 0;
        }
      }
    }
  }
  let src = dy;
  let dilated: TensorInfo | undefined;
  if (sh > 1 || sw > 1) {
    dilated = alloc(backend, [n, hd, wd, oc]);
    const g = heap(backend, dy);
    const d = heap(backend, dilated);
    d.fill(0);
    for (let b = 0; b < n; b++) {
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) {
          const s = ((b * oh + y) * ow + x) * oc;
          d.set(g.subarray(s, s + oc), ((b * hd + y * sh) * wd + x * sw) * oc);
        }
      }
    }
    src = dilated;
  }
  const out = callKernel(
    "Conv2D",
    backend,
    { x: src, filter: wT },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dilations: [1, 1],
      dataFormat: "NHWC",
    },
  );
  release(backend, wT);
  if (dilated !== undefined) release(backend, dilated);
  if (out.shape.join() !== inShape.join()) {
    release(backend, out);
    throw new Error(`${NAME}: internal shape mismatch [${out.shape.join(", ")}] vs [${inShape.join(", ")}]`);
  }
  return out;
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: NAME,
  backendName: WASM,
  kernelFunc: asKernelFunc(conv2DBackpropInputFast),
};
