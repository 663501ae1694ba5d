import type { DatabaseSync } from "node:sqlite";
import { setTimeout as sleep } from "node:timers/promises";
import { immediate } from "../util/sqlite.ts";
import { SightlineError } from "../errors.ts";

/** SQLITE_BUSY and its extended codes (BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT). */
function isBusy(err: unknown): boolean {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === "number" && (code & 0xff) === 5;
}

/**
 * Turns SQLite's busy handler off on `db`: it waits for the write lock synchronously, blocking the thread's event
 * loop (the serving process publishes through this connection). Writes go through `writeWhenFree` instead.
 */
export function disableBusyWait(db: DatabaseSync): void {
  db.exec("PRAGMA busy_timeout = 0");
}

/**
 * Runs `fn` under BEGIN IMMEDIATE … COMMIT; while another connection holds the write lock, waits asynchronously
 * (jittered backoff doubling to 100 ms) and tries again, so other work keeps running meanwhile. Gives up with the
 * lock error after `timeoutMs`.
 */
export async function writeWhenFree<R>(db: DatabaseSync, fn: () => R, timeoutMs: number, what: string): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return immediate(db, fn);
    } catch (err) {
      if (!isBusy(err)) throw err;
      if (Date.now() >= deadline)
        throw new SightlineError(
          "unavailable",
          "database_locked",
          `${what}: the database stayed locked by another writer for ${timeoutMs} ms`,
          { cause: err },
        );
      await sleep(Math.random() * Math.min(100, 2 ** attempt));
    }
  }
}
