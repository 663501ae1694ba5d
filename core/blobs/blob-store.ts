import { SightlineError } from "../errors.ts";

/** Content-addressed, immutable blob storage. A digest is `sha256:<64 hex>`. */
export interface BlobRef {
  digest: string;
  size: number;
}

export interface BlobStore {
  /** Stores bytes; storing the same content twice is a no-op, so retries are always safe. */
  put(data: Uint8Array): Promise<BlobRef>;
  /** Streams a file into the store without holding it in memory. */
  putFile(path: string): Promise<BlobRef>;
  /** Returns the bytes after checking they still hash to `digest`; throws BlobNotFoundError or BlobCorruptError. */
  get(digest: string): Promise<Buffer>;
  has(digest: string): Promise<boolean>;
  /**
   * Writes the blob as the file `path` (which must not exist), read-only. A store on the same filesystem may
   * hard-link instead of copying: the file then shares the blob's (immutable) bytes, and staging a dataset of
   * 70,000 images costs one system call per file rather than a read, a hash and a write.
   */
  writeTo(digest: string, path: string): Promise<void>;
  /** A URI a person can use to find the blob (file:// or gs://). */
  uri(digest: string): string;
  close(): Promise<void>;
}

export class BlobNotFoundError extends SightlineError {
  readonly digest: string;
  /** The store it was looked for in (a directory, or gs://BUCKET/PREFIX/…). */
  readonly location: string;
  constructor(digest: string, where: string) {
    super("not_found", "blob_not_found", `blob ${digest} not found in ${where}`);
    this.digest = digest;
    this.location = where;
  }
}

/** Stored bytes that no longer hash to their digest: the fields say what was expected and what is there. */
export class BlobCorruptError extends SightlineError {
  /** The digest the blob is stored under (the same as `expected`). */
  readonly digest: string;
  readonly expected: string;
  /** What its bytes hash to now, `sha256:<hex>`. */
  readonly actual: string;
  /** Where the bytes were read: a file path, or gs://BUCKET/KEY. */
  readonly location: string;
  constructor(digest: string, actual: string, where: string) {
    super("corrupt", "blob_corrupt", `blob ${digest} in ${where} is corrupt: its bytes hash to ${actual}`);
    this.digest = digest;
    this.expected = digest;
    this.actual = actual;
    this.location = where;
  }
}
