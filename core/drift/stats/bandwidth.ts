/**
 * Median heuristic for the Gaussian kernel width: σ = √(median squared pairwise distance) over the pooled sample.
 * Above `maxPairs` pairs the median is taken over that many seeded random pairs of distinct points: the median of
 * 50,000 i.i.d. pairs is within a fraction of a percent of the full one, while all pairs of 10,000 points would be
 * 5·10⁷ distances. The pairs are chosen without looking at which sample a point came from, so under "same
 * distribution" the width carries no information about the split and the permutation test stays valid.
 */
export const DEFAULT_BANDWIDTH_PAIRS = 50_000;

export interface Bandwidth {
  bandwidth: number;
  /** Pairwise distances the median was taken over. */
  pairs: number;
}

/** `points` is row-major, `count` rows of `dim` values. */
export function sampledMedianBandwidth(
  points: Float64Array,
  count: number,
  dim: number,
  random: () => number,
  maxPairs = DEFAULT_BANDWIDTH_PAIRS,
): Bandwidth {
  const all = (count * (count - 1)) / 2;
  if (all <= maxPairs) {
    const d = new Float64Array(all);
    let t = 0;
    for (let i = 0; i < count; i++) for (let j = i + 1; j < count; j++) d[t++] = squaredDistance(points, i, j, dim);
    return { bandwidth: Math.sqrt(median(d)), pairs: all };
  }
  const d = new Float64Array(maxPairs);
  for (let t = 0; t < maxPairs; t++) {
    const i = Math.floor(random() * count);
    // A uniform j ≠ i: draw from count − 1 slots and skip i.
    let j = Math.floor(random() * (count - 1));
    if (j >= i) j++;
    d[t] = squaredDistance(points, i, j, dim);
  }
  return { bandwidth: Math.sqrt(median(d)), pairs: maxPairs };
}

export function squaredDistance(points: Float64Array, i: number, j: number, dim: number): number {
  const a = i * dim;
  const b = j * dim;
  let s = 0;
  for (let k = 0; k < dim; k++) {
    const diff = points[a + k]! - points[b + k]!;
    s += diff * diff;
  }
  return s;
}

/**
 * Median (mean of the two middle values for an even count) by quickselect: O(n) instead of a 2·10⁶-value sort on
 * the exact path. Reorders `values`.
 */
export function median(values: Float64Array): number {
  const n = values.length;
  if (n === 0) throw new RangeError("median of no values");
  const hi = select(values, n >>> 1);
  if (n % 2) return hi;
  // After selecting the upper middle, everything left of it is ≤ it: the lower middle is their maximum.
  let lo = -Infinity;
  for (let i = 0; i < n >>> 1; i++) if (values[i]! > lo) lo = values[i]!;
  return (lo + hi) / 2;
}

/** k-th smallest (0-based), Hoare partitioning around a median of three; leaves smaller values left of k. */
function select(a: Float64Array, k: number): number {
  let left = 0;
  let right = a.length - 1;
  while (right > left) {
    const mid = (left + right) >>> 1;
    const pivot = medianOfThree(a[left]!, a[mid]!, a[right]!);
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else break;
  }
  return a[k]!;
}

function medianOfThree(a: number, b: number, c: number): number {
  return a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
}
