import { randomUUID } from "node:crypto";
import { DATASETS, type DatasetRecord } from "../datasets/version.ts";
import { makeEvent, type CloudEvent } from "../events/envelope.ts";
import type { EventBus } from "../events/event-bus.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { getAlias, moveAlias, PREVIOUS, PRODUCTION } from "./aliases.ts";
import { writeAudit } from "./audit.ts";
import { evaluateRules, type RuleOutcome } from "./decision.ts";
import { getVersion, recordEvaluation, type Metrics, type ModelVersion } from "./model-version.ts";
import type { PromotionPolicy } from "./policy.ts";

export const DECISIONS = "decisions";

/** Computes a model version's metrics on a dataset's held-out split (provided by the trainer's evaluation). */
export interface Evaluator {
  evaluate(model: ModelVersion, datasetId: string): Promise<Metrics>;
}

export type DecisionOutcome = "deciding" | "promoted" | "blocked" | "pending_approval" | "rejected" | "conflict";

/** A claim older than this is taken over: its decider died before finishing. */
const STALE_CLAIM_MS = 10 * 60 * 1000;

export type Decision = {
  id: string;
  time: string;
  model: string;
  version: number;
  productionVersion: number | null;
  evaluationDatasetId: string;
  policyDigest: string;
  rules: RuleOutcome[];
  outcome: DecisionOutcome;
  approval: "auto" | "approved" | "none";
  actor: string;
  reason: string;
};

export interface PromoteInput {
  name: string;
  version: number;
  actor: string;
  reason: string;
  policy: PromotionPolicy;
  policyDigest: string;
  /** Given on the command line (`--approve`). */
  approved?: boolean;
  /** Asks a person (a terminal); absent when nobody can be asked. */
  askApproval?: (decision: Decision) => Promise<boolean>;
  evaluator?: Evaluator;
  /** A stable id makes the promotion idempotent (the gate uses the event id); default a fresh one. */
  decisionId?: string;
}

type Runtime = { meta: MetadataStore; bus: EventBus };

/**
 * Decides whether `name:version` becomes production and, if so, moves the alias by compare-and-set (production's
 * old version becomes `previous`) and publishes `sightline.model.promoted`. Every rule is evaluated and kept in a
 * decision record; every outcome, including a lost race, leaves an audit record.
 */
export async function promote(rt: Runtime, input: PromoteInput): Promise<Decision> {
  const decisionId = input.decisionId ?? `promote-${input.name}-${input.version}-${randomUUID()}`;
  // Claim the decision first, so concurrent deliveries of one event cannot both decide (and one overwrite the
  // other's outcome); a redelivery gets the decision taken, or in progress.
  const taken = await rt.meta.transaction(async (tx) => {
    const doc = await tx.get(DECISIONS, decisionId);
    const found = doc?.data as Decision | undefined;
    if (found && !(found.outcome === "deciding" && Date.now() - Date.parse(found.time) > STALE_CLAIM_MS)) return found;
    tx.set(DECISIONS, decisionId, { ...claim(decisionId, input), outcome: "deciding" });
    return undefined;
  });
  if (taken) return taken;

  const candidate = await getVersion(rt.meta, input.name, input.version);
  const productionAlias = await getAlias(rt.meta, input.name, PRODUCTION);
  const expected = productionAlias?.version ?? null;
  const evaluationDatasetId = candidate.datasetId;
  const production = expected === null || expected === candidate.version ? undefined : await productionMetrics(rt, expected, evaluationDatasetId, input.evaluator, input.name);
  const dataset = (await rt.meta.get(DATASETS, candidate.datasetId))?.data as DatasetRecord | undefined;
  const rules = evaluateRules({ policy: input.policy, candidate, dataset, production });
  if (expected !== null && expected !== candidate.version) rules.push(...(await regressionRules(rt, input, candidate, expected)));

  const decision: Decision = {
    id: decisionId,
    time: new Date().toISOString(),
    model: input.name,
    version: input.version,
    productionVersion: expected,
    evaluationDatasetId,
    policyDigest: input.policyDigest,
    rules,
    outcome: "blocked",
    approval: "none",
    actor: input.actor,
    reason: input.reason,
  };
  const audit = { actor: input.actor, action: "promotion" as const, model: input.name, alias: PRODUCTION, from: expected, to: input.version, reason: input.reason, decisionId };

  const failed = rules.filter((r) => !r.passed);
  if (failed.length > 0) {
    await record(rt, decision, { ...audit, outcome: "blocked", detail: failed.map((r) => `${r.rule}: ${r.detail}`).join("; ") });
    return decision;
  }
  if (input.policy.approval === "auto") decision.approval = "auto";
  else if (input.approved) decision.approval = "approved";
  else if (input.askApproval) {
    if (!(await input.askApproval(decision))) {
      decision.outcome = "rejected";
      await record(rt, decision, { ...audit, outcome: "rejected", detail: "declined by the approver" });
      return decision;
    }
    decision.approval = "approved";
  } else {
    decision.outcome = "pending_approval";
    await record(rt, decision, { ...audit, outcome: "pending_approval", detail: "every rule passed; the policy wants a person to approve" });
    return decision;
  }

  const moved = await moveAlias(rt.meta, {
    name: input.name,
    alias: PRODUCTION,
    to: input.version,
    expected,
    actor: input.actor,
    reason: input.reason,
    action: "promotion",
    decisionId,
    alsoSetToOld: [PREVIOUS],
  });
  decision.outcome = moved.ok ? "promoted" : "conflict";
  await rt.meta.put(DECISIONS, decisionId, decision);
  if (moved.ok) {
    await rt.bus.publish(
      makeEvent(
        "sightline.model.promoted",
        {
          model: input.name,
          version: input.version,
          alias: PRODUCTION,
          ...(expected === null ? {} : { previousVersion: expected }),
          actor: input.actor,
          reason: input.reason,
          decisionId,
        },
        { id: `model.promoted:${decisionId}`, subject: `${input.name}:${input.version}` },
      ),
    );
  }
  return decision;
}

/**
 * The gate for `sightline.training.completed`: the same decision as `promote`, headless (only an `auto` policy
 * promotes; `manual` leaves it pending approval). Idempotent by event id: a redelivered event returns the decision
 * already taken.
 */
export async function gate(
  rt: Runtime,
  event: CloudEvent<"sightline.training.completed">,
  options: { policy: PromotionPolicy; digest: string; evaluator?: Evaluator },
): Promise<Decision> {
  return promote(rt, {
    name: event.data.model,
    version: event.data.version,
    actor: "gate",
    reason: `training run ${event.data.runId} completed`,
    policy: options.policy,
    policyDigest: options.digest,
    decisionId: `gate-${event.id}`,
    ...(options.evaluator ? { evaluator: options.evaluator } : {}),
  });
}

function claim(id: string, input: PromoteInput): Decision {
  return {
    id,
    time: new Date().toISOString(),
    model: input.name,
    version: input.version,
    productionVersion: null,
    evaluationDatasetId: "",
    policyDigest: input.policyDigest,
    rules: [],
    outcome: "deciding",
    approval: "none",
    actor: input.actor,
    reason: input.reason,
  };
}

async function record(rt: Runtime, decision: Decision, audit: Parameters<typeof writeAudit>[1]): Promise<void> {
  await rt.meta.put(DECISIONS, decision.id, decision);
  await writeAudit(rt.meta, audit);
}

/**
 * When the candidate was trained on other data than production (e.g. a retraining on newly labelled shifted
 * images), the relative rules also run on production's own held-out data: better on the new data must not mean
 * worse on the old. The candidate is evaluated there (and the evaluation recorded); production's metrics there are
 * its own. Rules are named `…@production-data`.
 */
async function regressionRules(rt: Runtime, input: PromoteInput, candidate: ModelVersion, productionVersion: number): Promise<RuleOutcome[]> {
  const production = await getVersion(rt.meta, input.name, productionVersion);
  const datasetId = production.datasetId;
  if (datasetId === candidate.datasetId) return [];
  let metrics = candidate.evaluations[datasetId];
  let unavailable: string | undefined;
  if (!metrics && input.evaluator) {
    try {
      metrics = await input.evaluator.evaluate(candidate, datasetId);
      await recordEvaluation(rt.meta, input.name, candidate.version, datasetId, metrics);
    } catch (err) {
      unavailable = `evaluating the candidate on production's data failed: ${(err as Error).message}`;
    }
  }
  if (!metrics) {
    const detail = unavailable ?? "no evaluator to evaluate the candidate on production's held-out data";
    return [{ rule: "relative@production-data", value: null, threshold: "evaluated", passed: false, detail }];
  }
  const relativeOnly: PromotionPolicy = { ...input.policy, absolute: {}, robustness: {}, requireValidatedData: false };
  const rules = evaluateRules({ policy: relativeOnly, candidate: { ...candidate, metrics, datasetId }, dataset: undefined, production: { version: productionVersion, metrics: production.metrics } });
  return rules.map((r) => ({ ...r, rule: `${r.rule}@production-data`, detail: `on production's held-out data (${datasetId.slice(0, 12)}…): ${r.detail}` }));
}

/** Production's metrics on the candidate's evaluation data: recorded earlier, or computed now and recorded. */
async function productionMetrics(
  rt: Runtime,
  version: number,
  datasetId: string,
  evaluator: Evaluator | undefined,
  name: string,
): Promise<{ version: number; metrics: Metrics; unavailable?: string }> {
  const production = await getVersion(rt.meta, name, version);
  const known = production.evaluations[datasetId];
  if (known) return { version, metrics: known };
  if (!evaluator) return { version, metrics: {} };
  let metrics: Metrics;
  try {
    metrics = await evaluator.evaluate(production, datasetId);
  } catch (err) {
    // The relative rules then fail with this reason: a decision, not a crash.
    return { version, metrics: {}, unavailable: `evaluating production v${version} failed: ${(err as Error).message}` };
  }
  await recordEvaluation(rt.meta, name, version, datasetId, metrics);
  return { version, metrics };
}

export async function getDecision(meta: MetadataStore, id: string): Promise<Decision | undefined> {
  return (await meta.get(DECISIONS, id))?.data as Decision | undefined;
}
