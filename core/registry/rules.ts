import type { DatasetRecord } from "../datasets/version.ts";
import type { Metrics, ModelVersion } from "./model-version.ts";
import type { PromotionPolicy } from "./policy.ts";
import { perturbationsOf, ROBUSTNESS_RULES, robustnessMetric } from "./robustness.ts";

export type RuleOutcome = {
  rule: string;
  value: number | string | null;
  threshold: number | string;
  passed: boolean;
  detail: string;
};

/**
 * Applies the policy's rules to a candidate. `productionMetrics` are production's metrics on the candidate's
 * evaluation data (undefined when there is no production model). Pure: every rule is listed with its value,
 * threshold and outcome.
 */
export function evaluateRules(input: {
  policy: PromotionPolicy;
  candidate: ModelVersion;
  dataset: DatasetRecord | undefined;
  /** `unavailable` says why production's metrics on this data could not be had. */
  production: { version: number; metrics: Metrics; unavailable?: string } | undefined;
}): RuleOutcome[] {
  const { policy, candidate, production } = input;
  const rules: RuleOutcome[] = [];
  const fmt = (n: number): string => n.toFixed(4);

  if (policy.requireValidatedData) {
    const status = input.dataset?.validation ?? "unknown";
    rules.push({
      rule: "data-validation",
      value: status,
      threshold: "passed",
      passed: status === "passed",
      detail: input.dataset
        ? `dataset ${candidate.datasetId.slice(0, 12)}… validation ${status}`
        : `dataset ${candidate.datasetId} is not registered`,
    });
  }

  for (const [metric, bound] of Object.entries(policy.absolute)) {
    const value = candidate.metrics[metric];
    for (const [kind, threshold] of [
      ["min", bound.min],
      ["max", bound.max],
    ] as const) {
      if (threshold === undefined) continue;
      const passed = value !== undefined && (kind === "min" ? value >= threshold : value <= threshold);
      rules.push({
        rule: `absolute:${metric}`,
        value: value ?? null,
        threshold: `${kind === "min" ? "≥" : "≤"} ${threshold}`,
        passed,
        detail:
          value === undefined
            ? `candidate has no ${metric}`
            : `${metric} ${fmt(value)} ${passed ? "meets" : "misses"} ${kind} ${threshold}`,
      });
    }
  }

  for (const name of ROBUSTNESS_RULES) {
    const maxDrop = policy.robustness[name];
    if (maxDrop === undefined) continue;
    const rule = `robustness:${name}`;
    const threshold = `drop ≤ ${maxDrop}`;
    const clean = candidate.metrics[robustnessMetric.clean];
    const scores = perturbationsOf(name).map((p) => ({
      p,
      drop: candidate.metrics[robustnessMetric.drop(p)],
      accuracy: candidate.metrics[robustnessMetric.accuracy(p)],
    }));
    const measured = scores.filter(
      (s): s is { p: (typeof s)["p"]; drop: number; accuracy: number } =>
        s.drop !== undefined && s.accuracy !== undefined,
    );
    if (clean === undefined || measured.length < scores.length) {
      // Cards written before robustness was measured: the policy asks for something nobody measured.
      const detail = `no robustness evaluation on the card (${name} was not measured); retrain to get one, or remove robustness.${name} from the policy`;
      rules.push({ rule, value: null, threshold, passed: false, detail });
      continue;
    }
    const worst = measured.reduce((a, b) => (b.drop > a.drop ? b : a));
    const passed = worst.drop <= maxDrop + 1e-12;
    const which = measured.length > 1 ? ` (the worse of ${measured.map((s) => s.p).join(", ")})` : "";
    rules.push({
      rule,
      value: Number(worst.drop.toFixed(6)),
      threshold,
      passed,
      detail: `accuracy ${fmt(worst.accuracy)} under ${worst.p}${which} vs ${fmt(clean)} clean: drop ${fmt(worst.drop)} ${passed ? "within" : "exceeds"} ${maxDrop}`,
    });
  }

  const relative = (rule: string, metric: string, maxDrop: number): void => {
    if (!production) {
      rules.push({
        rule,
        value: null,
        threshold: `drop ≤ ${maxDrop}`,
        passed: true,
        detail: "no production model to compare with",
      });
      return;
    }
    const cand = candidate.metrics[metric];
    const prod = production.metrics[metric];
    if (cand === undefined || prod === undefined) {
      const detail =
        cand === undefined
          ? `candidate has no ${metric}`
          : production.unavailable !== undefined
            ? production.unavailable
            : Object.keys(production.metrics).length === 0
              ? `production v${production.version} has no evaluation on dataset ${candidate.datasetId.slice(0, 12)}…; evaluate it there first`
              : `production v${production.version} has no ${metric}`;
      rules.push({ rule, value: null, threshold: `drop ≤ ${maxDrop}`, passed: false, detail });
      return;
    }
    const drop = prod - cand;
    rules.push({
      rule,
      value: Number(drop.toFixed(6)),
      threshold: `drop ≤ ${maxDrop}`,
      passed: drop <= maxDrop + 1e-12,
      detail: `${metric} ${fmt(cand)} vs production v${production.version} ${fmt(prod)}`,
    });
  };
  for (const [metric, maxDrop] of Object.entries(policy.relative.maxDrop))
    relative(`relative:${metric}`, metric, maxDrop);
  if (policy.relative.maxClassRecallDrop !== undefined) {
    const classes = Object.keys(candidate.metrics).filter((k) => k.startsWith("recall/"));
    for (const metric of classes)
      relative(`class-recall:${metric.slice("recall/".length)}`, metric, policy.relative.maxClassRecallDrop);
  }
  return rules;
}
