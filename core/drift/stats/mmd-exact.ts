import { median } from "./bandwidth.ts";
import { multiplyTransposed } from "./matmul.ts";
import { shuffle } from "../../util/random.ts";

export interface KernelTest {
  statistic: number;
  pValue: number;
  bandwidth: number;
  bandwidthPairs: number | null;
}

/**
 * The exact test: the pooled N×N Gaussian kernel matrix (N = n + m) computed once, the unbiased MMD² of every
 * permuted split read off it. O(N²) memory and O(N²·(d + permutations)) time, hence only for small samples.
 * `points` is row-major: the n rows of the first sample, then the m rows of the second.
 */
export function exactMmdTest(
  points: Float64Array,
  n: number,
  m: number,
  dim: number,
  permutations: number,
  random: () => number,
  sigma?: number,
): KernelTest {
  const N = n + m;
  // Squared distances as ‖a‖² + ‖b‖² − 2a·b from one blocked product (the caller centred the points, which keeps
  // the cancellation small); clamped at 0, where rounding can leave a tiny negative for (near-)identical points.
  const K = multiplyTransposed(points, N, points, N, dim, true);
  const norms = Float64Array.from({ length: N }, (_, i) => K[i * N + i]!);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) K[i * N + j] = i === j ? 0 : Math.max(0, norms[i]! + norms[j]! - 2 * K[i * N + j]!);
  }
  let bandwidth = sigma;
  let bandwidthPairs: number | null = null;
  if (bandwidth === undefined) {
    const d = new Float64Array((N * (N - 1)) / 2);
    let t = 0;
    for (let i = 0; i < N; i++) for (let j = i + 1; j < N; j++) d[t++] = K[i * N + j]!;
    bandwidth = Math.sqrt(median(d));
    bandwidthPairs = d.length;
  }
  // Identical points everywhere give a zero median: any positive width then yields the same (zero) MMD.
  const gamma = 1 / (2 * (bandwidth > 0 ? bandwidth ** 2 : 1));
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) K[i * N + j] = i === j ? 0 : Math.exp(-K[i * N + j]! * gamma);
  }
  const split = new KernelSplit(K, N, n, m);
  const order = Int32Array.from({ length: N }, (_, i) => i);
  const statistic = split.mmd2(order);
  let atLeast = 0;
  for (let p = 0; p < permutations; p++) {
    shuffle(order, random);
    if (split.mmd2(order) >= statistic) atLeast++;
  }
  return { statistic, pValue: (1 + atLeast) / (1 + permutations), bandwidth, bandwidthPairs };
}

/**
 * Unbiased MMD² of a split of the pooled sample, from the kernel matrix with a zeroed diagonal. Only the smaller
 * side's block sum AA = Σ_{i,j∈A} K_ij is computed (|A|·N multiply-adds, branch-free over 0/1 weights: a random
 * split defeats the branch predictor); with the column sums c and the total T, the cross sum is AB = Σ_{i∈A} c_i − AA
 * and the other block BB = T − AA − 2·AB.
 */
class KernelSplit {
  private readonly K: Float64Array;
  private readonly N: number;
  private readonly n: number;
  private readonly m: number;
  private readonly columnSums: Float64Array;
  private readonly total: number;
  private readonly inA: Float64Array;

  constructor(K: Float64Array, N: number, n: number, m: number) {
    this.K = K;
    this.N = N;
    this.n = n;
    this.m = m;
    this.columnSums = new Float64Array(N);
    let total = 0;
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let j = 0; j < N; j++) s += K[i * N + j]!;
      this.columnSums[i] = s; // K is symmetric: row sums are column sums
      total += s;
    }
    this.total = total;
    this.inA = new Float64Array(N);
  }

  /** The first n entries of `order` form the first sample, the rest the second. */
  mmd2(order: Int32Array): number {
    const { K, N, n, m, inA } = this;
    const aIsFirst = n <= m;
    const from = aIsFirst ? 0 : n;
    const to = aIsFirst ? n : N;
    inA.fill(0);
    for (let t = from; t < to; t++) inA[order[t]!] = 1;
    let aa = 0;
    let aRowSums = 0;
    for (let t = from; t < to; t++) {
      const i = order[t]!;
      const row = i * N;
      let s = 0;
      for (let j = 0; j < N; j++) s += K[row + j]! * inA[j]!;
      aa += s;
      aRowSums += this.columnSums[i]!;
    }
    const ab = aRowSums - aa;
    const bb = this.total - aa - 2 * ab;
    const [xx, yy] = aIsFirst ? [aa, bb] : [bb, aa];
    return xx / (n * (n - 1)) + yy / (m * (m - 1)) - (2 * ab) / (n * m);
  }
}
