/**
 * The fast wasm training kernels (trainer/kernels) against the CPU backend's numbers, on random inputs over several
 * shapes, strides and paddings; gradients of a small conv net through tf.variableGrads on both backends; and no
 * tensor (or wasm-heap) leaks across repeated training steps. Speed is measured in bench/train-kernels.ts, not here.
 */
import { beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { Conv2DBackpropFilterAttrs } from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { conv2DBackpropFilterMatMul } from "../../trainer/kernels/conv2d-backprop-filter.ts";
import { FAST_KERNELS, registerFastKernels, useWasmBackend } from "../../trainer/kernels/register.ts";
import { fusedAdam } from "../../trainer/kernels/adam.ts";
import { simdFor } from "../../trainer/kernels/simd.ts";

type Pad = "same" | "valid" | number | [[number, number], [number, number], [number, number], [number, number]];

/** Deterministic uniform(-1, 1) data (mulberry32). */
function randomData(size: number, seed: number, integers = false): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    // Integers in [-3, 3] make ties common, which exercises max-pool's first-maximum rule.
    out[i] = integers ? Math.floor(u * 7) - 3 : u * 2 - 1;
  }
  return out;
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Runs a kernel on a backend with fresh tensors from the given data and returns the result's values and shape. */
async function runOn(
  backend: "cpu" | "wasm",
  kernel: string,
  inputs: Record<string, { shape: number[]; data: Float32Array }>,
  attrs: Record<string, unknown>,
): Promise<{ shape: number[]; values: Float32Array }> {
  await tf.setBackend(backend);
  const ts: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(inputs)) ts[name] = tf.tensor(v.data, v.shape);
  // runKernel's attrs are a loose attribute map; the kernels validate what they read.
  const out = tf.engine().runKernel(kernel, ts, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  const values = (await out.data()) as Float32Array;
  const shape = out.shape;
  out.dispose();
  for (const t of Object.values(ts)) t.dispose();
  return { shape, values };
}

function expectClose(actual: Float32Array, expected: Float32Array, what: string, rel = 1e-4): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let scale = 1;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.length; i++)
    worst = Math.max(worst, Math.abs((actual[i] ?? NaN) - (expected[i] ?? NaN)));
  expect(worst, `${what}: max abs diff ${worst} (scale ${scale})`).toBeLessThanOrEqual(rel * scale);
}

async function compareKernel(
  kernel: string,
  inputs: Record<string, { shape: number[]; data: Float32Array }>,
  attrs: Record<string, unknown>,
  what: string,
): Promise<void> {
  const ref = await runOn("cpu", kernel, inputs, attrs);
  const got = await runOn("wasm", kernel, inputs, attrs);
  expect(got.shape, `${what}: shape`).toEqual(ref.shape);
  expectClose(got.values, ref.values, what);
}

interface ConvCase {
  n: number;
  h: number;
  w: number;
  ic: number;
  oc: number;
  fh: number;
  fw: number;
  stride: number | [number, number];
  pad: Pad;
}

const convCases: ConvCase[] = [
  { n: 2, h: 8, w: 8, ic: 3, oc: 4, fh: 3, fw: 3, stride: 1, pad: "same" },
  { n: 2, h: 7, w: 9, ic: 2, oc: 5, fh: 3, fw: 3, stride: 1, pad: "valid" },
  { n: 1, h: 9, w: 7, ic: 3, oc: 2, fh: 3, fw: 3, stride: 2, pad: "same" },
  { n: 2, h: 10, w: 11, ic: 2, oc: 3, fh: 3, fw: 2, stride: [2, 3], pad: "valid" },
  { n: 1, h: 8, w: 8, ic: 4, oc: 4, fh: 5, fw: 3, stride: 1, pad: 1 },
  {
    n: 1,
    h: 6,
    w: 7,
    ic: 2,
    oc: 3,
    fh: 3,
    fw: 3,
    stride: 2,
    pad: [
      [0, 0],
      [2, 0],
      [1, 2],
      [0, 0],
    ],
  },
  { n: 3, h: 5, w: 5, ic: 1, oc: 6, fh: 1, fw: 1, stride: 1, pad: "valid" },
  // Forward padding beyond the filter (pad 3 > fh - 1): the input gradient falls back to the backend's own kernel.
  { n: 1, h: 5, w: 5, ic: 2, oc: 2, fh: 3, fw: 3, stride: 1, pad: 3 },
  // Few taps with oc % 16 === 0: the filter gradient's direct SIMD product (the reference CNN's first layer, batch 2:
  // 1,568 rows, so blocks of 512 and a partial one), and one with few taps but oc % 16 !== 0 (XNNPACK's product).
  { n: 2, h: 28, w: 28, ic: 1, oc: 32, fh: 3, fw: 3, stride: 1, pad: "same" },
  { n: 3, h: 9, w: 8, ic: 1, oc: 16, fh: 3, fw: 3, stride: 2, pad: "valid" },
  { n: 3, h: 9, w: 8, ic: 1, oc: 8, fh: 3, fw: 3, stride: 2, pad: "valid" },
  // The reference CNN's second layer, batch 4.
  { n: 2, h: 14, w: 14, ic: 32, oc: 64, fh: 3, fw: 3, stride: 1, pad: "same" },
];

function convOutShape(c: ConvCase): number[] {
  const info = tf.backend_util.computeConv2DInfo([c.n, c.h, c.w, c.ic], [c.fh, c.fw, c.ic, c.oc], c.stride, 1, c.pad);
  return info.outShape;
}

function label(c: ConvCase): string {
  return `${c.n}x${c.h}x${c.w}x${c.ic} * ${c.fh}x${c.fw}x${c.oc} stride ${JSON.stringify(c.stride)} pad ${JSON.stringify(c.pad)}`;
}

beforeAll(async () => {
  await useWasmBackend(1);
});

describe("fast wasm kernels: registration", () => {
  it("replaces/adds the kernels on the wasm backend, idempotently", () => {
    registerFastKernels();
    registerFastKernels();
    for (const config of FAST_KERNELS) {
      expect(tf.getKernel(config.kernelName, "wasm")?.kernelFunc, config.kernelName).toBe(config.kernelFunc);
    }
    expect(tf.getBackend()).toBe("wasm");
  });
});

describe("Conv2DBackpropFilter matches the CPU backend", () => {
  for (const [k, c] of convCases.entries()) {
    it(label(c), async () => {
      const dyShape = convOutShape(c);
      await compareKernel(
        "Conv2DBackpropFilter",
        {
          x: { shape: [c.n, c.h, c.w, c.ic], data: randomData(c.n * c.h * c.w * c.ic, 11 + k) },
          dy: { shape: dyShape, data: randomData(size(dyShape), 101 + k) },
        },
        { strides: c.stride, pad: c.pad, dataFormat: "NHWC", filterShape: [c.fh, c.fw, c.ic, c.oc] },
        label(c),
      );
    });
  }
});

describe("Conv2DBackpropFilter in image chunks (partial products added) matches the CPU backend", () => {
  const cases: ConvCase[] = [
    { n: 7, h: 6, w: 6, ic: 8, oc: 4, fh: 3, fw: 3, stride: 1, pad: "same" },
    { n: 5, h: 9, w: 7, ic: 8, oc: 3, fh: 3, fw: 3, stride: 2, pad: "valid" },
  ];
  for (const [k, c] of cases.entries()) {
    it(`${label(c)}, chunks of 2 images`, async () => {
      const dyShape = convOutShape(c);
      const x = randomData(c.n * c.h * c.w * c.ic, 21 + k);
      const dy = randomData(size(dyShape), 121 + k);
      const attrs = { strides: c.stride, pad: c.pad, dataFormat: "NHWC", filterShape: [c.fh, c.fw, c.ic, c.oc] };
      const ref = await runOn(
        "cpu",
        "Conv2DBackpropFilter",
        { x: { shape: [c.n, c.h, c.w, c.ic], data: x }, dy: { shape: dyShape, data: dy } },
        attrs,
      );
      await tf.setBackend("wasm");
      const backend = tf.backend() as BackendWasm;
      const xt = tf.tensor4d(x, [c.n, c.h, c.w, c.ic]);
      const dyt = tf.tensor(dy, dyShape);
      const perImage = (dyShape[1] ?? 0) * (dyShape[2] ?? 0);
      const before = backend.numDataIds();
      const out = conv2DBackpropFilterMatMul(
        { backend, inputs: { x: xt, dy: dyt }, attrs: attrs as unknown as Conv2DBackpropFilterAttrs },
        2 * perImage * (c.fh * c.fw * c.ic + c.oc),
      );
      expect(backend.numDataIds(), "only the output is left").toBe(before + 1);
      expect(out.shape).toEqual(ref.shape);
      expectClose(backend.typedArrayFromHeap(out) as Float32Array, ref.values, label(c));
      backend.disposeData(out.dataId);
      tf.dispose([xt, dyt]);
    });
  }
});

describe("Conv2DBackpropInput matches the CPU backend", () => {
  for (const [k, c] of convCases.entries()) {
    it(label(c), async () => {
      const dyShape = convOutShape(c);
      await compareKernel(
        "Conv2DBackpropInput",
        {
          dy: { shape: dyShape, data: randomData(size(dyShape), 201 + k) },
          filter: { shape: [c.fh, c.fw, c.ic, c.oc], data: randomData(c.fh * c.fw * c.ic * c.oc, 301 + k) },
        },
        { strides: c.stride, pad: c.pad, dataFormat: "NHWC", inputShape: [c.n, c.h, c.w, c.ic] },
        label(c),
      );
    });
  }
});

describe("MaxPoolGrad matches the CPU backend (ties included)", () => {
  const cases: {
    shape: [number, number, number, number];
    f: number | [number, number];
    s: number | [number, number];
    pad: Pad;
  }[] = [
    { shape: [2, 8, 8, 3], f: 2, s: 2, pad: "valid" },
    { shape: [2, 7, 9, 4], f: 3, s: 2, pad: "same" },
    { shape: [1, 6, 6, 2], f: 3, s: 1, pad: "same" },
    { shape: [1, 9, 8, 5], f: [2, 3], s: [1, 2], pad: "valid" },
    { shape: [2, 5, 5, 3], f: 2, s: 2, pad: 1 },
    { shape: [4, 28, 28, 32], f: 2, s: 2, pad: "valid" },
    // 2×2 stride 2 (the one-pass path): odd sizes leave a row and a column uncovered; 'same' on even sizes.
    { shape: [2, 7, 9, 3], f: 2, s: 2, pad: "valid" },
    // 2×2 stride 2, channels a multiple of 4: the wasm SIMD routine (simd.ts); odd sizes fall back to JS.
    { shape: [3, 6, 10, 8], f: 2, s: 2, pad: "valid" },
    { shape: [2, 14, 14, 64], f: 2, s: 2, pad: "valid" },
    { shape: [2, 7, 7, 4], f: 2, s: 2, pad: "valid" },
    { shape: [2, 6, 8, 5], f: 2, s: 2, pad: "same" },
  ];
  for (const [k, c] of cases.entries()) {
    const name = `${c.shape.join("x")} filter ${JSON.stringify(c.f)} stride ${JSON.stringify(c.s)} pad ${JSON.stringify(c.pad)}`;
    it(name, async () => {
      const info = tf.backend_util.computePool2DInfo(c.shape, c.f, c.s, 1, c.pad);
      const x = randomData(size(c.shape), 401 + k, true);
      // The kernel's `output` input is the forward result; compute it on the CPU backend.
      await tf.setBackend("cpu");
      const y = tf.maxPool(tf.tensor4d(x, c.shape), c.f, c.s, c.pad);
      const yData = (await y.data()) as Float32Array;
      y.dispose();
      await compareKernel(
        "MaxPoolGrad",
        {
          dy: { shape: info.outShape, data: randomData(size(info.outShape), 501 + k) },
          input: { shape: c.shape, data: x },
          output: { shape: info.outShape, data: yData },
        },
        { filterSize: c.f, strides: c.s, pad: c.pad },
        name,
      );
    });
  }
});

describe("MaxPoolGrad 2×2 on the SIMD routine", () => {
  it("is bound to the backend's memory", async () => {
    await tf.setBackend("wasm");
    expect(simdFor(tf.backend() as BackendWasm)).toBeDefined();
  });

  it("−∞ windows pass no gradient, ±0 and ties go to the first maximum (as on the CPU backend)", async () => {
    const shape: [number, number, number, number] = [1, 4, 4, 4];
    const x = randomData(size(shape), 901, true);
    for (let k = 0; k < 4; k++) {
      x[k] = Number.NEGATIVE_INFINITY; // window (0, 0): channel k gets -∞ in all four cells for k < 2
      x[4 + k] = Number.NEGATIVE_INFINITY;
      x[16 + k] = k < 2 ? Number.NEGATIVE_INFINITY : -0;
      x[20 + k] = k < 1 ? Number.NEGATIVE_INFINITY : 0;
    }
    await tf.setBackend("cpu");
    const y = tf.maxPool(tf.tensor4d(x, shape), 2, 2, "valid");
    const yData = (await y.data()) as Float32Array;
    y.dispose();
    await compareKernel(
      "MaxPoolGrad",
      {
        dy: { shape: [1, 2, 2, 4], data: randomData(16, 902) },
        input: { shape, data: x },
        output: { shape: [1, 2, 2, 4], data: yData },
      },
      { filterSize: 2, strides: 2, pad: "valid" },
      "edge values",
    );
  });
});

describe("the Relu gradient (ReluGradMask on wasm) matches the CPU backend", () => {
  for (const shape of [[4, 28, 28, 32], [3, 5, 7], [2]]) {
    it(`[${shape.join(", ")}]`, async () => {
      const x = randomData(size(shape), 950 + shape.length, true); // integers: many exact zeros
      const dy = randomData(size(shape), 960 + shape.length);
      const grad = async (backend: "cpu" | "wasm"): Promise<Float32Array> => {
        await tf.setBackend(backend);
        const [xt, dyt] = [tf.tensor(x, shape), tf.tensor(dy, shape)];
        const g = tf.grad((t: tf.Tensor) => tf.relu(t))(xt, dyt);
        const out = (await g.data()) as Float32Array;
        tf.dispose([xt, dyt, g]);
        return out;
      };
      const ref = await grad("cpu");
      await tf.setBackend("wasm");
      const before = tf.engine().backend.numDataIds();
      const got = await grad("wasm");
      expect(tf.engine().backend.numDataIds()).toBe(before);
      expect(Array.from(got, (v) => v + 0)).toEqual(Array.from(ref, (v) => v + 0));
    });
  }

  it("is the kernel that runs on wasm", async () => {
    await tf.setBackend("wasm");
    const x = tf.tensor([-1, 0, 2, 3, -4]);
    const { kernelNames } = await tf.profile(() => tf.grad((t: tf.Tensor) => tf.relu(t))(x));
    expect(kernelNames).toContain("ReluGradMask");
    expect(kernelNames).not.toContain("Step");
    x.dispose();
  });
});

describe("BatchMatMul matches the CPU backend", () => {
  const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
    { a: [7, 5], b: [7, 3], ta: true, tb: false },
    { a: [4, 6], b: [3, 6], ta: false, tb: true },
    { a: [6, 4], b: [3, 6], ta: true, tb: true },
    { a: [1, 5, 7], b: [1, 5, 2], ta: true, tb: false },
    { a: [2, 4, 5], b: [2, 3, 5], ta: false, tb: true },
    { a: [64, 300], b: [64, 32], ta: true, tb: false },
    { a: [5, 4], b: [4, 3], ta: false, tb: false },
    // Few rows in a against many in b: computed as (b·aᵀ)ᵀ (a dense layer's input gradient).
    { a: [8, 16], b: [100, 16], ta: false, tb: true },
    { a: [1, 8, 16], b: [1, 100, 16], ta: false, tb: true },
  ];
  for (const [k, c] of cases.entries()) {
    const name = `[${c.a}]${c.ta ? "ᵀ" : ""} · [${c.b}]${c.tb ? "ᵀ" : ""}`;
    it(name, async () => {
      await compareKernel(
        "BatchMatMul",
        {
          a: { shape: c.a, data: randomData(size(c.a), 601 + k) },
          b: { shape: c.b, data: randomData(size(c.b), 701 + k) },
        },
        { transposeA: c.ta, transposeB: c.tb },
        name,
      );
    });
  }
});

describe("Sum matches the CPU backend", () => {
  const cases: { shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
    // Bias gradients of the reference CNN (leading axes: the fast path), batch 4.
    { shape: [4, 28, 28, 32], axis: [0, 1, 2], keepDims: false },
    { shape: [4, 14, 14, 64], axis: [0, 1, 2], keepDims: false },
    { shape: [64, 10], axis: 0, keepDims: false },
    { shape: [5, 3, 7], axis: [1, 0], keepDims: true },
    { shape: [6, 4, 3], axis: [-3, -2], keepDims: false },
    // Not leading axes: the backend's own kernel.
    { shape: [5, 3, 7], axis: [2], keepDims: false },
    { shape: [5, 3, 7], axis: [0, 2], keepDims: true },
    { shape: [5, 3, 7], axis: [0, 1, 2], keepDims: false },
  ];
  for (const [k, c] of cases.entries()) {
    const name = `[${c.shape}] axis ${JSON.stringify(c.axis)}${c.keepDims ? " keepDims" : ""}`;
    it(name, async () => {
      await compareKernel(
        "Sum",
        { x: { shape: c.shape, data: randomData(size(c.shape), 801 + k) } },
        { axis: c.axis, keepDims: c.keepDims },
        name,
      );
    });
  }
  it("int32 input goes to the backend's kernel", async () => {
    await tf.setBackend("wasm");
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], "int32");
    const s = tf.sum(x, 0);
    expect(s.dtype).toBe("int32");
    expect(Array.from(await s.data())).toEqual([9, 12]);
    tf.dispose([x, s]);
  });
});

describe("Mean matches the CPU backend", () => {
  const cases: { shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
    // Batch-norm statistics (leading axes: the fast path).
    { shape: [4, 28, 28, 32], axis: [0, 1, 2], keepDims: false },
    { shape: [4, 14, 14, 64], axis: [0, 1, 2], keepDims: true },
    { shape: [7, 3], axis: 0, keepDims: false },
    // Other axes: the backend's own kernel.
    { shape: [5, 3, 7], axis: [2], keepDims: false },
    { shape: [5, 3, 7], axis: [0, 1, 2], keepDims: false },
  ];
  for (const [k, c] of cases.entries()) {
    const name = `[${c.shape}] axis ${JSON.stringify(c.axis)}${c.keepDims ? " keepDims" : ""}`;
    it(name, async () => {
      await compareKernel(
        "Mean",
        { x: { shape: c.shape, data: randomData(size(c.shape), 851 + k) } },
        { axis: c.axis, keepDims: c.keepDims },
        name,
      );
    });
  }
});

describe("Tile matches the CPU backend", () => {
  const cases: { shape: number[]; reps: number[] }[] = [
    // Batch-norm gradient: a channel vector over N, H, W (whole copies: the fast path).
    { shape: [1, 1, 1, 32], reps: [4, 28, 28, 1] },
    { shape: [1, 1, 1, 64], reps: [3, 14, 14, 1] },
    { shape: [1, 2, 3], reps: [5, 1, 1] },
    { shape: [2, 3], reps: [1, 1] },
    { shape: [3], reps: [7] },
    // Interleaving patterns: the backend's own kernel.
    { shape: [2, 3], reps: [2, 2] },
    { shape: [1, 3, 1], reps: [2, 1, 3] },
  ];
  for (const [k, c] of cases.entries()) {
    const name = `[${c.shape}] reps [${c.reps}]`;
    it(name, async () => {
      await compareKernel(
        "Tile",
        { x: { shape: c.shape, data: randomData(size(c.shape), 901 + k) } },
        { reps: c.reps },
        name,
      );
    });
  }
});

describe("Identity and same-dtype Cast share the buffer", () => {
  it("give the input's values, free the buffer only when the last holder is disposed", async () => {
    await tf.setBackend("wasm");
    const backend = tf.backend() as BackendWasm;
    const before = backend.numDataIds();
    const x = tf.tensor2d([1, -2, 3, 4.5], [2, 2]);
    const y = tf.engine().runKernel("Identity", { x }) as tf.Tensor;
    const z = tf.cast(x, "float32");
    expect(y.dataId).toBe(x.dataId);
    expect(z.dataId).toBe(x.dataId);
    expect(backend.numDataIds()).toBe(before + 1);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, -2, 3, 4.5]);
    y.dispose();
    expect(Array.from(await z.data())).toEqual([1, -2, 3, 4.5]);
    z.dispose();
    expect(backend.numDataIds()).toBe(before);
  });
  it("a Cast to another dtype still converts (backend's kernel)", async () => {
    await tf.setBackend("wasm");
    const x = tf.tensor1d([1.7, -2.2, 0], "float32");
    const i = tf.cast(x, "int32");
    const f = tf.cast(tf.tensor1d([3, -4], "int32"), "float32");
    expect(i.dtype).toBe("int32");
    expect(Array.from(await i.data())).toEqual([1, -2, 0]);
    expect(f.dtype).toBe("float32");
    expect(Array.from(await f.data())).toEqual([3, -4]);
    tf.dispose([x, i, f]);
  });
});

describe("unsupported attributes are rejected", () => {
  it("NCHW data format", async () => {
    await tf.setBackend("wasm");
    const x = tf.zeros([1, 2, 5, 5]);
    const dy = tf.zeros([1, 2, 5, 5]);
    expect(() =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        strides: 1,
        pad: "same",
        dataFormat: "NCHW",
        filterShape: [3, 3, 2, 2],
      } as unknown as tf.NamedAttrMap),
    ).toThrow(/NCHW.*not supported/);
    tf.dispose([x, dy]);
  });
  it("dy that does not match the convolution", async () => {
    await tf.setBackend("wasm");
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 4, 4, 2]);
    expect(() =>
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
        strides: 1,
        pad: "same",
        dataFormat: "NHWC",
        filterShape: [3, 3, 2, 2],
      } as unknown as tf.NamedAttrMap),
    ).toThrow(/does not match/);
    tf.dispose([x, dy]);
  });
});

/** A small conv net's loss as a function of its weights (same code on both backends). */
function smallNetLoss(x: tf.Tensor4D, labels: tf.Tensor2D, w: Record<string, tf.Variable>): tf.Scalar {
  const c1 = tf.relu(tf.add(tf.conv2d(x, w.k1 as tf.Tensor4D, 1, "same"), w.b1 as tf.Tensor1D));
  const p1 = tf.maxPool(c1 as tf.Tensor4D, 2, 2, "valid");
  const c2 = tf.fused.conv2d({
    x: p1,
    filter: w.k2 as tf.Tensor4D,
    strides: 2,
    pad: "valid",
    bias: w.b2 as tf.Tensor1D,
    activation: "relu",
  });
  const flat = tf.reshape(c2, [x.shape[0], -1]) as tf.Tensor2D;
  const logits = tf.fused.matMul({ a: flat, b: w.wd as tf.Tensor2D, bias: w.bd as tf.Tensor1D });
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}

const netShapes: Record<string, number[]> = {
  k1: [3, 3, 1, 6],
  b1: [6],
  k2: [3, 3, 6, 8],
  b2: [8],
  wd: [3 * 3 * 8, 10],
  bd: [10],
};

async function netGrads(backend: "cpu" | "wasm"): Promise<Record<string, Float32Array>> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const vars: Record<string, tf.Variable> = {};
    let seed = 900;
    for (const [name, shape] of Object.entries(netShapes)) {
      vars[name] = tf.variable(
        tf.mul(tf.tensor(randomData(size(shape), seed++), shape), 0.5),
        true,
        `${backend}-${name}`,
      );
    }
    const x = tf.tensor4d(randomData(4 * 14 * 14, 7), [4, 14, 14, 1]);
    const labels = tf.oneHot(tf.tensor1d([1, 3, 5, 7], "int32"), 10) as tf.Tensor2D;
    const { value, grads } = tf.variableGrads(() => smallNetLoss(x, labels, vars), Object.values(vars));
    const out: Record<string, Float32Array> = { loss: value.dataSync() as Float32Array };
    for (const [name, v] of Object.entries(vars)) out[name] = grads[v.name]?.dataSync() as Float32Array;
    for (const v of Object.values(vars)) v.dispose();
    return out;
  });
}

describe("FusedAdam matches tfjs's Adam on the CPU backend", () => {
  /** Weights after `steps` Adam updates with fixed pseudo-random gradients (varying per step). */
  async function adamRun(backend: "cpu" | "wasm", fused: boolean, steps: number): Promise<Float32Array[]> {
    await tf.setBackend(backend);
    const shapes = [[3, 3, 2, 5], [7], [37, 11]];
    const vars = shapes.map((shape, k) =>
      tf.variable(tf.tensor(randomData(size(shape), 700 + k), shape), true, `adam-${backend}-${fused}-${k}`),
    );
    const opt = fused ? fusedAdam(0.01) : tf.train.adam(0.01);
    for (let s = 0; s < steps; s++) {
      const grads = vars.map((v, k) => ({
        name: v.name,
        tensor: tf.tensor(randomData(v.size, 800 + 10 * s + k), v.shape),
      }));
      opt.applyGradients(grads);
      tf.dispose(grads.map((g) => g.tensor));
    }
    const out = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
    opt.dispose();
    tf.dispose(vars);
    return out;
  }

  it("weights after 5 steps", async () => {
    const ref = await adamRun("cpu", false, 5);
    // tfjs's own optimizer leaves a tensor per variable behind after dispose(); the fused one may leave no more.
    await tf.setBackend("wasm");
    const count = (): [number, number] => [tf.memory().numTensors, tf.engine().backend.numDataIds()];
    const c0 = count();
    await adamRun("wasm", false, 5);
    const c1 = count();
    const got = await adamRun("wasm", true, 5);
    const c2 = count();
    expect(c2[0] - c1[0], "tensors left").toBeLessThanOrEqual(c1[0] - c0[0]);
    expect(c2[1] - c1[1], "heap buffers left").toBeLessThanOrEqual(c1[1] - c0[1]);
    for (const [k, r] of ref.entries()) expectClose(got[k] ?? new Float32Array(), r, `variable ${k}`, 1e-5);
  });

  it("steps with the rate a schedule set, on both paths (rate 0 leaves the weights alone)", async () => {
    for (const backend of ["cpu", "wasm"] as const) {
      await tf.setBackend(backend);
      const v = tf.variable(tf.tensor1d([1, 2, 3]), true, `schedule-${backend}`);
      const opt = fusedAdam(0.5);
      const step = (): void => {
        const g = tf.tensor1d([1, -1, 1]);
        opt.applyGradients([{ name: v.name, tensor: g }]);
        g.dispose();
      };
      opt.setLearningRate(0);
      step();
      expect(Array.from(await v.data()), backend).toEqual([1, 2, 3]);
      opt.setLearningRate(0.25);
      step();
      // Adam's first bias-corrected step moves each weight by the rate against its gradient's sign.
      expectClose(
        (await v.data()) as Float32Array,
        Float32Array.from([0.75, 2.25, 2.75]),
        `${backend} after one step at 0.25`,
        1e-4,
      );
      opt.dispose();
      v.dispose();
    }
  });

  it("stores subnormal moments as 0 (the SIMD groups and the remainder alike), normal ones unchanged", async () => {
    await tf.setBackend("wasm");
    // 6 elements: one SIMD group of 4 and 2 for the scalar loop. m' = 0.1·g is subnormal for g = 1e-38.
    const v = tf.variable(tf.tensor1d([1, 1, 1, 1, 1, 1]), true, "flush");
    const opt = fusedAdam(0.01);
    const g = tf.tensor1d([1e-38, 0.5, -1e-38, 1e-38, 0.5, -1e-38]);
    opt.applyGradients([{ name: v.name, tensor: g }]);
    const weights = await opt.getWeights();
    const m = weights.find((w) => w.name === "flush/m");
    expect(m, "first moment").toBeDefined();
    expect(Array.from((await m?.tensor.data()) ?? [])).toEqual([0, Math.fround(0.05), 0, 0, Math.fround(0.05), 0]);
    g.dispose();
    opt.dispose();
    v.dispose();
  });

  it("on the CPU backend it is the stock optimizer", async () => {
    const ref = await adamRun("cpu", false, 3);
    const got = await adamRun("cpu", true, 3);
    for (const [k, r] of ref.entries()) expect(got[k]).toEqual(r);
  });
});

describe("end to end", () => {
  it("gradients of a small conv net match between the wasm (fast kernels) and CPU backends", async () => {
    const ref = await netGrads("cpu");
    const got = await netGrads("wasm");
    for (const name of Object.keys(ref)) {
      expect(got[name], name).toBeDefined();
      expectClose(got[name] ?? new Float32Array(), ref[name] ?? new Float32Array(), `grad ${name}`);
    }
  });

  it("repeated training steps leak no tensors and no wasm heap buffers", async () => {
    await tf.setBackend("wasm");
    const vars: Record<string, tf.Variable> = {};
    let seed = 1000;
    for (const [name, shape] of Object.entries(netShapes)) {
      vars[name] = tf.variable(tf.mul(tf.tensor(randomData(size(shape), seed++), shape), 0.5), true, `leak-${name}`);
    }
    const x = tf.tensor4d(randomData(8 * 14 * 14, 8), [8, 14, 14, 1]);
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], "int32"), 10) as tf.Tensor2D;
    const opt = fusedAdam(1e-2);
    const step = (): number => {
      const loss = opt.minimize(() => smallNetLoss(x, labels, vars), true, Object.values(vars));
      const v = loss?.dataSync()[0] ?? NaN;
      loss?.dispose();
      return v;
    };
    const first = step(); // creates the optimizer's slots
    const tensors = tf.memory().numTensors;
    const dataIds = tf.engine().backend.numDataIds();
    let last = first;
    for (let i = 0; i < 15; i++) last = step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(dataIds);
    expect(last).toBeLessThan(first); // and it actually trains
    opt.dispose();
    tf.dispose([x, labels, ...Object.values(vars)]);
  });
});
