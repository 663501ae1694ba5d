import { z } from "zod";

/** The console's session and write endpoints: request bodies (checked by the server) and answers. */

/** The header a write must carry, equal to the session's `csrf`: a page elsewhere can neither read nor send it. */
export const CSRF_HEADER = "x-sightline-csrf";

export const Session = z.object({
  /** How writers sign in here: a local token, IAP, or not at all (writes are off). */
  mode: z.enum(["local", "iap", "off"]),
  actor: z.string().nullable(),
  csrf: z.string().nullable(),
});
export type Session = z.infer<typeof Session>;

const Reason = z.string().trim().min(1, "a reason is required").max(500);

export const PromoteBody = z.strictObject({ version: z.number().int().positive(), reason: Reason });
export type PromoteBody = z.infer<typeof PromoteBody>;

export const RollbackBody = z.strictObject({ to: z.number().int().positive().optional(), reason: Reason });
export type RollbackBody = z.infer<typeof RollbackBody>;

export const DecisionBody = z.strictObject({ reason: Reason });
export type DecisionBody = z.infer<typeof DecisionBody>;

/** What a write did: the decision it took (promote, approve, reject) or the move it made (rollback). */
export const WriteResult = z.object({
  model: z.string(),
  actor: z.string(),
  outcome: z.string(),
  decisionId: z.string().nullable(),
  from: z.number().int().nullable(),
  to: z.number().int().nullable(),
  message: z.string(),
});
export type WriteResult = z.infer<typeof WriteResult>;
