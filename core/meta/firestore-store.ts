import { setTimeout as sleep } from "node:timers/promises";
import {
  FieldPath,
  FieldValue,
  Firestore,
  type CollectionReference,
  type DocumentReference,
  type Query,
  Timestamp,
  type WriteBatch,
} from "@google-cloud/firestore";
import {
  ConflictError,
  checkKey,
  EXPIRES_AT,
  type Doc,
  type Json,
  type JsonObject,
  type MetadataStore,
  type QueryOptions,
  type Transaction,
} from "./metadata-store.ts";
import { grpcCode } from "../util/grpc.ts";
import { SightlineError } from "../errors.ts";

export interface FirestoreStoreOptions {
  projectId: string;
  /** Firestore database id; `(default)` when omitted. */
  databaseId?: string;
  /** Emulator address `127.0.0.1:PORT` (plain text, no TLS). Omitted: the real service (or FIRESTORE_EMULATOR_HOST). */
  host?: string;
  /**
   * Namespaces every collection: collection `models` is stored as the root collection `<prefix>_models`.
   * Lets several installations (or test runs) share one database. Default `sightline`.
   */
  prefix?: string;
  /** Attempts per transaction before ConflictError. Default 100 (enough for 8 writers contending on one document). */
  maxAttempts?: number;
}

const PREFIX = /^[a-z][a-z0-9_-]{0,62}$/;
const ALREADY_EXISTS = 6;
const FAILED_PRECONDITION = 9;
const ABORTED = 10;

/**
 * Firestore has no arrays directly inside arrays (`[[1, 2]]`; `[{ a: [1] }]` is fine), and does not allow empty
 * field names. The client library's own message does not say which document was at fault, so we check before every
 * write and name the collection, id and field. Callers that need nested lists wrap the inner ones in objects.
 */
function checkStorable(collection: string, id: string, value: Json, path: string, inArray: boolean): void {
  if (Array.isArray(value)) {
    if (inArray) {
      throw new Error(
        `Firestore cannot store an array directly inside an array: ${collection}/${id} field ${path || "(root)"}`,
      );
    }
    value.forEach((item, i) => checkStorable(collection, id, item, `${path}[${i}]`, true));
    return;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key === "")
        throw new Error(`Firestore cannot store an empty field name: ${collection}/${id} field ${path || "(root)"}`);
      checkStorable(collection, id, item, path === "" ? key : `${path}.${key}`, false);
    }
  }
}

/**
 * The document as stored: `EXPIRES_AT` as a real Timestamp (a TTL policy ignores a string field). The JSON the
 * port speaks has no timestamps, so `fromStored` turns it back into the ISO string.
 */
function toStored(collection: string, id: string, data: JsonObject): Record<string, unknown> {
  const expires = data[EXPIRES_AT];
  if (expires === undefined || expires === null) return data;
  const ms = typeof expires === "string" ? Date.parse(expires) : Number.NaN;
  if (!Number.isFinite(ms))
    throw new Error(`${collection}/${id}: ${EXPIRES_AT} must be an ISO time, not ${JSON.stringify(expires)}`);
  return { ...data, [EXPIRES_AT]: Timestamp.fromMillis(ms) };
}

function fromStored(data: Record<string, unknown> | undefined): JsonObject | undefined {
  if (data === undefined) return undefined;
  const expires = data[EXPIRES_AT];
  if (!(expires instanceof Timestamp)) return data as JsonObject;
  return { ...data, [EXPIRES_AT]: expires.toDate().toISOString() } as JsonObject;
}

/** A document as the transaction first read it: `updateTime` undefined = it did not exist. */
interface Read {
  ref: DocumentReference;
  updateTime: Timestamp | undefined;
  data: JsonObject | undefined;
}

/** A buffered write: `data` undefined = delete. */
interface Write {
  ref: DocumentReference;
  data: JsonObject | undefined;
}

/** Jittered exponential backoff between transaction attempts: up to 4 ms, 8 ms, … capped at 250 ms. */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(250, 2 ** (attempt + 1));
}

/** A top-level field name the document does not have (deleting it is a no-op write). */
function absentField(data: JsonObject): string {
  let name = "sightline_verify";
  while (name in data) name += "_";
  return name;
}

function updateWithPrecondition(
  batch: WriteBatch,
  ref: DocumentReference,
  pairs: unknown[],
  lastUpdateTime: Timestamp,
): void {
  const [field, value, ...rest] = pairs;
  batch.update(ref, field as FieldPath, value, ...rest, { lastUpdateTime });
}

/**
 * MetadataStore on Cloud Firestore (native mode).
 *
 * - Documents are stored as they are (JSON → Firestore maps); integers come back as numbers, undefined
 *   properties are dropped (`ignoreUndefinedProperties`). Document size limit: 1 MiB.
 * - `query` with equality on one field and order on another needs a composite index on the real service
 *   (the emulator needs none); declare those indexes with the database (Terraform).
 * - Transactions are optimistic, as the port specifies, and never hold Firestore locks while `fn` runs.
 *   Firestore (native mode, and its emulator) runs read-write transactions with pessimistic locks: a document read
 *   in `runTransaction` is locked until commit, so a plain write from elsewhere blocks behind it (in the emulator
 *   it retries until the transaction idles out after 60 s) and contending writers deadlock on lock upgrades until
 *   the 2 s lock timeout. So instead: `fn` reads through a read-only transaction (one consistent snapshot, no
 *   locks), its writes are buffered, then committed as one atomic batch whose preconditions pin every document it
 *   read to the version it saw (update time, or absence). A failed precondition (FAILED_PRECONDITION /
 *   ALREADY_EXISTS) or ABORTED reruns `fn` after a short jittered backoff; after `maxAttempts`: ConflictError.
 *   It relies only on preconditions and read-only transactions, so it does not depend on the database's
 *   concurrency mode.
 */
export class FirestoreStore implements MetadataStore {
  readonly db: Firestore;
  private readonly prefix: string;
  private readonly maxAttempts: number;

  constructor(options: FirestoreStoreOptions) {
    const prefix = options.prefix ?? "sightline";
    if (!PREFIX.test(prefix))
      throw new SightlineError(
        "config",
        "firestore_prefix_invalid",
        `invalid Firestore collection prefix ${JSON.stringify(prefix)}`,
      );
    this.prefix = prefix;
    this.maxAttempts = options.maxAttempts ?? 100;
    this.db = new Firestore({
      projectId: options.projectId,
      ...(options.databaseId !== undefined ? { databaseId: options.databaseId } : {}),
      // Emulator: plain text; naming the universe domain spares google-auth a ~2 s metadata-server probe.
      ...(options.host !== undefined ? { host: options.host, ssl: false, universeDomain: "googleapis.com" } : {}),
      ignoreUndefinedProperties: true,
    });
  }

  private collectionRef(collection: string): CollectionReference {
    return this.db.collection(`${this.prefix}_${collection}`);
  }

  private ref(collection: string, id: string): DocumentReference {
    checkKey(collection, id);
    return this.collectionRef(collection).doc(id);
  }

  private writable(collection: string, id: string, data: JsonObject): DocumentReference {
    const ref = this.ref(collection, id);
    checkStorable(collection, id, data, "", false);
    return ref;
  }

  async get(collection: string, id: string): Promise<Doc | undefined> {
    const snap = await this.ref(collection, id).get();
    return snap.exists ? { id, data: fromStored(snap.data())! } : undefined;
  }

  async put(collection: string, id: string, data: JsonObject): Promise<void> {
    await this.writable(collection, id, data).set(toStored(collection, id, data));
  }

  async create(collection: string, id: string, data: JsonObject): Promise<boolean> {
    try {
      await this.writable(collection, id, data).create(toStored(collection, id, data));
      return true;
    } catch (err) {
      if (grpcCode(err) === ALREADY_EXISTS) return false;
      throw err;
    }
  }

  async delete(collection: string, id: string): Promise<void> {
    await this.ref(collection, id).delete();
  }

  async query(collection: string, options: QueryOptions = {}): Promise<Doc[]> {
    checkKey(collection, "_");
    let q: Query = this.collectionRef(collection);
    for (const w of options.where ?? []) q = q.where(w.field, w.op, w.value);
    if (options.orderBy) q = q.orderBy(options.orderBy.field, options.orderBy.direction ?? "asc");
    if (options.limit !== undefined) q = q.limit(options.limit);
    const snap = await q.get();
    return snap.docs.map((d) => ({ id: d.id, data: fromStored(d.data())! }));
  }

  async transaction<R>(fn: (tx: Transaction) => Promise<R>): Promise<R> {
    let last: unknown;
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (attempt > 0) await sleep(backoffMs(attempt));
      const reads = new Map<string, Read>();
      const writes = new Map<string, Write>();
      // Reads: one read-only Firestore transaction = one consistent snapshot, and no locks held while `fn` runs.
      // A user error thrown by `fn` propagates unchanged (read-only transactions are never retried by the client).
      const result = await this.db.runTransaction(
        (ro) => {
          const tx: Transaction = {
            get: async (collection, id) => {
              const ref = this.ref(collection, id);
              const k = `${collection}/${id}`;
              const snap = await ro.get(ref);
              if (!reads.has(k)) {
                reads.set(k, {
                  ref,
                  updateTime: snap.exists ? snap.updateTime : undefined,
                  data: fromStored(snap.data()),
                });
              }
              const own = writes.get(k);
              if (own) return own.data === undefined ? undefined : { id, data: structuredClone(own.data) };
              return snap.exists ? { id, data: fromStored(snap.data())! } : undefined;
            },
            set: (collection, id, data) => {
              const ref = this.writable(collection, id, data);
              writes.set(`${collection}/${id}`, { ref, data: structuredClone(data) });
            },
            delete: (collection, id) => {
              writes.set(`${collection}/${id}`, { ref: this.ref(collection, id), data: undefined });
            },
          };
          return fn(tx);
        },
        { readOnly: true },
      );
      if (writes.size === 0) return result;
      try {
        await this.conditionalBatch(reads, writes).commit();
        return result;
      } catch (err) {
        const code = grpcCode(err);
        if (code !== FAILED_PRECONDITION && code !== ALREADY_EXISTS && code !== ABORTED) throw err;
        last = err;
      }
    }
    const message = last instanceof Error ? last.message : String(last);
    throw new ConflictError(`transaction gave up after ${this.maxAttempts} attempts under contention: ${message}`);
  }

  /**
   * One atomic commit whose writes carry preconditions pinning every document the transaction read to the version
   * it saw: `lastUpdateTime` when it existed, `exists: false` when it did not. A document read but not written gets a
   * no-op verify write (deleting a field it does not have, which leaves its update time unchanged).
   */
  private conditionalBatch(reads: Map<string, Read>, writes: Map<string, Write>): WriteBatch {
    const batch = this.db.batch();
    for (const [k, write] of writes) {
      const read = reads.get(k);
      const stored = write.data && toStored(write.ref.parent.id, write.ref.id, write.data);
      if (read === undefined) {
        if (stored === undefined) batch.delete(write.ref);
        else batch.set(write.ref, stored);
      } else if (read.updateTime === undefined) {
        if (stored === undefined) batch.delete(write.ref, { exists: false });
        else batch.create(write.ref, stored);
      } else if (write.data === undefined) {
        batch.delete(write.ref, { lastUpdateTime: read.updateTime });
      } else {
        // A full replace expressed as an update (only update takes a lastUpdateTime precondition): every new
        // top-level field is set whole, every old one that is gone is deleted.
        const old = read.data ?? {};
        const pairs: unknown[] = [];
        for (const [field, value] of Object.entries(stored ?? write.data)) pairs.push(new FieldPath(field), value);
        for (const field of Object.keys(old))
          if (!(field in write.data)) pairs.push(new FieldPath(field), FieldValue.delete());
        if (pairs.length === 0) pairs.push(new FieldPath(absentField(old)), FieldValue.delete());
        updateWithPrecondition(batch, write.ref, pairs, read.updateTime);
      }
    }
    for (const [k, read] of reads) {
      if (writes.has(k)) continue;
      if (read.updateTime === undefined) batch.delete(read.ref, { exists: false });
      else
        updateWithPrecondition(
          batch,
          read.ref,
          [new FieldPath(absentField(read.data ?? {})), FieldValue.delete()],
          read.updateTime,
        );
    }
    return batch;
  }

  async close(): Promise<void> {
    await this.db.terminate();
  }
}
