import { histogram, quantileEdges } from "./jensen-shannon.ts";

/**
 * Proportion given to an empty bin before taking logs. PSI is undefined when a bin is empty in either sample
 * (log 0); like Evidently we replace a zero proportion by 0.0001, so one empty bin adds a large but finite term.
 */
export const PSI_EPSILON = 1e-4;

export interface PsiResult {
  statistic: number;
  bins: number;
}

/**
 * Population Stability Index Σ (c_i − r_i)·ln(c_i / r_i) over bins cut at the reference's quantiles (deciles by
 * default), so each reference bin holds about the same share. Common reading: < 0.1 stable, 0.1–0.25 moderate,
 * > 0.25 major shift.
 */
export function psi(reference: readonly number[], current: readonly number[], bins = 10): PsiResult {
  if (reference.length === 0 || current.length === 0) throw new RangeError("psi: both samples must be non-empty");
  const edges = quantileEdges(reference, bins);
  const ref = histogram(reference, edges).map((c) => Math.max(c / reference.length, PSI_EPSILON));
  const cur = histogram(current, edges).map((c) => Math.max(c / current.length, PSI_EPSILON));
  let statistic = 0;
  for (let i = 0; i < ref.length; i++) statistic += (cur[i]! - ref[i]!) * Math.log(cur[i]! / ref[i]!);
  return { statistic, bins: ref.length };
}
