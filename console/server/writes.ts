import { SightlineError } from "../../core/errors.ts";
import type { EventBus } from "../../core/events/event-bus.ts";
import type { MetadataStore } from "../../core/meta/metadata-store.ts";
import { getAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import type { PromotionPolicy } from "../../core/registry/policy.ts";
import { getDecision, promote, type Decision, type Evaluator } from "../../core/registry/promote.ts";
import { rollback } from "../../core/registry/rollback.ts";
import type { DecisionBody, PromoteBody, RollbackBody, WriteResult } from "../api/write-schemas.ts";
import type { Identity } from "./identity.ts";

/**
 * What the console's writes need: the same core calls `sightline promote`, `approve` and `rollback` make, with the
 * signed-in identity as the actor (so the audit record names it).
 */
export interface WriteDeps {
  meta: MetadataStore;
  bus: EventBus;
  policy: { policy: PromotionPolicy; digest: string };
  evaluator?: Evaluator;
}

const decided = (d: Decision, message: string): WriteResult => ({
  model: d.model,
  actor: d.actor,
  outcome: d.outcome,
  decisionId: d.id,
  from: d.productionVersion,
  to: d.version,
  message,
});

const MESSAGES: Record<Decision["outcome"], string> = {
  promoted: "promoted to production",
  blocked: "blocked by a rule; production is unchanged",
  pending_approval: "every rule passed; waiting for a person to approve",
  rejected: "rejected; production is unchanged",
  conflict: "production moved meanwhile; nothing changed",
  deciding: "another process is taking this decision",
};

function gate(deps: WriteDeps, who: Identity, name: string, version: number, reason: string) {
  return {
    name,
    version,
    actor: who.actor,
    reason,
    policy: deps.policy.policy,
    policyDigest: deps.policy.digest,
    ...(deps.evaluator ? { evaluator: deps.evaluator } : {}),
  };
}

/** Gates a version as `sightline promote` does without `--approve`: a manual policy leaves it pending. */
export async function promoteVersion(deps: WriteDeps, who: Identity, name: string, body: PromoteBody) {
  const d = await promote(deps, gate(deps, who, name, body.version, body.reason));
  return decided(d, MESSAGES[d.outcome]);
}

export async function rollbackModel(deps: WriteDeps, who: Identity, name: string, body: RollbackBody) {
  const r = await rollback(deps, { name, actor: who.actor, reason: body.reason, ...(body.to ? { to: body.to } : {}) });
  if (!r.ok)
    throw new SightlineError(
      "conflict",
      "production_moved",
      `production moved meanwhile (now ${r.current ?? "unset"})`,
    );
  return {
    model: name,
    actor: who.actor,
    outcome: "rolled_back",
    decisionId: null,
    from: r.from,
    to: r.to,
    message: `production: ${r.from} → ${r.to}`,
  } satisfies WriteResult;
}

/**
 * Approves or rejects a decision waiting for a person, as `sightline promote NAME VERSION --approve` (or answering
 * no on the terminal) does: the rules are evaluated again and the new decision names the approver.
 */
export async function decidePending(
  deps: WriteDeps,
  who: Identity,
  id: string,
  approve: boolean,
  body: DecisionBody,
): Promise<WriteResult> {
  const pending = await getDecision(deps.meta, id);
  if (!pending) throw new SightlineError("not_found", "decision_not_found", `no decision ${id}`);
  if (pending.outcome !== "pending_approval")
    throw new SightlineError(
      "conflict",
      "decision_not_pending",
      `decision ${id} is ${pending.outcome}, not pending approval`,
    );
  const production = await getAlias(deps.meta, pending.model, PRODUCTION);
  if (production?.version === pending.version)
    throw new SightlineError(
      "conflict",
      "decision_not_pending",
      `${pending.model}:${pending.version} is already in production`,
    );
  const input = gate(deps, who, pending.model, pending.version, body.reason);
  const d = await promote(
    deps,
    approve ? { ...input, approved: true } : { ...input, askApproval: () => Promise.resolve(false) },
  );
  return decided(d, MESSAGES[d.outcome]);
}
