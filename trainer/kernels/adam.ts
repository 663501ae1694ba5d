/**
 * Adam with one fused update per variable on the wasm backend. tfjs's AdamOptimizer spends 14 elementwise ops per
 * variable per step (each a kernel call and a full pass over the weights); `FusedAdam` does the same arithmetic in
 * one pass over the heap and returns the new value and moments, which are assigned to the variables as the stock
 * optimizer does (no in-place writes: tensors stay immutable). On any other backend, or if the kernel is not
 * registered, `FusedAdamOptimizer` is exactly tfjs's AdamOptimizer.
 *
 *   m' = β1·m + (1 − β1)·g,  v' = β2·v + (1 − β2)·g²,  w' = w − lr · (m' / c1) / (√(v' / c2) + ε)
 *
 * with c1 = 1 − β1ᵗ, c2 = 1 − β2ᵗ (the stock optimizer's accBeta variables, updated the same way). Arithmetic is
 * float32 SIMD (simd.ts) for groups of 4 elements and float64 for the rest (the stock ops are float32).
 *
 * Moments that come out subnormal (|x| < 2⁻¹²⁶) are stored as 0. Weights whose gradient is always 0 (the dense
 * layer's rows for conv features that a ReLU never lets through) have m decay by β1 each step into the subnormal range,
 * where it never reaches 0 (0.9 · 2⁻¹⁴⁹ rounds back to 2⁻¹⁴⁹), and wasm has no flush-to-zero mode: every later step
 * then does arithmetic on subnormals, which x86 runs at a fraction of the normal speed (measured: after one epoch of
 * Fashion-MNIST, 91,601 of the embedding kernel's 401,408 first moments were subnormal and a step took 12 % longer).
 * The flushed values are below 2⁻¹²⁶, so no update changes by more than that.
 *
 * Kernel contract (`FusedAdam`, this project's own): inputs {value, m, v, grad} float32, same shape; attrs
 * {learningRate, beta1, beta2, epsilon, c1, c2}; outputs [value', m', v'].
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelConfig, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core";
import { alloc, heap, input, WASM } from "./wasm-internals.ts";
import { FLOAT32_MIN_NORMAL, simdFor } from "./simd.ts";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

export const FUSED_ADAM = "FusedAdam";

export interface FusedAdamAttrs {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  c1: number;
  c2: number;
}

export function fusedAdamWasm(
  inputs: Record<string, TensorInfo | undefined>,
  backend: BackendWasm,
  attrs: FusedAdamAttrs,
): TensorInfo[] {
  const w = input(inputs, "value", FUSED_ADAM);
  const m = input(inputs, "m", FUSED_ADAM);
  const v = input(inputs, "v", FUSED_ADAM);
  const g = input(inputs, "grad", FUSED_ADAM);
  const size = tf.util.sizeFromShape(w.shape);
  for (const [name, t] of [
    ["m", m],
    ["v", v],
    ["grad", g],
  ] as const) {
    if (tf.util.sizeFromShape(t.shape) !== size)
      throw new Error(`${FUSED_ADAM}: '${name}' has shape [${t.shape.join(", ")}], value [${w.shape.join(", ")}]`);
  }
  const outW = alloc(backend, [...w.shape]);
  const outM = alloc(backend, [...w.shape]);
  const outV = alloc(backend, [...w.shape]);
  const ws = heap(backend, w);
  const ms = heap(backend, m);
  const vs = heap(backend, v);
  const gs = heap(backend, g);
  const nw = heap(backend, outW);
  const nm = heap(backend, outM);
  const nv = heap(backend, outV);
  const { beta1: b1, beta2: b2, epsilon: eps, c1, c2 } = attrs;
  const a1 = 1 - b1;
  const a2 = 1 - b2;
  const step = -attrs.learningRate;
  // Groups of 4 on the SIMD routine (float32 arithmetic), the rest here (float64, rounded on store).
  const simd = simdFor(backend);
  const n4 = simd !== undefined ? size >> 2 : 0;
  if (simd !== undefined && n4 > 0) {
    simd.adam(
      ws.byteOffset,
      ms.byteOffset,
      vs.byteOffset,
      gs.byteOffset,
      nw.byteOffset,
      nm.byteOffset,
      nv.byteOffset,
      n4,
      b1,
      a1,
      b2,
      a2,
      c1,
      c2,
      eps,
      step,
    );
  }
  for (let i = 4 * n4; i < size; i++) {
    const gi = gs[i] as number;
    const mi = flushSubnormal(Math.fround((ms[i] as number) * b1 + gi * a1));
    const vi = flushSubnormal(Math.fround((vs[i] as number) * b2 + gi * gi * a2));
    nm[i] = mi;
    nv[i] = vi;
    nw[i] = (mi / c1 / (Math.sqrt(vi / c2) + eps)) * step + (ws[i] as number);
  }
  return [outW, outM, outV];
}

function flushSubnormal(x: number): number {
  return Math.abs(x) < FLOAT32_MIN_NORMAL ? 0 : x;
}

export const fusedAdamConfig: KernelConfig = {
  kernelName: FUSED_ADAM,
  backendName: WASM,
  kernelFunc: ({ inputs, backend, attrs }) =>
    fusedAdamWasm(inputs, backend as BackendWasm, attrs as unknown as FusedAdamAttrs),
};

/** The stock optimizer's state, which tfjs declares private (read and updated here exactly as it does). */
interface AdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
  accumulatedSecondMoment: ({ originalName: string; variable: tf.Variable } | undefined)[];
}

/** tfjs's AdamOptimizer (same state, weights and serialisation) with the per-variable update fused on wasm. */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  /** For schedules: tfjs reads the rate on every step (stock and fused paths alike) but declares it protected. */
  setLearningRate(rate: number): void {
    (this as unknown as AdamState).learningRate = rate;
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer["applyGradients"]>[0]): void {
    if (tf.getBackend() !== WASM || tf.getKernel(FUSED_ADAM, WASM) === undefined) {
      super.applyGradients(variableGradients);
      return;
    }
    const s = this as unknown as AdamState;
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((v) => v.name)
      : Object.keys(variableGradients);
    tf.tidy(() => {
      const c1 = 1 - (s.accBeta1.dataSync()[0] as number);
      const c2 = 1 - (s.accBeta2.dataSync()[0] as number);
      const attrs: FusedAdamAttrs = {
        learningRate: s.learningRate,
        beta1: s.beta1,
        beta2: s.beta2,
        epsilon: s.epsilon,
        c1,
        c2,
      };
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        if (value === undefined) throw new Error(`FusedAdamOptimizer: no variable '${name}'`);
        const first = (s.accumulatedFirstMoment[i] ??= {
          originalName: `${name}/m`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        });
        const second = (s.accumulatedSecondMoment[i] ??= {
          originalName: `${name}/v`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        });
        const grad = Array.isArray(variableGradients) ? variableGradients[i]?.tensor : variableGradients[name];
        if (grad === undefined || grad === null) return;
        const [w, m, v] = tf
          .engine()
          .runKernel(
            FUSED_ADAM,
            { value, m: first.variable, v: second.variable, grad },
            attrs as unknown as NamedAttrMap,
          ) as tf.Tensor[];
        if (w === undefined || m === undefined || v === undefined)
          throw new Error(`${FUSED_ADAM} returned fewer than 3 outputs`);
        first.variable.assign(m);
        second.variable.assign(v);
        value.assign(w);
      });
      s.accBeta1.assign(tf.mul(s.accBeta1, s.beta1));
      s.accBeta2.assign(tf.mul(s.accBeta2, s.beta2));
    });
    this.incrementIterations();
  }
}

/** Same defaults as tf.train.adam. */
export function fusedAdam(learningRate = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon?: number): FusedAdamOptimizer {
  return new FusedAdamOptimizer(learningRate, beta1, beta2, epsilon);
}
