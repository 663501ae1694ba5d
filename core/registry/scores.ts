/**
 * A model's class scores as probabilities: a `logits` output gets a softmax (max-subtracted, so large logits do
 * not overflow), a `probabilities` output is taken as it is. `scores` holds n rows of k values; rewritten in place.
 */
export function toProbabilities(scores: Float32Array, k: number, kind: "probabilities" | "logits"): Float32Array {
  if (kind === "probabilities") return scores;
  for (let start = 0; start < scores.length; start += k) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, scores[start + c]!);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += scores[start + c] = Math.exp(scores[start + c]! - max);
    for (let c = 0; c < k; c++) scores[start + c]! /= sum;
  }
  return scores;
}

/** Index of the largest value in row `row` of an n×k matrix (the first on ties). */
export function topClass(scores: ArrayLike<number>, k: number, row = 0): number {
  let best = 0;
  for (let c = 1; c < k; c++) if (scores[row * k + c]! > scores[row * k + best]!) best = c;
  return best;
}

/** Class indices from the most to the least probable (ties: the lower index first, as topClass picks). */
export function rankClasses(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
}
