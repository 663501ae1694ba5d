import { Firestore, type CollectionReference, type DocumentReference, type Query } from "@google-cloud/firestore";
import {
  ConflictError,
  checkKey,
  type Doc,
  type Json,
  type JsonObject,
  type MetadataStore,
  type QueryOptions,
  type Transaction,
} from "./metadata-store.ts";

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
const ABORTED = 10;

function grpcCode(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "number") return err.code;
  return undefined;
}

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
      if (key === "") throw new Error(`Firestore cannot store an empty field name: ${collection}/${id} field ${path || "(root)"}`);
      checkStorable(collection, id, item, path === "" ? key : `${path}.${key}`, false);
    }
  }
}

type Pending = { kind: "set"; data: JsonObject } | { kind: "delete" };

/**
 * MetadataStore on Cloud Firestore (native mode).
 *
 * - Documents are stored as they are (JSON → Firestore maps); integers come back as numbers, undefined
 *   properties are dropped (`ignoreUndefinedProperties`). Document size limit: 1 MiB.
 * - `query` with equality on one field and order on another needs a composite index on the real service
 *   (the emulator needs none); the Terraform declares the ones Sightline uses.
 * - Transactions map onto `runTransaction`: reads go to Firestore inside the transaction (so the server
 *   tracks them), writes are buffered and applied after `fn` returns, which also satisfies Firestore's
 *   "all reads before writes" rule. Retries exhausted on contention (ABORTED) become ConflictError.
 */
export class FirestoreStore implements MetadataStore {
  readonly db: Firestore;
  private readonly prefix: string;
  private readonly maxAttempts: number;

  constructor(options: FirestoreStoreOptions) {
    const prefix = options.prefix ?? "sightline";
    if (!PREFIX.test(prefix)) throw new Error(`invalid Firestore collection prefix ${JSON.stringify(prefix)}`);
    this.prefix = prefix;
    this.maxAttempts = options.maxAttempts ?? 100;
    this.db = new Firestore({
      projectId: options.projectId,
      ...(options.databaseId !== undefined ? { databaseId: options.databaseId } : {}),
      ...(options.host !== undefined ? { host: options.host, ssl: false } : {}),
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
    return snap.exists ? { id, data: snap.data() as JsonObject } : undefined;
  }

  async put(collection: string, id: string, data: JsonObject): Promise<void> {
    await this.writable(collection, id, data).set(data);
  }

  async create(collection: string, id: string, data: JsonObject): Promise<boolean> {
    try {
      await this.writable(collection, id, data).create(data);
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
    return snap.docs.map((d) => ({ id: d.id, data: d.data() as JsonObject }));
  }

  async transaction<R>(fn: (tx: Transaction) => Promise<R>): Promise<R> {
    try {
      return await this.db.runTransaction(
        async (ftx) => {
          // Fresh buffer per attempt: a retried attempt must not see the writes of the one that aborted.
          const pending = new Map<string, { ref: DocumentReference; op: Pending }>();
          const key = (collection: string, id: string): string => `${collection}/${id}`;
          const tx: Transaction = {
            get: async (collection, id) => {
              const ref = this.ref(collection, id);
              // Read from the server even when we have a buffered write, so the document is part of the read set.
              const snap = await ftx.get(ref);
              const own = pending.get(key(collection, id));
              if (own) return own.op.kind === "set" ? { id, data: structuredClone(own.op.data) } : undefined;
              return snap.exists ? { id, data: snap.data() as JsonObject } : undefined;
            },
            set: (collection, id, data) => {
              const ref = this.writable(collection, id, data);
              pending.set(key(collection, id), { ref, op: { kind: "set", data: structuredClone(data) } });
            },
            delete: (collection, id) => {
              pending.set(key(collection, id), { ref: this.ref(collection, id), op: { kind: "delete" } });
            },
          };
          const result = await fn(tx);
          for (const { ref, op } of pending.values()) {
            if (op.kind === "set") ftx.set(ref, op.data);
            else ftx.delete(ref);
          }
          return result;
        },
        { maxAttempts: this.maxAttempts },
      );
    } catch (err) {
      if (grpcCode(err) === ABORTED) {
        const message = err instanceof Error ? err.message : String(err);
        throw new ConflictError(`transaction gave up after ${this.maxAttempts} attempts under contention: ${message}`);
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.db.terminate();
  }
}
