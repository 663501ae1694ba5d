import { chi2Sf } from "./gamma.ts";

export interface Chi2Result {
  statistic: number;
  pValue: number;
  dof: number;
  /** Whether Yates' continuity correction was applied (only when dof = 1, as SciPy does). */
  corrected: boolean;
}

/**
 * Chi-squared test of independence on a contingency table, matching SciPy's `chi2_contingency(observed)`
 * with its default `correction=True`: expected counts from the margins, dof = Π(shape) − Σ(shape) + ndim − 1,
 * Yates' correction (each |observed − expected| reduced by at most 0.5) when dof = 1, and statistic 0 / p 1
 * when dof = 0. Like SciPy it refuses tables whose expected counts contain a zero.
 */
export function chi2Contingency(observed: readonly (readonly number[])[]): Chi2Result {
  const rows = observed.length;
  const cols = observed[0]?.length ?? 0;
  if (rows === 0 || cols === 0 || observed.some((r) => r.length !== cols))
    throw new RangeError("chi2Contingency: the table must be a non-empty rectangle");
  if (observed.some((r) => r.some((v) => !(v >= 0) || !Number.isFinite(v))))
    throw new RangeError("chi2Contingency: counts must be finite and non-negative");
  const rowSums = observed.map((r) => r.reduce((s, v) => s + v, 0));
  const colSums = Array.from({ length: cols }, (_, j) => observed.reduce((s, r) => s + r[j]!, 0));
  const total = rowSums.reduce((s, v) => s + v, 0);
  const expected = rowSums.map((rs) => colSums.map((cs) => (rs * cs) / total));
  if (expected.some((r) => r.some((v) => v === 0)))
    throw new RangeError("chi2Contingency: a row or column sums to zero, so an expected count is zero");
  const dof = rows * cols - rows - cols + 1;
  if (dof === 0) return { statistic: 0, pValue: 1, dof, corrected: false };
  const corrected = dof === 1;
  let statistic = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const e = expected[i]![j]!;
      let o = observed[i]![j]!;
      if (corrected) {
        const diff = e - o;
        o += Math.sign(diff) * Math.min(0.5, Math.abs(diff));
      }
      statistic += (o - e) ** 2 / e;
    }
  }
  return { statistic, pValue: chi2Sf(statistic, dof), dof, corrected };
}

/**
 * Compares two class distributions (label → count) with a 2×k chi-squared test. Classes seen in neither sample
 * are dropped first: they carry no information and would make an expected count zero.
 */
export function compareClassCounts(
  reference: Readonly<Record<string, number>>,
  current: Readonly<Record<string, number>>,
): Chi2Result {
  const labels = [...new Set([...Object.keys(reference), ...Object.keys(current)])]
    .filter((l) => (reference[l] ?? 0) + (current[l] ?? 0) > 0)
    .sort();
  if (labels.length < 2) return { statistic: 0, pValue: 1, dof: 0, corrected: false };
  return chi2Contingency([labels.map((l) => reference[l] ?? 0), labels.map((l) => current[l] ?? 0)]);
}
