import { multiplyTransposed } from "./matmul.ts";
import { shuffle } from "../../util/random.ts";

/**
 * Random Fourier features of the Gaussian kernel k(a, b) = exp(−‖a − b‖² / (2σ²)) (Rahimi & Recht 2007), in the
 * cos/sin form, which has the lower variance of the two (Sutherland & Schneider 2015):
 *   φ(x) = F^(−1/2) · [cos ω_j·x, sin ω_j·x]_{j < F},  ω_j ~ N(0, σ⁻² I),
 * so φ(a)·φ(b) = F⁻¹ Σ_j cos ω_j·(a − b) is an unbiased estimate of k(a, b), and φ(a)·φ(a) = 1 = k(a, a) exactly.
 * Returns N rows of 2F values, row-major; float32 halves the memory (10,000 rows × 512 features = 20 MB) and the bytes
 * each permutation streams, and a rounding of the features is just a slightly different (fixed) feature map.
 */
export function randomFourierFeatures(
  points: Float64Array,
  count: number,
  dim: number,
  sigma: number,
  frequencies: number,
  random: () => number,
): Float32Array {
  const W = new Float64Array(frequencies * dim);
  for (let i = 0; i < W.length; i += 2) {
    // Box–Muller: two independent standard normals per pair of uniforms.
    const r = Math.sqrt(-2 * Math.log(1 - random())) / sigma;
    const t = 2 * Math.PI * random();
    W[i] = r * Math.cos(t);
    if (i + 1 < W.length) W[i + 1] = r * Math.sin(t);
  }
  const D = 2 * frequencies;
  const phi = new Float32Array(count * D);
  const scale = 1 / Math.sqrt(frequencies);
  const projections = multiplyTransposed(points, count, W, frequencies, dim);
  for (let i = 0; i < count; i++) {
    for (let f = 0; f < frequencies; f++) {
      const p = projections[i * frequencies + f]!;
      phi[i * D + f] = scale * Math.cos(p);
      phi[i * D + frequencies + f] = scale * Math.sin(p);
    }
  }
  return phi;
}

/**
 * Permutation test on the features: the unbiased MMD² of the feature kernel is
 *   (‖S_X‖² − n) / (n(n−1)) + (‖S_Y‖² − m) / (m(m−1)) − 2 S_X·S_Y / (nm),
 * with S_X, S_Y the feature sums of the two samples (the subtracted n and m are the diagonal, k(x, x) = 1). A
 * permuted split only needs the feature sum of its smaller side (S_Y = S − S_X): O(min(n, m)·D) per permutation.
 * `phi` holds the n rows of the first sample, then the m rows of the second.
 */
export function rffPermutationTest(
  phi: Float32Array,
  n: number,
  m: number,
  D: number,
  permutations: number,
  random: () => number,
): { statistic: number; pValue: number } {
  const N = n + m;
  const total = new Float64Array(D);
  for (let i = 0; i < N; i++) {
    const row = i * D;
    for (let k = 0; k < D; k++) total[k]! += phi[row + k]!;
  }
  const aIsFirst = n <= m;
  const a = aIsFirst ? n : m;
  const from = aIsFirst ? 0 : n;
  const sumA = new Float64Array(D);
  const order = Int32Array.from({ length: N }, (_, i) => i);

  const mmd2 = (): number => {
    sumA.fill(0);
    const to = from + a;
    let t = from;
    // Four rows per pass over the accumulator: about twice the speed of one in V8 (fewer loads and stores of sumA).
    for (; t + 3 < to; t += 4) {
      const r0 = order[t]! * D;
      const r1 = order[t + 1]! * D;
      const r2 = order[t + 2]! * D;
      const r3 = order[t + 3]! * D;
      for (let k = 0; k < D; k++) sumA[k]! += phi[r0 + k]! + phi[r1 + k]! + phi[r2 + k]! + phi[r3 + k]!;
    }
    for (; t < to; t++) {
      const row = order[t]! * D;
      for (let k = 0; k < D; k++) sumA[k]! += phi[row + k]!;
    }
    let aa = 0;
    let bb = 0;
    let ab = 0;
    for (let k = 0; k < D; k++) {
      const sa = sumA[k]!;
      const sb = total[k]! - sa;
      aa += sa * sa;
      bb += sb * sb;
      ab += sa * sb;
    }
    aa -= a;
    bb -= N - a;
    const [xx, yy] = aIsFirst ? [aa, bb] : [bb, aa];
    return xx / (n * (n - 1)) + yy / (m * (m - 1)) - (2 * ab) / (n * m);
  };

  const statistic = mmd2();
  let atLeast = 0;
  for (let p = 0; p < permutations; p++) {
    shuffle(order, random);
    if (mmd2() >= statistic) atLeast++;
  }
  return { statistic, pValue: (1 + atLeast) / (1 + permutations) };
}
