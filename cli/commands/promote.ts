import type { Command } from "commander";
import { DEFAULT_POLICY_FILE, loadPolicy } from "../../core/registry/policy.ts";
import { promote, type Decision, type DecisionOutcome } from "../../core/registry/promote.ts";
import { rollback } from "../../core/registry/rollback.ts";
import { OnnxEvaluator } from "../../evaluation/onnx-evaluator.ts";
import { confirm, withRuntime, type CliContext } from "../context.ts";
import { EXIT, PROMOTE_EXIT } from "../exit-codes.ts";
import { positiveInt } from "../options.ts";
import { SIGHTLINE_PROMOTION_POLICY } from "../../core/config/settings/functions.ts";

export { PROMOTE_EXIT } from "../exit-codes.ts";

export function registerPromotion(program: Command, ctx: CliContext): void {
  program
    .command("promote")
    .description(
      "gate a model version against the promotion policy and, if it passes and is approved, make it production",
    )
    .argument("<name>", "model name")
    .argument("<version>", "version number", positiveInt)
    .option("--reason <text>", "why (kept in the audit trail)", "manual promotion")
    .option("--approve", "approve now when the policy wants a person to")
    .option(
      "--policy <file>",
      "promotion policy (YAML)",
      SIGHTLINE_PROMOTION_POLICY.read(ctx.env) ?? DEFAULT_POLICY_FILE,
    )
    .option("--json", "print the decision record as JSON")
    .addHelpText(
      "after",
      "\nExit codes: 0 promoted, 2 blocked by a rule, 3 pending approval, 4 rejected, 5 lost a race (production moved meanwhile), 6 being decided by another process; 64 a usage error (unknown flag, bad argument).",
    )
    .action(
      async (
        name: string,
        version: number,
        opts: { reason: string; approve?: boolean; policy: string; json?: boolean },
      ) =>
        withRuntime(ctx, async (rt) => {
          const { policy, digest } = await loadPolicy(opts.policy);
          const decision = await promote(rt, {
            name,
            version,
            actor: ctx.actor,
            reason: opts.reason,
            policy,
            policyDigest: digest,
            approved: opts.approve === true,
            // Production is compared with the candidate on the candidate's held-out data, evaluated if need be.
            evaluator: new OnnxEvaluator(rt),
            ...(ctx.interactive && !opts.approve
              ? {
                  askApproval: (d: Decision) => (
                    printDecision(ctx, d),
                    confirm(`Promote ${name}:${version} to production?`)
                  ),
                }
              : {}),
          });
          if (opts.json) ctx.out(JSON.stringify(decision, null, 2));
          else printDecision(ctx, decision, true);
          process.exitCode = PROMOTE_EXIT[decision.outcome];
        }),
    );

  program
    .command("rollback")
    .description("point production back at the previous version (or --to VERSION)")
    .argument("<name>", "model name")
    .option("--to <version>", "version to return to (default: the `previous` alias)", positiveInt)
    .requiredOption("--reason <text>", "why (kept in the audit trail)")
    .option("--yes", "do not ask for confirmation (required when not on a terminal)")
    .action(async (name: string, opts: { to?: number; reason: string; yes?: boolean }) =>
      withRuntime(ctx, async (rt) => {
        if (!opts.yes) {
          if (!ctx.interactive)
            ctx.fail("refusing to roll back without --yes when nobody can confirm on a terminal", EXIT.usage);
          if (!(await confirm(`Roll back ${name} production${opts.to ? ` to version ${opts.to}` : ""}?`)))
            ctx.fail("rollback cancelled", PROMOTE_EXIT.rejected);
        }
        const result = await rollback(rt, {
          name,
          actor: ctx.actor,
          reason: opts.reason,
          ...(opts.to ? { to: opts.to } : {}),
        });
        if (!result.ok)
          ctx.fail(
            `production moved meanwhile (now ${result.current ?? "unset"}); nothing changed`,
            PROMOTE_EXIT.conflict,
          );
        ctx.out(`${name}@production: ${result.from} → ${result.to} (previous is now ${result.from})`);
      }),
    );
}

function printDecision(ctx: CliContext, d: Decision, outcome = false): void {
  ctx.out(
    `promotion of ${d.model}:${d.version} (production: ${d.productionVersion === null ? "none" : `v${d.productionVersion}`}), evaluated on dataset ${d.evaluationDatasetId.slice(0, 12)}…`,
  );
  const width = Math.max(...d.rules.map((r) => r.rule.length), 4);
  for (const r of d.rules) {
    const value = typeof r.value === "number" ? r.value.toFixed(4) : (r.value ?? "—");
    ctx.out(
      `  ${r.passed ? "pass" : "FAIL"}  ${r.rule.padEnd(width)}  ${String(value).padStart(8)}  ${String(r.threshold).padEnd(12)}  ${r.detail}`,
    );
  }
  if (!outcome) return;
  const text: Record<DecisionOutcome, string> = {
    promoted: `promoted: ${d.model}@production is now ${d.version}`,
    blocked: "blocked: a rule failed; production is unchanged",
    pending_approval: "pending approval: every rule passed; run again with --approve (or on a terminal) to promote",
    rejected: "rejected by the approver; production is unchanged",
    conflict: "conflict: production moved while this decision was being made; nothing changed, run again",
    deciding: "another process is taking this decision",
  };
  ctx.out(`${text[d.outcome]}  (decision ${d.id})`);
}
