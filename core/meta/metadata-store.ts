import { SightlineError, type SightlineErrorOptions } from "../errors.ts";

/** JSON documents in named collections, with queries by field and optimistic transactions. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/**
 * A top-level field holding an ISO time after which the document may be deleted (bounded growth for documents
 * written per prediction): Firestore stores it as a Timestamp, which its TTL policy (terraform/firestore.tf) acts
 * on, within a day or so; the SQLite store deletes expired documents itself. Readers may still see a document
 * for a while after it expired.
 */
export const EXPIRES_AT = "expireAt";

/** The `EXPIRES_AT` value `days` after `from`. */
export function expiresAfter(from: string | Date, days: number): string {
  const start = typeof from === "string" ? Date.parse(from) : from.getTime();
  if (!Number.isFinite(start)) throw new Error(`expiresAfter: ${JSON.stringify(from)} is not a time`);
  return new Date(start + days * 86_400_000).toISOString();
}

export interface Doc<T = JsonObject> {
  id: string;
  data: T;
}

export type WhereOp = "==" | "<" | "<=" | ">" | ">=";

export interface Where {
  /** Dotted path into the document, e.g. `model` or `spec.width`. */
  field: string;
  op: WhereOp;
  value: string | number | boolean;
}

export interface QueryOptions {
  where?: Where[];
  orderBy?: { field: string; direction?: "asc" | "desc" };
  limit?: number;
}

/** Reads see one snapshot; writes are buffered and applied atomically at commit if nothing read has changed. */
export interface Transaction {
  get(collection: string, id: string): Promise<Doc | undefined>;
  set(collection: string, id: string, data: JsonObject): void;
  delete(collection: string, id: string): void;
}

export interface MetadataStore {
  get(collection: string, id: string): Promise<Doc | undefined>;
  /** Unconditional upsert. */
  put(collection: string, id: string, data: JsonObject): Promise<void>;
  /** Writes only if absent; returns false (and changes nothing) when the document exists. */
  create(collection: string, id: string, data: JsonObject): Promise<boolean>;
  delete(collection: string, id: string): Promise<void>;
  query(collection: string, options?: QueryOptions): Promise<Doc[]>;
  /**
   * Runs `fn` and commits its writes atomically when no document it read changed meanwhile;
   * otherwise runs it again (bounded), then throws ConflictError. `fn` must not have side effects beyond `tx`.
   */
  transaction<R>(fn: (tx: Transaction) => Promise<R>): Promise<R>;
  close(): Promise<void>;
}

/** A write lost to a concurrent one (or found its document already there): re-read and retry. */
export class ConflictError extends SightlineError {
  constructor(message: string, options?: SightlineErrorOptions) {
    super("conflict", "conflict", message, options);
  }
}

const COLLECTION = /^[a-z][a-z0-9_-]{0,62}$/;

/** Document ids become Firestore document names, so `/` and the reserved `__x__` forms are refused everywhere. */
export function checkKey(collection: string, id: string): void {
  if (!COLLECTION.test(collection)) throw new Error(`invalid collection name ${JSON.stringify(collection)}`);
  if (id.length === 0 || id.length > 1500 || id.includes("/") || id === "." || id === ".." || /^__.*__$/.test(id)) {
    throw new SightlineError(
      "invalid",
      "document_id_invalid",
      `invalid document id ${JSON.stringify(id)} in ${collection}`,
    );
  }
}

/**
 * Compare-and-set on one document: writes `next` only when the current data equals `expected`
 * (undefined = absent). Returns whether it won.
 */
export async function compareAndSet(
  store: MetadataStore,
  collection: string,
  id: string,
  expected: JsonObject | undefined,
  next: JsonObject,
): Promise<boolean> {
  return store.transaction(async (tx) => {
    const current = await tx.get(collection, id);
    if (!sameJson(current?.data, expected)) return false;
    tx.set(collection, id, next);
    return true;
  });
}

export function sameJson(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (typeof a !== "object" || typeof b !== "object") return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => k in b && sameJson(a[k], b[k]));
}
