/**
 * MaxPoolGrad for the wasm backend as one cache-friendly pass over the input: for each output cell the window is
 * scanned channel-vectorised (rows of C contiguous floats), the arg-max per channel is kept in small scratch arrays,
 * and dy is scattered (added) to that position. Semantics match the CPU backend exactly: the FIRST maximum in
 * row-major window order receives the gradient, padding never wins, overlapping windows accumulate.
 *
 * Contract (tfjs-core `MaxPoolGrad`): inputs {dy, input, output}; attrs {filterSize, strides, pad ('same' | 'valid' |
 * number | explicit), dimRoundingMode}. NHWC, dilation 1 (tfjs's max-pool gradient only supports dilation 1).
 */
import { backend_util, MaxPoolGrad } from "@tensorflow/tfjs-core";
import type { KernelConfig, MaxPoolGradAttrs, TensorInfo } from "@tensorflow/tfjs-core";
import { alloc, asKernelFunc, heap, input, rank4, WASM } from "./wasm-internals.ts";
import type { WasmKernelArgs } from "./wasm-internals.ts";
import { simdFor } from "./simd.ts";

const NAME = MaxPoolGrad;

let scratchIdx = new Int32Array(0);
let scratchMax = new Float32Array(0);

export function maxPoolGradFast(args: WasmKernelArgs<MaxPoolGradAttrs>): TensorInfo {
  const { backend, attrs } = args;
  const dy = input(args.inputs, "dy", NAME);
  const x = input(args.inputs, "input", NAME);
  const xShape = rank4(x.shape, `${NAME}: input`);
  const info = backend_util.computePool2DInfo(
    xShape,
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const dyShape = rank4(dy.shape, `${NAME}: dy`);
  if (dyShape.join() !== info.outShape.join()) {
    throw new Error(
      `${NAME}: dy shape [${dyShape.join(", ")}] does not match the pooling output [${info.outShape.join(", ")}]`,
    );
  }
  const { batchSize: n, inHeight: ih, inWidth: iw, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const pt = info.padInfo.top;
  const pl = info.padInfo.left;
  if (scratchIdx.length < c) {
    scratchIdx = new Int32Array(c);
    scratchMax = new Float32Array(c);
  }
  const idx = scratchIdx;
  const mx = scratchMax;

  const out = alloc(backend, xShape);
  const xs = heap(backend, x);
  const g = heap(backend, dy);
  const dx = heap(backend, out);
  if (fh === 2 && fw === 2 && sh === 2 && sw === 2 && pt === 0 && pl === 0 && 2 * oh <= ih && 2 * ow <= iw) {
    const simd = c % 4 === 0 && 2 * oh === ih && 2 * ow === iw && n * oh * ow > 0 ? simdFor(backend) : undefined;
    if (simd !== undefined) simd.maxPoolGrad2x2(xs.byteOffset, g.byteOffset, dx.byteOffset, n * oh, ow, c);
    else pool2x2Grad(xs, g, dx, n, ih, iw, c, oh, ow);
    return out;
  }
  dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let yo = 0; yo < oh; yo++) {
      const r0 = yo * sh - pt;
      for (let xo = 0; xo < ow; xo++) {
        const q0 = xo * sw - pl;
        idx.fill(-1, 0, c);
        mx.fill(Number.NEGATIVE_INFINITY, 0, c);
        for (let i = 0; i < fh; i++) {
          const r = r0 + i;
          if (r < 0 || r >= ih) continue;
          for (let j = 0; j < fw; j++) {
            const q = q0 + j;
            if (q < 0 || q >= iw) continue;
            const base = ((b * ih + r) * iw + q) * c;
            for (let k = 0; k < c; k++) {
              const v = xs[base + k] ?? 0;
              // Strictly greater than the running max (from -∞): the first maximum wins, as in the CPU backend; a
              // window of only -∞/NaN passes no gradient, also as there.
              if (v > (mx[k] ?? 0)) {
                mx[k] = v;
                idx[k] = base + k;
              }
            }
          }
        }
        const go = ((b * oh + yo) * ow + xo) * c;
        for (let k = 0; k < c; k++) {
          const p = idx[k] ?? -1;
          if (p >= 0) dx[p] = (dx[p] ?? 0) + (g[go + k] ?? 0);
        }
      }
    }
  }
  return out;
}

/**
 * The common case (2×2 windows, stride 2, no padding; the reference CNN's pooling) in one pass: windows do not
 * overlap, so every covered input cell is written exactly once (dy at the window's first maximum, 0 elsewhere) and
 * nothing is filled or accumulated. Rows or columns no window covers (odd sizes) are zeroed.
 */
function pool2x2Grad(
  xs: Float32Array,
  g: Float32Array,
  dx: Float32Array,
  n: number,
  ih: number,
  iw: number,
  c: number,
  oh: number,
  ow: number,
): void {
  if (2 * oh < ih || 2 * ow < iw) dx.fill(0);
  const row = iw * c;
  for (let b = 0; b < n; b++) {
    for (let yo = 0; yo < oh; yo++) {
      let go = (b * oh + yo) * ow * c;
      for (let xo = 0; xo < ow; xo++) {
        const p00 = ((b * ih + 2 * yo) * iw + 2 * xo) * c;
        const p01 = p00 + c;
        const p10 = p00 + row;
        const p11 = p10 + c;
        for (let k = 0; k < c; k++, go++) {
          const v00 = xs[p00 + k] as number;
          const v01 = xs[p01 + k] as number;
          const v10 = xs[p10 + k] as number;
          const v11 = xs[p11 + k] as number;
          // Same rule as the general loop: strictly greater than the running max from -∞, in row-major order.
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          if (v00 > best) {
            best = v00;
            at = 0;
          }
          if (v01 > best) {
            best = v01;
            at = 1;
          }
          if (v10 > best) {
            best = v10;
            at = 2;
          }
          if (v11 > best) at = 3;
          const gv = g[go] as number;
          dx[p00 + k] = at === 0 ? gv : 0;
          dx[p01 + k] = at === 1 ? gv : 0;
          dx[p10 + k] = at === 2 ? gv : 0;
          dx[p11 + k] = at === 3 ? gv : 0;
        }
      }
    }
  }
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: NAME,
  backendName: WASM,
  kernelFunc: asKernelFunc(maxPoolGradFast),
};
