import { randomUUID } from "node:crypto";
import { z } from "zod";
import { Datasets } from "../datasets/version.ts";
import { makeEvent, type CloudEvent } from "../events/envelope.ts";
import type { EventBus } from "../events/event-bus.ts";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore, Transaction } from "../meta/metadata-store.ts";
import { getAlias, moveAlias, PREVIOUS, PRODUCTION } from "./aliases.ts";
import { writeAuditIn, type AuditInput } from "./audit.ts";
import { evaluateRules, type RuleOutcome } from "./rules.ts";
import { getVersion, recordEvaluation, type Metrics, type ModelVersion } from "./model-version.ts";
import type { PromotionPolicy } from "./policy.ts";
import { SightlineError } from "../errors.ts";

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
  /** On a claim: which delivery holds it. */
  claim?: string;
  /** On a promotion: whether `model.promoted` was published (a redelivery publishes it while false). */
  published?: boolean;
};

const RuleOutcomeSchema: z.ZodType<RuleOutcome> = z.looseObject({
  rule: z.string(),
  value: z.union([z.number(), z.string()]).nullable(),
  threshold: z.union([z.number(), z.string()]),
  passed: z.boolean(),
  detail: z.string(),
});

const DecisionSchema: z.ZodType<Decision> = z.looseObject({
  id: z.string(),
  time: z.string(),
  model: z.string(),
  version: z.number().int(),
  productionVersion: z.number().int().nullable(),
  evaluationDatasetId: z.string(),
  policyDigest: z.string(),
  rules: z.array(RuleOutcomeSchema),
  outcome: z.enum(["deciding", "promoted", "blocked", "pending_approval", "rejected", "conflict"]),
  approval: z.enum(["auto", "approved", "none"]),
  actor: z.string(),
  reason: z.string(),
  claim: z.string().optional(),
  published: z.boolean().optional(),
});

/** Promotion decisions, one document per decision id (a claim while `deciding`). */
export const Decisions = defineCollection({ name: DECISIONS, schema: DecisionSchema });

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

/** Another delivery holds the claim on this decision and has not finished: the caller should come back later. */
export class DecisionInProgressError extends SightlineError {
  readonly decisionId: string;
  readonly since: string;
  constructor(decisionId: string, since: string) {
    super(
      "conflict",
      "decision_in_progress",
      `decision ${decisionId} is being taken by another delivery (claimed ${since}); retry later`,
    );
    this.decisionId = decisionId;
    this.since = since;
  }
}

/** Our claim went stale and another delivery took the decision over: our outcome must not overwrite its. */
class ClaimLostError extends SightlineError {
  readonly decisionId: string;
  constructor(decisionId: string) {
    super(
      "conflict",
      "decision_claim_lost",
      `decision ${decisionId}: the claim was taken over by another delivery before this one finished`,
    );
    this.decisionId = decisionId;
  }
}

/**
 * Decides whether `name:version` becomes production and, if so, moves the alias by compare-and-set (production's
 * old version becomes `previous`) and publishes `sightline.model.promoted`. Every rule is evaluated and kept in a
 * decision record; every outcome, including a lost race, leaves an audit record.
 *
 * The decision is claimed first, so concurrent deliveries of one event cannot both decide; a claimant that fails
 * gives the claim back (a crashed one's claim goes stale), so a redelivery decides again. The alias move and the
 * `promoted` decision commit together; the event is published after, and a redelivery publishes it again while
 * the decision says it was not (same event id: consumers are idempotent on it).
 */
export async function promote(rt: Runtime, input: PromoteInput): Promise<Decision> {
  const decisionId = input.decisionId ?? `promote-${input.name}-${input.version}-${randomUUID()}`;
  const token = randomUUID();
  const taken = await rt.meta.transaction(async (tx) => {
    const decisions = Decisions.in(tx);
    const found = await decisions.get(decisionId);
    if (found && !(found.outcome === "deciding" && Date.now() - Date.parse(found.time) > STALE_CLAIM_MS)) return found;
    decisions.set(decisionId, { ...claim(decisionId, input), claim: token });
    return undefined;
  });
  if (taken) {
    if (taken.outcome === "promoted" && taken.published === false) return announce(rt, taken);
    return taken;
  }
  try {
    return await decide(rt, input, decisionId, token);
  } catch (err) {
    // Give the claim back so a redelivery decides; if that fails too, the claim goes stale and is taken over.
    await releaseClaim(rt.meta, decisionId, token).catch(() => undefined);
    throw err;
  }
}

async function decide(rt: Runtime, input: PromoteInput, decisionId: string, token: string): Promise<Decision> {
  const candidate = await getVersion(rt.meta, input.name, input.version);
  const productionAlias = await getAlias(rt.meta, input.name, PRODUCTION);
  const expected = productionAlias?.version ?? null;
  const evaluationDatasetId = candidate.datasetId;
  const production =
    expected === null || expected === candidate.version
      ? undefined
      : await productionMetrics(rt, expected, evaluationDatasetId, input.evaluator, input.name);
  const dataset = await Datasets.get(rt.meta, candidate.datasetId);
  const rules = evaluateRules({ policy: input.policy, candidate, dataset, production });
  if (expected !== null && expected !== candidate.version)
    rules.push(...(await regressionRules(rt, input, candidate, expected)));

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
  const audit = {
    actor: input.actor,
    action: "promotion" as const,
    model: input.name,
    alias: PRODUCTION,
    from: expected,
    to: input.version,
    reason: input.reason,
    decisionId,
  };

  const failed = rules.filter((r) => !r.passed);
  if (failed.length > 0) {
    await record(rt, decision, token, {
      ...audit,
      outcome: "blocked",
      detail: failed.map((r) => `${r.rule}: ${r.detail}`).join("; "),
    });
    return decision;
  }
  if (input.policy.approval === "auto") decision.approval = "auto";
  else if (input.approved) decision.approval = "approved";
  else if (input.askApproval) {
    if (!(await input.askApproval(decision))) {
      decision.outcome = "rejected";
      await record(rt, decision, token, { ...audit, outcome: "rejected", detail: "declined by the approver" });
      return decision;
    }
    decision.approval = "approved";
  } else {
    decision.outcome = "pending_approval";
    await record(rt, decision, token, {
      ...audit,
      outcome: "pending_approval",
      detail: "every rule passed; the policy wants a person to approve",
    });
    return decision;
  }

  const promoted: Decision = { ...decision, outcome: "promoted", published: false };
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
    within: async (tx) => {
      await assertClaim(tx, decisionId, token);
      Decisions.in(tx).set(decisionId, promoted);
    },
  });
  if (!moved.ok) {
    decision.outcome = "conflict";
    await record(rt, decision, token);
    return decision;
  }
  return announce(rt, promoted);
}

/** Publishes `model.promoted` for a promoted decision and notes that it was published. */
async function announce(rt: Runtime, decision: Decision): Promise<Decision> {
  await rt.bus.publish(
    makeEvent(
      "sightline.model.promoted",
      {
        model: decision.model,
        version: decision.version,
        alias: PRODUCTION,
        ...(decision.productionVersion === null ? {} : { previousVersion: decision.productionVersion }),
        actor: decision.actor,
        reason: decision.reason,
        decisionId: decision.id,
      },
      { id: `model.promoted:${decision.id}`, subject: `${decision.model}:${decision.version}` },
    ),
  );
  const done: Decision = { ...decision, published: true };
  await rt.meta.transaction(async (tx) => {
    const decisions = Decisions.in(tx);
    const current = await decisions.get(decision.id);
    if (current?.outcome === "promoted") decisions.set(decision.id, done);
  });
  return done;
}

async function assertClaim(tx: Transaction, decisionId: string, token: string): Promise<void> {
  const current = await Decisions.in(tx).get(decisionId);
  if (current?.outcome !== "deciding" || current.claim !== token) throw new ClaimLostError(decisionId);
}

/** Deletes our claim if it is still ours and undecided. */
async function releaseClaim(meta: MetadataStore, decisionId: string, token: string): Promise<void> {
  await meta.transaction(async (tx) => {
    const decisions = Decisions.in(tx);
    const current = await decisions.get(decisionId);
    if (current?.outcome === "deciding" && current.claim === token) decisions.delete(decisionId);
  });
}

/**
 * The gate for `sightline.training.completed`: the same decision as `promote`, headless (only an `auto` policy
 * promotes; `manual` leaves it pending approval). Idempotent by event id: a redelivered event returns the decision
 * already taken; while another delivery is still deciding it throws DecisionInProgressError (so it is retried).
 */
export async function gate(
  rt: Runtime,
  event: CloudEvent<"sightline.training.completed">,
  options: { policy: PromotionPolicy; digest: string; evaluator?: Evaluator },
): Promise<Decision> {
  const decision = await promote(rt, {
    name: event.data.model,
    version: event.data.version,
    actor: "gate",
    reason: `training run ${event.data.runId} completed`,
    policy: options.policy,
    policyDigest: options.digest,
    decisionId: `gate-${event.id}`,
    ...(options.evaluator ? { evaluator: options.evaluator } : {}),
  });
  // Acknowledging now would lose the decision if the claimant fails: the bus delivers again later instead.
  if (decision.outcome === "deciding") throw new DecisionInProgressError(decision.id, decision.time);
  return decision;
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

/** Writes the final decision (and its audit record) in one transaction, if the claim is still ours. */
async function record(rt: Runtime, decision: Decision, token: string, audit?: AuditInput): Promise<void> {
  await rt.meta.transaction(async (tx) => {
    await assertClaim(tx, decision.id, token);
    Decisions.in(tx).set(decision.id, decision);
    if (audit) writeAuditIn(tx, audit);
  });
}

/**
 * When the candidate was trained on other data than production (e.g. a retraining on newly labelled shifted
 * images), the relative rules also run on production's own held-out data: better on the new data must not mean
 * worse on the old. The candidate is evaluated there (and the evaluation recorded); production's metrics there are
 * its own. Rules are named `…@production-data`.
 */
async function regressionRules(
  rt: Runtime,
  input: PromoteInput,
  candidate: ModelVersion,
  productionVersion: number,
): Promise<RuleOutcome[]> {
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
  const rules = evaluateRules({
    policy: relativeOnly,
    candidate: { ...candidate, metrics, datasetId },
    dataset: undefined,
    production: { version: productionVersion, metrics: production.metrics },
  });
  return rules.map((r) => ({
    ...r,
    rule: `${r.rule}@production-data`,
    detail: `on production's held-out data (${datasetId.slice(0, 12)}…): ${r.detail}`,
  }));
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
  return Decisions.get(meta, id);
}
