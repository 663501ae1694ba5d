import { z } from "zod";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore, Transaction } from "../meta/metadata-store.ts";
import { writeAudit, writeAuditIn, type AuditAction, type AuditRecord } from "./audit.ts";
import { getVersion, ModelNotFoundError } from "./model-version.ts";

export const ALIASES = "aliases";
export const PRODUCTION = "production";
export const CANDIDATE = "candidate";
export const PREVIOUS = "previous";

export type Alias = {
  name: string;
  alias: string;
  version: number;
  updatedAt: string;
  actor: string;
  reason: string;
};

const AliasSchema: z.ZodType<Alias> = z.looseObject({
  name: z.string(),
  alias: z.string(),
  version: z.number().int(),
  updatedAt: z.string(),
  actor: z.string(),
  reason: z.string(),
});

/** One document per alias, keyed `name@alias`. */
export const Aliases = defineCollection({ name: ALIASES, schema: AliasSchema });

const aliasId = (name: string, alias: string): string => `${name}@${alias}`;

export async function getAlias(meta: MetadataStore, name: string, alias: string): Promise<Alias | undefined> {
  return Aliases.get(meta, aliasId(name, alias));
}

export async function listAliases(meta: MetadataStore, name: string): Promise<Alias[]> {
  const docs = await Aliases.query(meta, { where: [{ field: "name", op: "==", value: name }] });
  return docs.map((d) => d.data).sort((a, b) => a.alias.localeCompare(b.alias));
}

/** Resolves `name@alias` to its version number, or throws. */
export async function resolveAlias(meta: MetadataStore, name: string, alias: string): Promise<number> {
  const a = await getAlias(meta, name, alias);
  if (!a) throw new ModelNotFoundError(`${name}@${alias}`);
  return a.version;
}

export interface AliasMove {
  name: string;
  alias: string;
  to: number;
  /** The version the caller believes the alias has now (null: unset); the move happens only if it still has. */
  expected: number | null;
  actor: string;
  reason: string;
  action: AuditAction;
  decisionId?: string;
  /** Also point these aliases at the version `alias` had (e.g. `previous` on a promotion). */
  alsoSetToOld?: string[];
  /** More writes committed with the move (or not at all), e.g. the decision that made it; may throw to abort it. */
  within?: (tx: Transaction) => Promise<void>;
}

/** `audit` is null for a move to where the alias already points: nothing changed, so nothing is recorded. */
export type MoveResult =
  | { ok: true; from: number | null; audit: AuditRecord | null }
  | { ok: false; current: number | null; audit: AuditRecord };

/**
 * Moves an alias by compare-and-set: only if it still points at `expected`. The audit record of a move is written
 * in the same transaction, so a move is never without its record; a lost race gets a `conflict` record of its own.
 */
export async function moveAlias(meta: MetadataStore, move: AliasMove): Promise<MoveResult> {
  await getVersion(meta, move.name, move.to);
  const common = {
    actor: move.actor,
    action: move.action,
    model: move.name,
    alias: move.alias,
    to: move.to,
    reason: move.reason,
    decisionId: move.decisionId ?? null,
  };
  const outcome = await meta.transaction(async (tx) => {
    const aliases = Aliases.in(tx);
    const current = (await aliases.get(aliasId(move.name, move.alias)))?.version ?? null;
    if (current !== move.expected) return { ok: false as const, current };
    // Idempotent, like MLflow's set_registered_model_alias: re-pointing an alias where it is changes no alias
    // (nor `previous`) and adds no `n → n` record to the audit trail; the caller's own writes still commit.
    if (current === move.to) {
      await move.within?.(tx);
      return { ok: true as const, from: current, audit: null };
    }
    const now = new Date().toISOString();
    const set = (alias: string, version: number): void =>
      aliases.set(aliasId(move.name, alias), {
        name: move.name,
        alias,
        version,
        updatedAt: now,
        actor: move.actor,
        reason: move.reason,
      });
    set(move.alias, move.to);
    if (current !== null) for (const other of move.alsoSetToOld ?? []) set(other, current);
    const audit = writeAuditIn(tx, { ...common, outcome: "applied", from: current });
    await move.within?.(tx);
    return { ok: true as const, from: current, audit };
  });
  if (outcome.ok) return outcome;
  const audit = await writeAudit(meta, {
    ...common,
    outcome: "conflict",
    from: move.expected,
    detail: `${move.name}@${move.alias} is at ${outcome.current ?? "nothing"}, not ${move.expected ?? "nothing"}`,
  });
  return { ok: false, current: outcome.current, audit };
}

/** Points an alias at a version inside a caller's transaction, with its audit record (e.g. `candidate` on registration). */
export async function setAliasIn(
  tx: Transaction,
  move: { name: string; alias: string; to: number; actor: string; reason: string },
): Promise<void> {
  const aliases = Aliases.in(tx);
  const from = (await aliases.get(aliasId(move.name, move.alias)))?.version ?? null;
  aliases.set(aliasId(move.name, move.alias), {
    name: move.name,
    alias: move.alias,
    version: move.to,
    updatedAt: new Date().toISOString(),
    actor: move.actor,
    reason: move.reason,
  });
  writeAuditIn(tx, {
    actor: move.actor,
    action: "alias.set",
    outcome: "applied",
    model: move.name,
    alias: move.alias,
    from,
    to: move.to,
    reason: move.reason,
  });
}
