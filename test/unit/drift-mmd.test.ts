import { describe, expect, it } from "vitest";
import { median, sampledMedianBandwidth } from "../../core/drift/stats/bandwidth.ts";
import { multiplyTransposed } from "../../core/drift/stats/matmul.ts";
import { mmdTest, type MmdOptions } from "../../core/drift/stats/mmd.ts";
import { seededRandom } from "../../core/util/random.ts";

/** n standard normal vectors, each coordinate passed through `f(z, k)` (k = coordinate index). */
function vectors(n: number, dim: number, seed: number, f: (z: number, k: number) => number = (z) => z): number[][] {
  const random = seededRandom(seed);
  const gaussian = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Array.from({ length: n }, () => Array.from({ length: dim }, (_, k) => f(gaussian(), k)));
}
const shiftFirst = (by: number) => (z: number, k: number) => z + (k === 0 ? by : 0);

describe("MMD: calibration under the null", () => {
  // Under "same distribution" a valid test's p-value is uniform: over 40 independent pairs of samples about 2 fall
  // below 0.05 (≤ 6 allowed) and about half below 0.5.
  const calibration = (
    options: MmdOptions,
    n: number,
    dim: number,
  ): { below05: number; below50: number; methods: Set<string> } => {
    let below05 = 0;
    let below50 = 0;
    const methods = new Set<string>();
    for (let s = 0; s < 40; s++) {
      const r = mmdTest(vectors(n, dim, 1000 + s), vectors(n, dim, 2000 + s), {
        permutations: 100,
        seed: s,
        ...options,
      });
      methods.add(r.method);
      if (r.pValue < 0.05) below05++;
      if (r.pValue < 0.5) below50++;
    }
    return { below05, below50, methods };
  };

  it("exact test: p < 0.05 in at most 15 % of 40 same-distribution pairs", () => {
    const r = calibration({}, 60, 8);
    expect(r.methods).toEqual(new Set(["exact"]));
    expect(r.below05).toBeLessThanOrEqual(6);
    expect(r.below50).toBeGreaterThanOrEqual(12);
    expect(r.below50).toBeLessThanOrEqual(28);
  });

  it("random-feature test (chosen by auto above exactMaxSize): p < 0.05 in at most 15 % of 40 pairs", () => {
    const r = calibration({ exactMaxSize: 100 }, 300, 16);
    expect(r.methods).toEqual(new Set(["rff"]));
    expect(r.below05).toBeLessThanOrEqual(6);
    expect(r.below50).toBeGreaterThanOrEqual(12);
    expect(r.below50).toBeLessThanOrEqual(28);
  });
});

describe("MMD: power and agreement", () => {
  it("detects a 0.3σ mean shift along one axis of 64-d embeddings, 5,000 vs 5,000, and not its absence", () => {
    const reference = vectors(5000, 64, 1);
    const shifted = mmdTest(reference, vectors(5000, 64, 2, shiftFirst(0.3)), { permutations: 100, seed: 1 });
    expect(shifted).toMatchObject({ method: "rff", features: 512, permutations: 100, bandwidthPairs: 50_000 });
    expect(shifted.pValue).toBeLessThan(0.05);
    const same = mmdTest(reference, vectors(5000, 64, 3), { permutations: 100, seed: 1 });
    expect(same.pValue).toBeGreaterThan(0.05);
    // Population MMD² of this shift with σ² ≈ 128 (the median heuristic in 64-d): 2·(σ²/(σ²+2))^32·(1 − e^(−0.09/(2(σ²+2)))) ≈ 4.2e-4.
    expect(shifted.statistic).toBeGreaterThan(2.5e-4);
    expect(shifted.statistic).toBeLessThan(6e-4);
    expect(Math.abs(same.statistic)).toBeLessThan(1e-4);
    // The median heuristic on sampled pairs: ‖a − b‖² ~ 2·χ²₆₄, whose median is ≈ 2 · 63.3.
    expect(shifted.bandwidth).toBeCloseTo(Math.sqrt(2 * 63.3), 0);
  });

  it("random features reach the exact test's verdict, and a close statistic, on moderate samples", () => {
    for (let s = 0; s < 5; s++) {
      for (const [name, f] of [
        ["same", undefined],
        ["shift", shiftFirst(0.4)],
        ["scale", (z: number) => 1.25 * z],
      ] as const) {
        const x = vectors(400, 16, 100 + s);
        const y = vectors(400, 16, 200 + s, f);
        const exact = mmdTest(x, y, { method: "exact", seed: s });
        const rff = mmdTest(x, y, { method: "rff", seed: s });
        expect(exact.method).toBe("exact");
        expect(rff.method).toBe("rff");
        const label = `${name}, seed ${s}: exact p ${exact.pValue}, rff p ${rff.pValue}`;
        expect(rff.pValue < 0.05, label).toBe(exact.pValue < 0.05);
        if (name !== "same") expect(exact.pValue, label).toBeLessThan(0.05);
        // The null spread of MMD² here is ~4e-4; the approximation error is about that plus a share of the signal.
        expect(
          Math.abs(rff.statistic - exact.statistic),
          `${label}: MMD² ${exact.statistic} vs ${rff.statistic}`,
        ).toBeLessThan(6e-4 + 0.2 * Math.abs(exact.statistic));
        expect(rff.bandwidth / exact.bandwidth).toBeCloseTo(1, 1);
      }
    }
  });
});

describe("MMD: reproducibility and options", () => {
  it("gives identical results for a seed, on both paths", () => {
    const x = vectors(500, 8, 5);
    const y = vectors(500, 8, 6, shiftFirst(0.1));
    for (const method of ["exact", "rff"] as const) {
      const a = mmdTest(x, y, { method, seed: 42 });
      expect(mmdTest(x, y, { method, seed: 42 })).toEqual(a);
      const b = mmdTest(x, y, { method, seed: 43 });
      // Another seed draws other permutations; for "rff" also other features, hence another statistic.
      if (method === "exact") expect(b.statistic).toBe(a.statistic);
      else expect(b.statistic).not.toBe(a.statistic);
    }
  });

  it("reports the method, its size and the bandwidth's source", () => {
    const x = vectors(30, 4, 7);
    const y = vectors(40, 4, 8);
    expect(mmdTest(x, y, { permutations: 10 })).toMatchObject({
      method: "exact",
      features: null,
      bandwidthPairs: (70 * 69) / 2,
      permutations: 10,
    });
    expect(mmdTest(x, y, { permutations: 10, method: "rff", features: 64 })).toMatchObject({
      method: "rff",
      features: 64,
      bandwidthPairs: (70 * 69) / 2,
    });
    expect(mmdTest(x, y, { permutations: 10, method: "rff", bandwidth: 2 })).toMatchObject({
      bandwidth: 2,
      bandwidthPairs: null,
      features: 512,
    });
  });

  it("does not depend on where the embeddings sit (no cancellation far from the origin)", () => {
    const x = vectors(80, 6, 9);
    const y = vectors(90, 6, 10, shiftFirst(0.5));
    const far = (v: number[][]): number[][] => v.map((row) => row.map((z) => z + 1e4));
    for (const method of ["exact", "rff"] as const) {
      const near = mmdTest(x, y, { method, seed: 3 });
      const away = mmdTest(far(x), far(y), { method, seed: 3 });
      expect(Math.abs(away.statistic - near.statistic)).toBeLessThan(1e-6);
      expect(away.bandwidth).toBeCloseTo(near.bandwidth, 6);
    }
  });

  it("refuses bad options and inputs", () => {
    const x = vectors(10, 3, 11);
    expect(() => mmdTest(x, x, { features: 7 })).toThrow();
    expect(() => mmdTest(x, x, { permutations: -1 })).toThrow();
    expect(() => mmdTest(x, x, { kernel: "laplace" } as never)).toThrow();
    expect(() => mmdTest(x, [[1, 2, 3]])).toThrow(/at least 2/);
    expect(() =>
      mmdTest(x, [
        [1, 2, 3],
        [1, 2],
      ]),
    ).toThrow(/same length/);
    expect(() =>
      mmdTest(x, [
        [1, 2, 3],
        [1, Number.NaN, 3],
      ]),
    ).toThrow(/finite/);
  });
});

describe("MMD building blocks", () => {
  it("median by quickselect equals the sorted median, odd and even counts, with ties", () => {
    const random = seededRandom(12);
    for (const n of [1, 2, 3, 10, 11, 1000, 1001]) {
      for (const ties of [false, true]) {
        const values = Float64Array.from({ length: n }, () => (ties ? Math.floor(random() * 5) : random()));
        const sorted = [...values].sort((a, b) => a - b);
        const expected = n % 2 ? sorted[n >> 1]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
        expect(median(values)).toBe(expected);
      }
    }
  });

  it("blocked A·Bᵀ equals plain dot products, including the edge rows and columns, and mirrors exactly", () => {
    const random = seededRandom(13);
    for (const [rows, cols, dim] of [
      [7, 9, 5],
      [8, 8, 3],
      [1, 5, 2],
      [5, 5, 1],
    ] as const) {
      const A = Float64Array.from({ length: rows * dim }, () => random() - 0.5);
      const B = Float64Array.from({ length: cols * dim }, () => random() - 0.5);
      const product = multiplyTransposed(A, rows, B, cols, dim);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) {
          let s = 0;
          for (let k = 0; k < dim; k++) s += A[i * dim + k]! * B[j * dim + k]!;
          expect(product[i * cols + j]).toBeCloseTo(s, 12);
        }
      }
      if (rows === cols) {
        const gram = multiplyTransposed(A, rows, A, rows, dim, true);
        expect(gram).toEqual(multiplyTransposed(A, rows, A, rows, dim));
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < rows; j++) expect(gram[i * rows + j]).toBe(gram[j * rows + i]);
      }
    }
  });

  it("the sampled median heuristic is close to the all-pairs one", () => {
    const points = Float64Array.from(vectors(2000, 16, 14).flat());
    const all = sampledMedianBandwidth(points, 2000, 16, seededRandom(1), Infinity);
    const sampled = sampledMedianBandwidth(points, 2000, 16, seededRandom(1));
    expect(all.pairs).toBe((2000 * 1999) / 2);
    expect(sampled.pairs).toBe(50_000);
    expect(sampled.bandwidth / all.bandwidth).toBeCloseTo(1, 2);
  });
});
