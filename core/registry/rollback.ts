import { makeEvent } from "../events/envelope.ts";
import type { EventBus } from "../events/event-bus.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { getAlias, moveAlias, PREVIOUS, PRODUCTION, type MoveResult } from "./aliases.ts";
import { writeAudit } from "./audit.ts";
import { getVersion, ModelNotFoundError } from "./model-version.ts";
import { SightlineError } from "../errors.ts";

/** A rollback that cannot be done as asked (no reason, nothing to go back to, already there). */
export class RollbackError extends SightlineError {
  constructor(message: string) {
    super("invalid", "rollback_refused", message);
  }
}

/**
 * Points production back at `to` (default: the `previous` alias). Order matters for the audit trail: an intent
 * record first, then the compare-and-set move (which writes the outcome record, applied or conflict), then
 * `sightline.model.rolled_back`. The version left behind becomes `previous`.
 */
export async function rollback(
  rt: { meta: MetadataStore; bus: EventBus },
  input: { name: string; to?: number; actor: string; reason: string },
): Promise<MoveResult & { from: number | null; to: number }> {
  if (input.reason.trim() === "") throw new RollbackError("a rollback needs a reason");
  const production = await getAlias(rt.meta, input.name, PRODUCTION);
  if (!production) throw new ModelNotFoundError(`${input.name}@${PRODUCTION}`);
  const to = input.to ?? (await getAlias(rt.meta, input.name, PREVIOUS))?.version;
  if (to === undefined) throw new RollbackError(`${input.name} has no previous production version; name one with --to`);
  if (to === production.version) throw new RollbackError(`${input.name}:${to} is already in production`);
  await getVersion(rt.meta, input.name, to);

  const common = {
    actor: input.actor,
    action: "rollback" as const,
    model: input.name,
    alias: PRODUCTION,
    from: production.version,
    to,
    reason: input.reason,
  };
  await writeAudit(rt.meta, { ...common, outcome: "intent" });
  const moved = await moveAlias(rt.meta, {
    ...common,
    name: input.name,
    expected: production.version,
    alsoSetToOld: [PREVIOUS],
  });
  // Never a no-op move (`to` differs from production, checked above), so an applied move has its record.
  if (moved.ok && moved.audit) {
    await rt.bus.publish(
      makeEvent(
        "sightline.model.rolled_back",
        {
          model: input.name,
          alias: PRODUCTION,
          fromVersion: production.version,
          toVersion: to,
          actor: input.actor,
          reason: input.reason,
        },
        { id: `model.rolled_back:${moved.audit.id}`, subject: `${input.name}:${to}` },
      ),
    );
  }
  return { ...moved, from: production.version, to };
}
