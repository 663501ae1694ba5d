import { randomUUID } from "node:crypto";
import { z } from "zod";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore, Transaction } from "../meta/metadata-store.ts";

export const AUDIT = "audit";

export type AuditAction = "alias.set" | "promotion" | "rollback";
export type AuditOutcome = "intent" | "applied" | "conflict" | "blocked" | "pending_approval" | "rejected" | "failed";

/** Who did what to which model, when, why, from and to: one immutable record per attempt. */
export type AuditRecord = {
  id: string;
  time: string;
  actor: string;
  action: AuditAction;
  outcome: AuditOutcome;
  model: string;
  alias: string | null;
  from: number | null;
  to: number | null;
  reason: string;
  decisionId: string | null;
  detail: string | null;
};

const AuditRecordSchema: z.ZodType<AuditRecord> = z.looseObject({
  id: z.string(),
  time: z.string(),
  actor: z.string(),
  action: z.enum(["alias.set", "promotion", "rollback"]),
  outcome: z.enum(["intent", "applied", "conflict", "blocked", "pending_approval", "rejected", "failed"]),
  model: z.string(),
  alias: z.string().nullable(),
  from: z.number().int().nullable(),
  to: z.number().int().nullable(),
  reason: z.string(),
  decisionId: z.string().nullable(),
  detail: z.string().nullable(),
});

/** The audit trail, one document per record (keyed by its id). */
export const Audit = defineCollection({ name: AUDIT, schema: AuditRecordSchema });

export type AuditInput = Omit<AuditRecord, "id" | "time" | "alias" | "from" | "to" | "decisionId" | "detail"> &
  Partial<Pick<AuditRecord, "alias" | "from" | "to" | "decisionId" | "detail">>;

let written = 0;

export function auditRecord(input: AuditInput): AuditRecord {
  const time = new Date().toISOString();
  return {
    alias: null,
    from: null,
    to: null,
    decisionId: null,
    detail: null,
    ...input,
    // Sorts by time, then by order of writing within this process; unique across writers.
    id: `${time.replace(/[:.]/g, "-")}-${String(written++).padStart(9, "0")}-${randomUUID().slice(0, 8)}`,
    time,
  };
}

export async function writeAudit(meta: MetadataStore, input: AuditInput): Promise<AuditRecord> {
  const record = auditRecord(input);
  await Audit.put(meta, record.id, record);
  return record;
}

export function writeAuditIn(tx: Transaction, input: AuditInput): AuditRecord {
  const record = auditRecord(input);
  Audit.in(tx).set(record.id, record);
  return record;
}

export async function listAudit(meta: MetadataStore, model: string): Promise<AuditRecord[]> {
  const docs = await Audit.query(meta, { where: [{ field: "model", op: "==", value: model }] });
  return docs.map((d) => d.data).sort((a, b) => (a.id < b.id ? -1 : 1));
}
