import type { RunRecord } from "../jobs/run-record.ts";

/**
 * A run's status as shown: the stored one, except that a `running` run whose writer promised a heartbeat and has
 * not been heard from for much longer is `lost` (its process most likely died without a word: a host that went
 * away, a runner killed with its trainer). Derived on every read and never written: a trainer that was only slow
 * shows `running` again with its next write. Runs without a heartbeat (image trainers on GKE, older records)
 * stay as stored.
 */
export type ShownStatus = RunRecord["status"] | "lost";

/** Silence after which a running run is lost: at least this long, and at least this many heartbeats. */
export const LOST_AFTER_MS = 5 * 60_000;
export const LOST_AFTER_HEARTBEATS = 10;

export function shownStatus(
  run: Pick<RunRecord, "status" | "updatedAt" | "heartbeatSeconds">,
  now: number = Date.now(),
): ShownStatus {
  if (run.status !== "running" || run.heartbeatSeconds === undefined || run.updatedAt === undefined) return run.status;
  const silentMs = now - Date.parse(run.updatedAt);
  return silentMs > Math.max(LOST_AFTER_MS, LOST_AFTER_HEARTBEATS * run.heartbeatSeconds * 1000) ? "lost" : "running";
}
