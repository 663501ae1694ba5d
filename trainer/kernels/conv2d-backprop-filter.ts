/**
 * Conv2DBackpropFilter for the wasm backend (which has none):
 *
 *   dW[i, j, c, o] = Σ_{n, y, x} xpad[n, y·sh + i, x·sw + j, c] · dy[n, y, x, o]
 *
 * computed as an im2col matrix product on the backend's XNNPACK matmul (`conv2DBackpropFilterMatMul`). A form as one
 * forward convolution (input channels as images, batch as channels) was measured too and was slower for the first
 * layer; the direct loop below is the benchmark's baseline.
 *
 * Contract (tfjs-core `Conv2DBackpropFilter`): inputs {x, dy}; attrs {strides, pad ('same' | 'valid' | number |
 * explicit), dataFormat, dimRoundingMode, filterShape}. NHWC only; dilation is always 1 for this kernel in tfjs.
 */
import { backend_util, Conv2DBackpropFilter } from "@tensorflow/tfjs-core";
import type { Conv2DBackpropFilterAttrs, KernelConfig, TensorInfo } from "@tensorflow/tfjs-core";
import {
  alloc,
  asKernelFunc,
  callKernel,
  heap,
  input,
  rank4,
  release,
  requireNHWC,
  view,
  WASM,
} from "./wasm-internals.ts";
import type { WasmKernelArgs } from "./wasm-internals.ts";
import { simdFor } from "./simd.ts";

const NAME = Conv2DBackpropFilter;

function convInfo(x: TensorInfo, dy: TensorInfo, attrs: Conv2DBackpropFilterAttrs): backend_util.Conv2DInfo {
  requireNHWC(attrs.dataFormat, NAME);
  const xShape = rank4(x.shape, `${NAME}: x`);
  const filterShape = rank4(attrs.filterShape, `${NAME}: filterShape`);
  const info = backend_util.computeConv2DInfo(
    xShape,
    filterShape,
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
  return info;
}

/**
 * The gradient as an im2col matrix product, dW[K, oc] = colsᵀ[K, M] · dy[M, oc] with K = fh·fw·ic and
 * M = N·oh·ow, on the backend's XNNPACK matmul path (colsᵀ is built directly, each row written contiguously).
 * Better than the convolution form when ic is small (the first layer), where XNNPACK's convolution with a
 * batch-sized "filter" is inefficient. With few taps (K ≤ 16, oc % 16 = 0: the first layer) the product is a direct
 * SIMD loop instead (simd.ts `smallKGemm`): XNNPACK packs dy, its right operand, on every call (~9 ns a float, single
 * threaded), which cost ~10 ms a step for the first layer against ~1.6 ms for the whole kernel now.
 */
export function conv2DBackpropFilterMatMul(
  args: WasmKernelArgs<Conv2DBackpropFilterAttrs>,
  chunkFloats = CHUNK_FLOATS,
): TensorInfo {
  const { backend, attrs } = args;
  const x = input(args.inputs, "x", NAME);
  const dy = input(args.inputs, "dy", NAME);
  const info = convInfo(x, dy, attrs);
  const {
    batchSize: n,
    outHeight: oh,
    outWidth: ow,
    inChannels: ic,
    outChannels: oc,
    filterHeight: fh,
    filterWidth: fw,
  } = info;
  const kk = fh * fw * ic;
  const perImage = oh * ow;
  // Images per product: the whole batch, up to CHUNK_FLOATS of left + right operand (then image chunks whose
  // partial products are added). Chunks that fit the L2 cache were once faster; with colsᵀ built by wasm memory
  // copies, one whole-batch product measured faster on 1 and 2 threads (layer 2: 16 vs 25 ms with 2 threads).
  const chunk = Math.max(1, Math.min(n, Math.floor(chunkFloats / (perImage * (kk + oc)))));
  let out: TensorInfo | undefined;
  // Stride 1 (every 'same'/'valid' 3×3 layer): channel-major x (one backend Transpose, skipped for one channel) makes
  // every row of colsᵀ a run of contiguous copies of image planes instead of a gather with stride ic.
  const planar = info.strideHeight === 1 && info.strideWidth === 1;
  // (NHWC → CNHW is the 2-D transpose of [N·H·W, C]: the backend's 2-D path is ~4× faster than its 4-D one.)
  const xT =
    planar && ic > 1
      ? callKernel("Transpose", backend, { x: view(x, [n * info.inHeight * info.inWidth, ic]) }, { perm: [1, 0] })
      : x;
  const colsT = alloc(backend, [kk, chunk * perImage]);
  try {
    const simd = kk <= SMALL_K && oc % 16 === 0 ? simdFor(backend) : undefined;
    if (chunk === n && simd !== undefined) {
      // Few filter taps (the first layer: 9): XNNPACK packs its right operand (dy, new every step) on every call,
      // which costs far more than this product; a direct SIMD loop over row blocks needs no packing.
      const result = alloc(backend, [fh, fw, ic, oc]);
      const r = heap(backend, result);
      r.fill(0);
      try {
        if (planar) im2colTPlanar(heap(backend, xT), heap(backend, colsT), info, 0, n, simd.copy);
        else im2colT(heap(backend, x), heap(backend, colsT), info, 0, n);
        simd.smallKGemm(
          heap(backend, colsT).byteOffset,
          heap(backend, dy).byteOffset,
          r.byteOffset,
          kk,
          n * perImage,
          oc,
        );
      } catch (err) {
        release(backend, result);
        throw err;
      }
      return result;
    }
    for (let b0 = 0; b0 < n; b0 += chunk) {
      const nb = Math.min(chunk, n - b0);
      const m = nb * perImage;
      // A fresh right operand per product: the backend caches XNNPACK operators (with the packed weights) by the
      // right operand's tensor id, so reusing one buffer with new contents would multiply by stale weights.
      const whole = nb === n;
      const dyChunk = whole ? { dataId: dy.dataId, shape: [m, oc], dtype: dy.dtype } : alloc(backend, [m, oc]);
      try {
        if (!whole)
          heap(backend, dyChunk).set(heap(backend, dy).subarray(b0 * perImage * oc, (b0 + nb) * perImage * oc));
        const a = nb === chunk ? colsT : alloc(backend, [kk, m]);
        try {
          if (planar) im2colTPlanar(heap(backend, xT), heap(backend, a), info, b0, nb, simdFor(backend)?.copy);
          else im2colT(heap(backend, x), heap(backend, a), info, b0, nb);
          const part = callKernel("BatchMatMul", backend, { a, b: dyChunk }, { transposeA: false, transposeB: false });
          if (out === undefined) {
            out = part;
          } else {
            const acc = heap(backend, out);
            const p = heap(backend, part);
            for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) + (p[i] as number);
            release(backend, part);
          }
        } finally {
          if (a !== colsT) release(backend, a);
        }
      } finally {
        if (!whole) release(backend, dyChunk);
      }
    }
  } catch (err) {
    if (out !== undefined) release(backend, out);
    throw err;
  } finally {
    release(backend, colsT);
    if (xT !== x) release(backend, xT);
  }
  if (out === undefined) throw new Error(`${NAME}: empty batch`);
  out.shape = [fh, fw, ic, oc];
  return out;
}

/** Filter taps (fh·fw·ic) up to which the product is the direct SIMD loop instead of XNNPACK. */
const SMALL_K = 16;

/** Floats of (left + right) operand per partial product (64 MB: batches of 64 up to ~40×40×64 inputs in one). */
const CHUNK_FLOATS = 16 * 1024 * 1024;

/** colsᵀ[K, M] for images [b0, b0 + nb): row (i, j, c) holds xpad[b, y·sh + i, x·sw + j, c] over (b, y, x). */
function im2colT(xs: Float32Array, d: Float32Array, info: backend_util.Conv2DInfo, b0: number, nb: number): void {
  const {
    inHeight: ih,
    inWidth: iw,
    inChannels: ic,
    outHeight: oh,
    outWidth: ow,
    filterHeight: fh,
    filterWidth: fw,
  } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const m = nb * oh * ow;
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      // Output columns whose input column is inside the image: [x0, x1).
      const x0 = Math.max(0, Math.ceil((pl - j) / sw));
      const x1 = Math.max(x0, Math.min(ow, Math.floor((iw - 1 + pl - j) / sw) + 1));
      for (let c = 0; c < ic; c++) {
        let o = ((i * fw + j) * ic + c) * m;
        for (let b = b0; b < b0 + nb; b++) {
          for (let y = 0; y < oh; y++, o += ow) {
            const r = y * sh + i - pt;
            if (r < 0 || r >= ih) {
              d.fill(0, o, o + ow);
              continue;
            }
            for (let xq = 0; xq < x0; xq++) d[o + xq] = 0;
            let s = ((b * ih + r) * iw + x0 * sw + j - pl) * ic + c;
            const step = sw * ic;
            for (let xq = x0; xq < x1; xq++, s += step) d[o + xq] = xs[s] as number;
            for (let xq = x1; xq < ow; xq++) d[o + xq] = 0;
          }
        }
      }
    }
  }
}

/**
 * colsᵀ for stride 1 from channel-major x (xT[c, b, r, q]): row (i, j, c), image b is the plane xT[c, b] shifted by
 * (i - pt, j - pl) with zeros where the shift leaves the image. When output and input planes have the same size
 * ('same' padding), the rows for all images of the chunk are ONE contiguous copy (copyWithin on the whole heap: per
 * call overhead, not bandwidth, dominated the per-image copies) whose out-of-image cells are then zeroed; otherwise
 * planes are copied row by row.
 */
function im2colTPlanar(
  xt: Float32Array,
  d: Float32Array,
  info: backend_util.Conv2DInfo,
  b0: number,
  nb: number,
  copyBytes?: (dst: number, src: number, bytes: number) => void,
): void {
  const {
    batchSize: n,
    inHeight: ih,
    inWidth: iw,
    inChannels: ic,
    outHeight: oh,
    outWidth: ow,
    filterHeight: fh,
    filterWidth: fw,
  } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  const plane = oh * ow;
  const m = nb * plane;
  const same = oh === ih && ow === iw;
  // One view of the whole heap, so copies between the two tensors are memmoves (copyWithin).
  const all = new Float32Array(d.buffer);
  const xBase = xt.byteOffset >> 2;
  const dBase = d.byteOffset >> 2;
  for (let i = 0; i < fh; i++) {
    // Output rows whose input row is inside the image: [y0, y1).
    const y0 = Math.min(oh, Math.max(0, pt - i));
    const y1 = Math.max(y0, Math.min(oh, ih + pt - i));
    for (let j = 0; j < fw; j++) {
      const x0 = Math.min(ow, Math.max(0, pl - j));
      const x1 = Math.max(x0, Math.min(ow, iw + pl - j));
      const shift = (i - pt) * iw + (j - pl);
      for (let c = 0; c < ic; c++) {
        const o = ((i * fw + j) * ic + c) * m;
        if (y0 >= y1 || x0 >= x1) {
          d.fill(0, o, o + m);
          continue;
        }
        const first = y0 * ow + x0;
        const last = (y1 - 1) * ow + x1;
        if (same) {
          // Input and output planes have the same size, so the whole chunk (nb consecutive planes of xT[c]) is one
          // affine copy; what it wrongly fills (rows and columns the shift moves out of the image) is zeroed after.
          const src = xBase + (c * n + b0) * plane + shift;
          if (copyBytes !== undefined)
            copyBytes((dBase + o + first) * 4, (src + first) * 4, ((nb - 1) * plane + last - first) * 4);
          else all.copyWithin(dBase + o + first, src + first, src + (nb - 1) * plane + last);
          for (let b = 0, ob = o; b < nb; b++, ob += plane) {
            for (let e = ob; e < ob + first; e++) d[e] = 0;
            for (let e = ob + last; e < ob + plane; e++) d[e] = 0;
            if (x0 > 0 || x1 < ow) {
              for (let y = y0; y < y1; y++) {
                const row = ob + y * ow;
                for (let q = 0; q < x0; q++) d[row + q] = 0;
                for (let q = x1; q < ow; q++) d[row + q] = 0;
              }
            }
          }
          continue;
        }
        for (let b = b0, ob = o; b < b0 + nb; b++, ob += plane) {
          const src = (c * n + b) * ih * iw;
          for (let e = ob; e < ob + y0 * ow; e++) d[e] = 0;
          for (let y = y0; y < y1; y++) {
            const row = ob + y * ow;
            const sr = src + (y + i - pt) * iw + (j - pl);
            for (let q = 0; q < x0; q++) d[row + q] = 0;
            for (let q = x0; q < x1; q++) d[row + q] = xt[sr + q] as number;
            for (let q = x1; q < ow; q++) d[row + q] = 0;
          }
          for (let e = ob + y1 * ow; e < ob + plane; e++) d[e] = 0;
        }
      }
    }
  }
}

/**
 * The straightforward direct loop (what "registering the missing kernel" gives): correct for every attr but slow.
 * Kept as the benchmark's baseline and as an independent reference in tests.
 */
export function conv2DBackpropFilterNaive(args: WasmKernelArgs<Conv2DBackpropFilterAttrs>): TensorInfo {
  const { backend, attrs } = args;
  const x = input(args.inputs, "x", NAME);
  const dy = input(args.inputs, "dy", NAME);
  const info = convInfo(x, dy, attrs);
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
  const out = alloc(backend, [fh, fw, ic, oc]);
  const xs = heap(backend, x);
  const g = heap(backend, dy);
  const dw = heap(backend, out);
  dw.fill(0);
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      for (let b = 0; b < n; b++) {
        for (let y = 0; y < oh; y++) {
          const xr = y * sh + i - info.padInfo.top;
          if (xr < 0 || xr >= ih) continue;
          for (let xc0 = 0; xc0 < ow; xc0++) {
            const xc = xc0 * sw + j - info.padInfo.left;
            if (xc < 0 || xc >= iw) continue;
            const xo = ((b * ih + xr) * iw + xc) * ic;
            const go = ((b * oh + y) * ow + xc0) * oc;
            for (let c = 0; c < ic; c++) {
              const xv = xs[xo + c] ?? 0;
              const wo = ((i * fw + j) * ic + c) * oc;
              for (let o = 0; o < oc; o++) dw[wo + o] = (dw[wo + o] ?? 0) + xv * (g[go + o] ?? 0);
            }
          }
        }
      }
    }
  }
  return out;
}

/** The registered form: the matmul one measured faster for both layers of the reference CNN (5 vs 32 ms and
 * 40 vs 59 ms per batch of 64, 1 thread); the convolution form is kept for comparison (it passed the same tests). */
export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: NAME,
  backendName: WASM,
  kernelFunc: asKernelFunc((args: WasmKernelArgs<Conv2DBackpropFilterAttrs>) => conv2DBackpropFilterMatMul(args)),
};

export const conv2DBackpropFilterNaiveConfig: KernelConfig = {
  kernelName: NAME,
  backendName: WASM,
  kernelFunc: asKernelFunc(conv2DBackpropFilterNaive),
};
