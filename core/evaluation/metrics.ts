/**
 * Held-out evaluation of a classifier from its predicted probabilities.
 *
 * Conventions (checked against scikit-learn by test/unit/evaluation-metrics.test.ts on fixtures written by
 * test/fixtures/evaluation/make_fixtures.py):
 * - The predicted class of a row is its arg-max; ties go to the lowest index (numpy's `argmax`).
 * - Per-class precision, recall and F1 are `precision_recall_fscore_support(labels=range(K), zero_division=0)`:
 *   every class of `classes` is reported, also those absent from the labels and/or the predictions. A ratio whose
 *   denominator is 0 (a class never predicted → precision; never present → recall; neither → F1) is 0, not NaN.
 * - Macro-F1 is the unweighted mean of the K per-class F1 values, absent classes included (as sklearn's
 *   `f1_score(average="macro", labels=range(K), zero_division=0)`), so an absent class pulls it down.
 * - Log loss is sklearn's `log_loss(labels=range(K))` (the behaviour of scikit-learn 1.2, the Debian version):
 *   probabilities clipped to [ε, 1 − ε] with ε = 2⁻⁵² (float64 machine epsilon), each row renormalised to sum
 *   to 1, then the mean of −ln p(true class). Computed in float64 from the float32 inputs.
 * - Expected calibration error is the standard top-label ECE (Guo et al., 2017): confidence = the largest
 *   probability of a row, correct = its arg-max equals the label; rows fall into 15 equal-width bins
 *   (lower, upper] of [0, 1]; ECE = Σ_b (n_b / N) · |accuracy_b − mean confidence_b|. Not renormalised.
 */
import { topClass } from "../registry/scores.ts";

export const ECE_BINS = 15;

/** Clip bound of the log loss: float64 machine epsilon, as sklearn uses for float64 input. */
export const LOG_LOSS_EPS = Number.EPSILON;

export interface EvaluateInput {
  /** N × K probabilities, row-major (row i holds the K class probabilities of sample i). */
  probabilities: Float32Array | Float64Array;
  /** N true class indices in [0, K). */
  labels: Int32Array | readonly number[];
  /** The K class names, in index order. */
  classes: readonly string[];
}

export interface ClassMetrics {
  class: string;
  precision: number;
  recall: number;
  f1: number;
  /** Number of samples whose true class is this one. */
  support: number;
}

export interface CalibrationBin {
  /** The bin is (lower, upper]. */
  lower: number;
  upper: number;
  count: number;
  /** Mean top-label confidence in the bin (0 when empty). */
  confidence: number;
  /** Share of correct predictions in the bin (0 when empty). */
  accuracy: number;
}

export interface Evaluation {
  samples: number;
  classes: string[];
  accuracy: number;
  macroF1: number;
  logLoss: number;
  ece: number;
  perClass: ClassMetrics[];
  /** K × K counts: rows are true classes, columns predicted classes. */
  confusion: number[][];
  /** The ECE's reliability diagram. */
  calibration: CalibrationBin[];
}

export function evaluateClassifier(input: EvaluateInput): Evaluation {
  const { probabilities, labels, classes } = input;
  const k = classes.length;
  const n = labels.length;
  if (k < 2) throw new RangeError(`evaluateClassifier: need at least 2 classes, got ${k}`);
  if (new Set(classes).size !== k) throw new RangeError("evaluateClassifier: class names must be unique");
  if (n === 0) throw new RangeError("evaluateClassifier: no samples");
  if (probabilities.length !== n * k) {
    throw new RangeError(
      `evaluateClassifier: ${probabilities.length} probabilities for ${n} labels × ${k} classes (expected ${n * k})`,
    );
  }

  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const edges = binEdges(ECE_BINS);
  const binCount = new Float64Array(ECE_BINS);
  const binConfidence = new Float64Array(ECE_BINS);
  const binCorrect = new Float64Array(ECE_BINS);
  let correct = 0;
  let logLossSum = 0;

  for (let i = 0; i < n; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= k)
      throw new RangeError(`evaluateClassifier: label ${label} of sample ${i} is not a class index in [0, ${k})`);
    const row = i * k;
    let clippedSum = 0;
    for (let c = 0; c < k; c++) {
      const p = probabilities[row + c]!;
      if (!Number.isFinite(p)) throw new RangeError(`evaluateClassifier: probability [${i}, ${c}] is not finite`);
      clippedSum += clip(p);
    }
    // The label serving would answer: one arg-max for training, the gate and serving.
    const best = topClass(probabilities, k, i);
    const top = probabilities[row + best]!;
    confusion[label]![best]! += 1;
    const hit = best === label;
    if (hit) correct++;
    logLossSum -= Math.log(clip(probabilities[row + label]!) / clippedSum);

    const b = eceBin(top, edges);
    binCount[b]! += 1;
    binConfidence[b]! += top;
    if (hit) binCorrect[b]! += 1;
  }

  const perClass: ClassMetrics[] = classes.map((name, c) => {
    const tp = confusion[c]![c]!;
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < k; j++) {
      support += confusion[c]![j]!;
      predicted += confusion[j]![c]!;
    }
    const fp = predicted - tp;
    const fn = support - tp;
    return {
      class: name,
      precision: ratio(tp, tp + fp),
      recall: ratio(tp, tp + fn),
      // The F-score from counts (sklearn ≥ 1.3's form; equal to 2PR/(P+R) whenever that is defined).
      f1: ratio(2 * tp, 2 * tp + fp + fn),
      support,
    };
  });

  const calibration: CalibrationBin[] = [];
  let ece = 0;
  for (let b = 0; b < ECE_BINS; b++) {
    const count = binCount[b]!;
    const confidence = count ? binConfidence[b]! / count : 0;
    const accuracy = count ? binCorrect[b]! / count : 0;
    if (count) ece += (count / n) * Math.abs(accuracy - confidence);
    calibration.push({ lower: edges[b]!, upper: edges[b + 1]!, count, confidence, accuracy });
  }

  return {
    samples: n,
    classes: [...classes],
    accuracy: correct / n,
    macroF1: perClass.reduce((s, m) => s + m.f1, 0) / k,
    logLoss: logLossSum / n,
    ece,
    perClass,
    confusion,
    calibration,
  };
}

/**
 * The evaluation as flat metric names → values, as recorded on a model version and read by the registry's
 * promotion policy: `accuracy`, `macro_f1`, `log_loss`, `ece`, and `precision/<class>`, `recall/<class>`,
 * `f1/<class>` for every class.
 */
export function flatMetrics(evaluation: Evaluation): Record<string, number> {
  const out: Record<string, number> = {
    accuracy: evaluation.accuracy,
    macro_f1: evaluation.macroF1,
    log_loss: evaluation.logLoss,
    ece: evaluation.ece,
  };
  for (const m of evaluation.perClass) out[`precision/${m.class}`] = m.precision;
  for (const m of evaluation.perClass) out[`recall/${m.class}`] = m.recall;
  for (const m of evaluation.perClass) out[`f1/${m.class}`] = m.f1;
  return out;
}

function clip(p: number): number {
  return Math.min(Math.max(p, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}

/** numpy's `linspace(0, 1, bins + 1)`: i · (1 / bins), last edge exactly 1. */
function binEdges(bins: number): Float64Array {
  const edges = new Float64Array(bins + 1);
  const step = 1 / bins;
  for (let i = 0; i < bins; i++) edges[i] = i * step;
  edges[bins] = 1;
  return edges;
}

/** Index of the bin (lower, upper] holding `confidence`; a confidence of exactly 0 goes to the first bin. */
function eceBin(confidence: number, edges: Float64Array): number {
  const bins = edges.length - 1;
  let b = Math.min(bins - 1, Math.max(0, Math.ceil(confidence * bins) - 1));
  while (b > 0 && confidence <= edges[b]!) b--;
  while (b < bins - 1 && confidence > edges[b + 1]!) b++;
  return b;
}
