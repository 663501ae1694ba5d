import { z } from "zod";
import { SightlineError } from "../errors.ts";
import type { Doc, JsonObject, MetadataStore, QueryOptions, Transaction } from "./metadata-store.ts";

/** A stored document that fails its collection's schema: retrying will not help, the record must be repaired. */
export class CorruptRecordError extends SightlineError {
  readonly collection: string;
  readonly id: string;
  readonly issues: z.core.$ZodIssue[];

  constructor(collection: string, id: string, issues: z.core.$ZodIssue[]) {
    super(
      "corrupt",
      "corrupt_record",
      `${collection}/${id} is not a valid record: ${z.prettifyError({ issues } as z.core.$ZodError)}`,
    );
    this.collection = collection;
    this.id = id;
    this.issues = issues;
  }
}

/** Typed access to one collection inside a transaction. */
export interface TxCollection<T> {
  get(id: string): Promise<T | undefined>;
  set(id: string, record: T): void;
  delete(id: string): void;
}

/**
 * A named collection whose documents are parsed with `schema` on every read (and checked on every write, so a bug
 * cannot store a record its readers would refuse). Ids are always given by the caller: several records (cursors,
 * markers) do not contain their own id.
 */
export interface Collection<T> {
  readonly name: string;
  parse(id: string, data: unknown): T;
  get(store: MetadataStore, id: string): Promise<T | undefined>;
  put(store: MetadataStore, id: string, record: T): Promise<void>;
  create(store: MetadataStore, id: string, record: T): Promise<boolean>;
  delete(store: MetadataStore, id: string): Promise<void>;
  query(store: MetadataStore, options?: QueryOptions): Promise<Doc<T>[]>;
  in(tx: Transaction): TxCollection<T>;
}

export function defineCollection<S extends z.ZodType>(spec: { name: string; schema: S }): Collection<z.output<S>> {
  type T = z.output<S>;
  const { name, schema } = spec;
  const parse = (id: string, data: unknown): T => {
    const parsed = schema.safeParse(data);
    if (!parsed.success) throw new CorruptRecordError(name, id, parsed.error.issues);
    return parsed.data;
  };
  // The record as written is stored (not the parsed copy), so a write stores exactly what the caller gave.
  const checked = (id: string, record: T): JsonObject => {
    const parsed = schema.safeParse(record);
    if (!parsed.success)
      throw new Error(`refusing to write an invalid record ${name}/${id}: ${z.prettifyError(parsed.error)}`);
    return record as JsonObject;
  };
  return {
    name,
    parse,
    async get(store, id) {
      const doc = await store.get(name, id);
      return doc ? parse(id, doc.data) : undefined;
    },
    // Async, so a refused write is a rejected promise like any other store failure, never a synchronous throw.
    async put(store, id, record) {
      await store.put(name, id, checked(id, record));
    },
    async create(store, id, record) {
      return store.create(name, id, checked(id, record));
    },
    delete: (store, id) => store.delete(name, id),
    async query(store, options) {
      return (await store.query(name, options)).map((d) => ({ id: d.id, data: parse(d.id, d.data) }));
    },
    in: (tx) => ({
      async get(id) {
        const doc = await tx.get(name, id);
        return doc ? parse(id, doc.data) : undefined;
      },
      set: (id, record) => tx.set(name, id, checked(id, record)),
      delete: (id) => tx.delete(name, id),
    }),
  };
}
