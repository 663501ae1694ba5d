import { seededRandom, shuffle } from "./random.ts";

export interface MmdOptions {
  /** Permutations for the p-value; more give a finer p-value at O(permutations · N²) cost. */
  permutations?: number;
  /** Seed of the permutation PRNG: the same inputs and seed give the same p-value. */
  seed?: number;
  /** Gaussian kernel width σ; by default the median heuristic: √(median squared pairwise distance), pooled sample. */
  bandwidth?: number;
}

export interface MmdResult {
  /** Unbiased estimate of MMD² (can be slightly negative when the samples agree). */
  statistic: number;
  /** (1 + #permutations with MMD² ≥ observed) / (1 + permutations): never 0, valid for any number of permutations. */
  pValue: number;
  bandwidth: number;
  permutations: number;
}

/**
 * Maximum mean discrepancy between two samples of vectors (e.g. embeddings) with the Gaussian kernel
 * k(a, b) = exp(−‖a − b‖² / (2σ²)), and a permutation test of "same distribution" (as Alibi Detect's MMDDrift).
 * The pooled kernel matrix is computed once (N² doubles for N = n + m): subsample large windows before calling.
 */
export function mmdTest(x: readonly (readonly number[])[], y: readonly (readonly number[])[], options: MmdOptions = {}): MmdResult {
  const n = x.length;
  const m = y.length;
  if (n < 2 || m < 2) throw new RangeError("mmdTest: each sample needs at least 2 vectors");
  const dim = x[0]!.length;
  const pooled = [...x, ...y];
  if (pooled.some((v) => v.length !== dim)) throw new RangeError("mmdTest: all vectors must have the same length");
  const N = n + m;
  const sq = new Float64Array(N * N);
  for (let i = 0; i < N; i++) {
    const a = pooled[i]!;
    for (let j = i + 1; j < N; j++) {
      const b = pooled[j]!;
      let s = 0;
      for (let k = 0; k < dim; k++) s += (a[k]! - b[k]!) ** 2;
      sq[i * N + j] = sq[j * N + i] = s;
    }
  }
  const bandwidth = options.bandwidth ?? medianPairwiseDistance(sq, N);
  // Identical points everywhere give a zero median: any positive width then yields the same (zero) MMD.
  const sigma2 = bandwidth > 0 ? bandwidth ** 2 : 1;
  const K = sq; // reuse the buffer: the squared distances are not needed any more
  for (let i = 0; i < K.length; i++) K[i] = Math.exp(-K[i]! / (2 * sigma2));

  const inX = new Uint8Array(N);
  for (let i = 0; i < n; i++) inX[i] = 1;
  const statistic = mmd2(K, N, inX, n, m);
  const permutations = options.permutations ?? 100;
  const random = seededRandom(options.seed ?? 0);
  const order = Int32Array.from({ length: N }, (_, i) => i);
  let atLeast = 0;
  for (let p = 0; p < permutations; p++) {
    shuffle(order, random);
    inX.fill(0);
    for (let i = 0; i < n; i++) inX[order[i]!] = 1;
    if (mmd2(K, N, inX, n, m) >= statistic) atLeast++;
  }
  return { statistic, pValue: (1 + atLeast) / (1 + permutations), bandwidth, permutations };
}

/** Unbiased MMD² for the split given by `inX` (1 = first sample), from the pooled kernel matrix. */
function mmd2(K: Float64Array, N: number, inX: Uint8Array, n: number, m: number): number {
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let i = 0; i < N; i++) {
    const row = i * N;
    const xi = inX[i];
    for (let j = i + 1; j < N; j++) {
      const k = K[row + j]!;
      if (xi !== inX[j]) xy += k;
      else if (xi) xx += k;
      else yy += k;
    }
  }
  // Off-diagonal sums cover i < j only, hence the factors of 2 against n(n−1) ordered pairs.
  return (2 * xx) / (n * (n - 1)) + (2 * yy) / (m * (m - 1)) - (2 * xy) / (n * m);
}

function medianPairwiseDistance(sq: Float64Array, N: number): number {
  const d = new Float64Array((N * (N - 1)) / 2);
  let t = 0;
  for (let i = 0; i < N; i++) for (let j = i + 1; j < N; j++) d[t++] = sq[i * N + j]!;
  d.sort();
  const mid = d.length >>> 1;
  const medianSq = d.length % 2 ? d[mid]! : (d[mid - 1]! + d[mid]!) / 2;
  return Math.sqrt(medianSq);
}
