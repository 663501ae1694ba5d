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

export class BlobNotFoundError extends Error {
  readonly digest: string;
  constructor(digest: string, where: string) {
    super(`blob ${digest} not found in ${where}`);
    this.name = "BlobNotFoundError";
    this.digest = digest;
  }
}

export class BlobCorruptError extends Error {
  readonly digest: string;
  constructor(digest: string, actual: string, where: string) {
    super(`blob ${digest} in ${where} is corrupt: its bytes hash to ${actual}`);
    this.name = "BlobCorruptError";
    this.digest = digest;
  }
}
