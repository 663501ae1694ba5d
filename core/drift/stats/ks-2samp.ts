import { kolmogornSf } from "./kolmogorov-distribution.ts";
import { ascending, upperBound } from "./sorted.ts";

export interface KsResult {
  statistic: number;
  pValue: number;
  method: "exact" | "asymptotic";
}

/** SciPy's `ks_2samp(method="auto")` computes the exact p-value when both samples have at most this many values. */
export const KS_MAX_EXACT_N = 10_000;

/**
 * Two-sample, two-sided Kolmogorov–Smirnov test, matching SciPy 1.10's `ks_2samp(a, b, method="auto")`:
 * exact p-value (lattice-path counting) when max(n1, n2) ≤ 10,000 and the computation stays finite,
 * otherwise the distribution of D_en with en = round(n1·n2/(n1+n2)).
 */
export function ks2samp(a: readonly number[], b: readonly number[]): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new RangeError("ks2samp: both samples must be non-empty");
  const x = ascending(a);
  const y = ascending(b);
  // Largest gap between the two empirical CDFs, evaluated at every observed value (ties handled by upper bounds).
  let maxS = -Infinity;
  let minS = Infinity;
  for (const values of [x, y]) {
    for (const v of values) {
      const diff = upperBound(x, v) / n1 - upperBound(y, v) / n2;
      if (diff > maxS) maxS = diff;
      if (diff < minS) minS = diff;
    }
  }
  const d0 = Math.max(maxS, Math.min(1, Math.max(0, -minS)));
  let d = d0;
  if (Math.max(n1, n2) <= KS_MAX_EXACT_N) {
    const exact = exactTwoSided(n1, n2, d0);
    if (!Number.isNaN(exact.pValue)) return { ...exact, method: "exact" };
    d = exact.statistic; // SciPy keeps the lattice-snapped statistic when it falls back
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  return { statistic: d, pValue: clip(kolmogornSf(roundHalfEven(en), d)), method: "asymptotic" };
}

/** The exact p-value, or NaN when the path count overflows (then the caller falls back like SciPy). */
function exactTwoSided(n1: number, n2: number, d: number): { statistic: number; pValue: number } {
  const g = gcd(n1, n2);
  const lcm = (n1 / g) * n2;
  // SciPy snaps d to the lattice k/lcm before counting paths and reports the snapped value.
  const h = roundHalfEven(d * lcm);
  const statistic = h / lcm;
  if (h === 0) return { statistic, pValue: 1 };
  const p = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInside(n1, n2, g, h);
  if (!Number.isFinite(p) || p < 0 || p > 1) return { statistic, pValue: Number.NaN };
  return { statistic, pValue: p };
}

/** P(D_{n,n} >= h/n) by a Horner-like alternating sum (SciPy `_compute_prob_outside_square`). */
function probOutsideSquare(n: number, h: number): number {
  let P = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    P = p1 * (1 - P);
  }
  return 2 * P;
}

/**
 * Proportion of lattice paths from (0,0) to (m,n) that leave the band |x/m - y/n| < h/lcm(m,n), computed
 * directly as 1 - p (Viehmann 2021) to avoid cancellation; SciPy `_compute_outer_prob_inside_method`.
 */
function outerProbInside(m0: number, n0: number, g: number, h: number): number {
  const [m, n] = m0 >= n0 ? [m0, n0] : [n0, m0];
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  A.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) A.fill(1, maxj - minj, maxj - minj + (lastlen - curlen));
  }
  return A[maxj - minj - 1]!;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** numpy's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const clip = (p: number): number => Math.min(1, Math.max(0, p));
