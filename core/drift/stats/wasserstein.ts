import { ascending, std, upperBound } from "./sorted.ts";

/**
 * First Wasserstein (earth mover's) distance between two 1-D samples with equal weights, SciPy's
 * `wasserstein_distance(u, v)`: the integral of |F_u − F_v| over the merged sorted values.
 */
export function wassersteinDistance(u: readonly number[], v: readonly number[]): number {
  if (u.length === 0 || v.length === 0) throw new RangeError("wassersteinDistance: both samples must be non-empty");
  const us = ascending(u);
  const vs = ascending(v);
  const all = new Float64Array(us.length + vs.length);
  all.set(us);
  all.set(vs, us.length);
  all.sort();
  let total = 0;
  for (let i = 0; i < all.length - 1; i++) {
    const delta = all[i + 1]! - all[i]!;
    if (delta === 0) continue;
    const fu = upperBound(us, all[i]!) / us.length;
    const fv = upperBound(vs, all[i]!) / vs.length;
    total += Math.abs(fu - fv) * delta;
  }
  return total;
}

/**
 * Wasserstein-1 divided by the reference's (population) standard deviation, as Evidently's
 * `wasserstein` drift method does, so one threshold (0.1 = a tenth of a standard deviation) fits every scale.
 * A constant reference has no scale: then any distance at all counts as infinitely large, none as 0.
 */
export function normalisedWasserstein(reference: readonly number[], current: readonly number[]): number {
  const distance = wassersteinDistance(reference, current);
  const sd = std(reference);
  if (sd > 0) return distance / sd;
  return distance === 0 ? 0 : Infinity;
}
