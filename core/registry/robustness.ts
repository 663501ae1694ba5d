import { z } from "zod";
import { PERTURBATIONS, type Perturbation } from "../imaging/perturb.ts";
import type { Metrics } from "./model-version.ts";

const Score = z.object({
  /** Accuracy on the perturbed images. */
  accuracy: z.number().min(0).max(1),
  /** Clean accuracy minus `accuracy`, on the same images (negative when the perturbation happened to help). */
  drop: z.number().min(-1).max(1),
});

/**
 * How the model holds up when its held-out test images are perturbed (core/imaging/perturb.ts) before the serving
 * preprocessing: accuracy on a (seeded) subset of the test split, clean and under each perturbation. An object
 * with one key per perturbation rather than a record, so a card written by a later version that measures more
 * perturbations still parses here (unknown keys are dropped).
 */
export const RobustnessSchema = z.object({
  /** How many test images were perturbed (all of the split, or a seeded subset of it). */
  images: z.number().int().positive(),
  /** Accuracy on those images unperturbed. */
  clean: z.number().min(0).max(1),
  perturbations: z.object(
    Object.fromEntries(PERTURBATIONS.map((p) => [p, Score])) as Record<Perturbation, typeof Score>,
  ),
});
export type Robustness = z.infer<typeof RobustnessSchema>;

/**
 * What a promotion rule `robustness:<name>` can name: each perturbation, and `brightness` for the larger drop of
 * the two brightness changes (a model may be fragile one way only).
 */
export const ROBUSTNESS_RULES = ["brightness", ...PERTURBATIONS] as const;
export type RobustnessRule = (typeof ROBUSTNESS_RULES)[number];

/**
 * The metric names robustness takes in a model version's metrics (`robustness/clean`, `robustness/<p>/accuracy`,
 * `robustness/<p>/drop`): the registry record, and so the promotion decision and `sightline.training.completed`,
 * carry metrics but not the card.
 */
export const robustnessMetric = {
  clean: "robustness/clean",
  accuracy: (p: Perturbation): string => `robustness/${p}/accuracy`,
  drop: (p: Perturbation): string => `robustness/${p}/drop`,
} as const;

/** Robustness as flat metrics, for the card's `metrics` (which the version record copies). */
export function robustnessMetrics(r: Robustness): Metrics {
  const out: Metrics = { [robustnessMetric.clean]: r.clean };
  for (const p of PERTURBATIONS) {
    out[robustnessMetric.accuracy(p)] = r.perturbations[p].accuracy;
    out[robustnessMetric.drop(p)] = r.perturbations[p].drop;
  }
  return out;
}

/** The perturbations a rule covers: itself, or both brightness changes for `brightness`. */
export function perturbationsOf(rule: RobustnessRule): Perturbation[] {
  return rule === "brightness" ? ["brightness+30", "brightness-30"] : [rule];
}
