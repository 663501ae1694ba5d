import type { DatabaseSync } from "node:sqlite";
import { immediate, openSqlite } from "../util/sqlite.ts";
import {
  checkKey,
  ConflictError,
  EXPIRES_AT,
  type Doc,
  type JsonObject,
  type MetadataStore,
  type QueryOptions,
  type Transaction,
} from "./metadata-store.ts";

const FIELD = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const MAX_ATTEMPTS = 200;
/**
 * Fields that large collections are read in order of (the runs lists page newest first by `startedAt`): each gets an
 * expression index, as Firestore indexes every single field by itself, so a page reads a page's rows, not the whole
 * collection. Paths are inlined into the SQL (validated by FIELD) because SQLite uses an expression index only for
 * the very same expression, never for a bound parameter.
 */
const ORDERED_FIELDS = ["startedAt"];
/** Expired documents are deleted from the write path at most this often per store. */
const PRUNE_EVERY_MS = 10 * 60_000;

type Row = { id: string; data: string; version: number | bigint };

/**
 * Documents in one SQLite table. Every write takes a number from a global sequence as the document's version, so
 * a transaction can check at commit that nothing it read has changed (optimistic, like Firestore) — across
 * processes, since the check and the writes run under one BEGIN IMMEDIATE.
 */
export class SqliteStore implements MetadataStore {
  private readonly db: DatabaseSync;
  private nextPruneAt = 0;

  constructor(path: string) {
    this.db = openSqlite(path);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS docs (
        collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL, expire_at TEXT,
        PRIMARY KEY (collection, id)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS doc_seq (one INTEGER PRIMARY KEY CHECK (one = 1), n INTEGER NOT NULL);
      INSERT OR IGNORE INTO doc_seq (one, n) VALUES (1, 0);`);
    // Files written before documents could expire: add the column (its index below needs it).
    const columns = this.db.prepare("SELECT name FROM pragma_table_info('docs')").all() as { name: string }[];
    if (!columns.some((c) => c.name === "expire_at")) this.db.exec("ALTER TABLE docs ADD COLUMN expire_at TEXT");
    this.db.exec("CREATE INDEX IF NOT EXISTS docs_expire_at ON docs (expire_at) WHERE expire_at IS NOT NULL");
    for (const field of ORDERED_FIELDS)
      this.db.exec(
        `CREATE INDEX IF NOT EXISTS "docs_by_${field}" ON docs (collection, json_extract(data, ${jsonPath(field)}))`,
      );
  }

  /** Deletes documents whose `EXPIRES_AT` time has passed; returns how many. Runs by itself from writes too. */
  async pruneExpired(now: Date = new Date()): Promise<number> {
    this.nextPruneAt = now.getTime() + PRUNE_EVERY_MS;
    const { changes } = immediate(this.db, () =>
      this.db.prepare("DELETE FROM docs WHERE expire_at IS NOT NULL AND expire_at < ?").run(now.toISOString()),
    );
    return Number(changes);
  }

  private async maybePrune(): Promise<void> {
    if (Date.now() >= this.nextPruneAt) await this.pruneExpired();
  }

  async get(collection: string, id: string): Promise<Doc | undefined> {
    checkKey(collection, id);
    const row = this.row(collection, id);
    return row && { id, data: JSON.parse(row.data) as JsonObject };
  }

  async put(collection: string, id: string, data: JsonObject): Promise<void> {
    checkKey(collection, id);
    immediate(this.db, () => this.write(collection, id, data));
    await this.maybePrune();
  }

  async create(collection: string, id: string, data: JsonObject): Promise<boolean> {
    checkKey(collection, id);
    return immediate(this.db, () => {
      if (this.row(collection, id)) return false;
      this.write(collection, id, data);
      return true;
    });
  }

  async delete(collection: string, id: string): Promise<void> {
    checkKey(collection, id);
    this.db.prepare("DELETE FROM docs WHERE collection = ? AND id = ?").run(collection, id);
  }

  async query(collection: string, options: QueryOptions = {}): Promise<Doc[]> {
    checkKey(collection, "query");
    const params: (string | number)[] = [collection];
    let sql = "SELECT id, data FROM docs WHERE collection = ?";
    for (const w of options.where ?? []) {
      sql += ` AND json_extract(data, ${jsonPath(w.field)}) ${w.op === "==" ? "=" : w.op} ?`;
      params.push(typeof w.value === "boolean" ? Number(w.value) : w.value);
    }
    if (options.orderBy) {
      const path = jsonPath(options.orderBy.field);
      // Documents without the field are left out, as Firestore does.
      sql += ` AND json_type(data, ${path}) IS NOT NULL ORDER BY json_extract(data, ${path}) ${options.orderBy.direction === "desc" ? "DESC" : "ASC"}, id`;
    } else {
      sql += " ORDER BY id";
    }
    if (options.limit !== undefined) {
      sql += " LIMIT ?";
      params.push(options.limit);
    }
    const rows = this.db.prepare(sql).all(...params) as Row[];
    return rows.map((r) => ({ id: r.id, data: JSON.parse(r.data) as JsonObject }));
  }

  async transaction<R>(fn: (tx: Transaction) => Promise<R>): Promise<R> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const reads = new Map<string, { collection: string; id: string; version: bigint }>();
      const writes = new Map<string, { collection: string; id: string; data: JsonObject | null }>();
      const tx: Transaction = {
        get: async (collection, id) => {
          checkKey(collection, id);
          const key = `${collection}\u0000${id}`;
          const pending = writes.get(key);
          if (pending) return pending.data ? { id, data: structuredClone(pending.data) } : undefined;
          const row = this.row(collection, id);
          if (!reads.has(key)) reads.set(key, { collection, id, version: BigInt(row?.version ?? 0) });
          return row && { id, data: JSON.parse(row.data) as JsonObject };
        },
        set: (collection, id, data) => {
          checkKey(collection, id);
          writes.set(`${collection}\u0000${id}`, { collection, id, data: structuredClone(data) });
        },
        delete: (collection, id) => {
          checkKey(collection, id);
          writes.set(`${collection}\u0000${id}`, { collection, id, data: null });
        },
      };
      const result = await fn(tx);
      const committed = immediate(this.db, () => {
        for (const r of reads.values()) {
          if (BigInt(this.row(r.collection, r.id)?.version ?? 0) !== r.version) return false;
        }
        for (const w of writes.values()) {
          if (w.data) this.write(w.collection, w.id, w.data);
          else this.db.prepare("DELETE FROM docs WHERE collection = ? AND id = ?").run(w.collection, w.id);
        }
        return true;
      });
      if (committed) {
        if (writes.size > 0) await this.maybePrune();
        return result;
      }
      // Jittered backoff that grows with contention keeps 8 processes from retrying in lockstep.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * attempt)));
    }
    throw new ConflictError(`transaction gave up after ${MAX_ATTEMPTS} attempts: the documents it read kept changing`);
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }

  private row(collection: string, id: string): Row | undefined {
    return this.db.prepare("SELECT id, data, version FROM docs WHERE collection = ? AND id = ?").get(collection, id) as
      Row | undefined;
  }

  /** Call inside immediate(): takes the next version number and upserts. */
  private write(collection: string, id: string, data: JsonObject): void {
    const { n } = this.db.prepare("UPDATE doc_seq SET n = n + 1 WHERE one = 1 RETURNING n").get() as { n: number };
    const expires = data[EXPIRES_AT];
    this.db
      .prepare(
        "INSERT INTO docs (collection, id, data, version, expire_at) VALUES (?, ?, ?, ?, ?) " +
          "ON CONFLICT (collection, id) DO UPDATE SET data = excluded.data, version = excluded.version, expire_at = excluded.expire_at",
      )
      .run(
        collection,
        id,
        JSON.stringify(data),
        n,
        typeof expires === "string" ? new Date(expires).toISOString() : null,
      );
  }
}

/** The field as a JSON path in an SQL string literal (FIELD admits no quote, so it cannot break out of it). */
function jsonPath(field: string): string {
  if (!FIELD.test(field)) throw new Error(`invalid field path ${JSON.stringify(field)}`);
  return `'$.${field}'`;
}
