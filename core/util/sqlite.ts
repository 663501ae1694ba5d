import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";

/**
 * Opens a SQLite file shared by several processes: WAL so readers never block the writer, and a busy timeout so
 * writers queue for the lock instead of failing.
 */
export function openSqlite(path: string): DatabaseSync {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path, { timeout: 15_000 });
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
  return db;
}

/** Runs `fn` inside BEGIN IMMEDIATE … COMMIT (rolled back if it throws). `fn` is synchronous on purpose. */
export function immediate<R>(db: DatabaseSync, fn: () => R): R {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}
