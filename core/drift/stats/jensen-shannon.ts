import { ascending, quantileSorted } from "./sorted.ts";

/**
 * Jensen–Shannon distance between two discrete distributions (each normalised to sum 1), SciPy's
 * `jensenshannon(p, q, base)`. We default to base 2, which bounds the distance by 1; pass `Math.E` for nats.
 */
export function jensenShannonDistance(p: readonly number[], q: readonly number[], base = 2): number {
  if (p.length !== q.length || p.length === 0)
    throw new RangeError("jensenShannonDistance: p and q must have the same non-zero length");
  const ps = p.reduce((s, v) => s + v, 0);
  const qs = q.reduce((s, v) => s + v, 0);
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / ps;
    const qi = q[i]! / qs;
    const mi = (pi + qi) / 2;
    js += relEntr(pi, mi) + relEntr(qi, mi);
  }
  js /= Math.log(base);
  return Math.sqrt(Math.max(0, js / 2));
}

/** SciPy `rel_entr`: x·log(x/y), with 0·log(0/y) = 0. */
function relEntr(x: number, y: number): number {
  if (x === 0) return 0;
  if (y === 0) return Infinity;
  return x * Math.log(x / y);
}

/**
 * Jensen–Shannon distance between two numeric samples binned on shared edges (the reference's deciles by default),
 * for features Evidently would treat as categorical-like; the binning is the same as PSI's.
 */
export function jensenShannonSamples(
  reference: readonly number[],
  current: readonly number[],
  bins = 10,
  base = 2,
): number {
  const edges = quantileEdges(reference, bins);
  return jensenShannonDistance(histogram(reference, edges), histogram(current, edges), base);
}

/**
 * Interior bin edges at the reference's quantiles 1/bins … (bins−1)/bins, duplicates removed (ties can
 * collapse bins); the outer bins are open, so values outside the reference's range still land somewhere.
 */
export function quantileEdges(reference: readonly number[], bins: number): number[] {
  if (reference.length === 0) throw new RangeError("quantileEdges: empty reference");
  const sorted = ascending(reference);
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) {
    const e = quantileSorted(sorted, i / bins);
    if (edges.length === 0 || e > edges[edges.length - 1]!) edges.push(e);
  }
  return edges;
}

/** Counts per bin: bin i holds values in (edges[i-1], edges[i]]; the first and last bins are open-ended. */
export function histogram(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of values) {
    // First edge ≥ v: a value equal to an edge goes to the bin below it.
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (edges[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    counts[lo]! += 1;
  }
  return counts;
}
