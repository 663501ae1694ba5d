import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Storage, type CreateWriteStreamOptions, type File } from "@google-cloud/storage";
import { blobKey, digestHex, digestOf, digestOfFile, sha256Hex } from "../util/digest.ts";
import { BlobCorruptError, BlobNotFoundError, type BlobRef, type BlobStore } from "./blob-store.ts";
import { SightlineError } from "../errors.ts";

export interface GcsBlobStoreOptions {
  bucket: string;
  /** Object-name prefix, e.g. `sightline` (no leading or trailing slash needed). Empty: bucket root. */
  prefix?: string;
  /** A ready client; when given, apiEndpoint and projectId are ignored. */
  storage?: Storage;
  /**
   * A custom endpoint such as an emulator, `http://127.0.0.1:PORT`. The client then sends no credentials
   * (the `@google-cloud/storage` default for custom endpoints). Without it: storage.googleapis.com with ADC.
   */
  apiEndpoint?: string;
  projectId?: string;
}

/** Files at least this large are uploaded with a resumable session (real GCS); smaller ones in one request. */
const RESUMABLE_FROM_BYTES = 32 * 1024 * 1024;
const CONTENT_TYPE = "application/octet-stream";

/**
 * BlobStore on a Cloud Storage bucket.
 *
 * Layout: `gs://<bucket>/<prefix>/sha256/<first 2 hex>/<64 hex>`, the same tree as the local store under its root
 * (so `SIGHTLINE_BLOBS=gs://bucket/prefix` names the blobs root, like `file://…/blobs`).
 *
 * Blobs are immutable and content-addressed. A put checks whether the object exists and otherwise uploads with the
 * precondition `ifGenerationMatch: 0` (create only): a 412 means a concurrent writer stored it first, which is
 * success because the content is by definition the same. (Emulators may ignore the precondition; an overwrite
 * with identical bytes is harmless.) Reads verify the sha256 of the bytes.
 *
 * Retries: the client's own retry policy is kept (exponential backoff on 408/429/5xx and network errors; 404 and
 * 412 are never retried). Uploads carry a precondition, so the client treats them as idempotent and retries them.
 */
export class GcsBlobStore implements BlobStore {
  readonly bucketName: string;
  readonly prefix: string;
  private readonly storage: Storage;

  constructor(options: GcsBlobStoreOptions) {
    if (!options.bucket || options.bucket.includes("/")) {
      throw new SightlineError(
        "config",
        "gcs_bucket_invalid",
        `GcsBlobStore: invalid bucket name ${JSON.stringify(options.bucket)}`,
      );
    }
    this.bucketName = options.bucket;
    this.prefix = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
    this.storage =
      options.storage ??
      new Storage({
        ...(options.apiEndpoint !== undefined ? { apiEndpoint: options.apiEndpoint } : {}),
        ...(options.projectId !== undefined ? { projectId: options.projectId } : {}),
      });
  }

  /** `gs://bucket/some/prefix` → a store; the other options (endpoint, project, client) pass through. */
  static fromUri(uri: string, options: Omit<GcsBlobStoreOptions, "bucket" | "prefix"> = {}): GcsBlobStore {
    const m = /^gs:\/\/([^/]+)\/?(.*)$/.exec(uri);
    if (!m?.[1])
      throw new SightlineError(
        "config",
        "gcs_uri_invalid",
        `not a Cloud Storage URI: ${JSON.stringify(uri)} (expected gs://bucket[/prefix])`,
      );
    return new GcsBlobStore({ ...options, bucket: m[1], prefix: m[2] ?? "" });
  }

  /** The object name of a blob (validates the digest). */
  objectName(digest: string): string {
    const key = blobKey(digest);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  uri(digest: string): string {
    return `gs://${this.bucketName}/${this.objectName(digest)}`;
  }

  async put(data: Uint8Array): Promise<BlobRef> {
    const ref: BlobRef = { digest: digestOf(data), size: data.byteLength };
    const file = this.file(ref.digest);
    if (await this.exists(file)) return ref;
    const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      await file.save(body, this.writeOptions(ref.digest, false));
    } catch (err) {
      if (statusOf(err) === 412) return ref; // created meanwhile by another writer: same bytes
      throw this.error("upload", file, err);
    }
    return ref;
  }

  async putFile(path: string): Promise<BlobRef> {
    const ref = await digestOfFile(path);
    const file = this.file(ref.digest);
    if (await this.exists(file)) return ref;
    // Hash the bytes again as they are sent: if the file changed since it was hashed, the object would not match
    // its name, so it is removed and the put fails.
    const hash = createHash("sha256");
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(
        createReadStream(path),
        tap,
        file.createWriteStream(this.writeOptions(ref.digest, ref.size >= RESUMABLE_FROM_BYTES)),
      );
    } catch (err) {
      if (statusOf(err) === 412) return ref;
      throw this.error(`upload of ${path}`, file, err);
    }
    const sent = `sha256:${hash.digest("hex")}`;
    if (sent !== ref.digest || size !== ref.size) {
      await file.delete({ ignoreNotFound: true }).catch(() => undefined);
      throw new SightlineError(
        "conflict",
        "blob_source_changed",
        `${path} changed while it was stored in ${this.uri(ref.digest)} (hashed ${ref.digest}, sent ${sent}); removed it`,
      );
    }
    return ref;
  }

  async get(digest: string): Promise<Buffer> {
    const file = this.file(digest);
    let bytes: Buffer;
    try {
      [bytes] = await file.download();
    } catch (err) {
      if (statusOf(err) === 404) throw new BlobNotFoundError(digest, this.where(file));
      throw this.error("download", file, err);
    }
    const actual = `sha256:${sha256Hex(bytes)}`;
    if (actual !== digest) throw new BlobCorruptError(digest, actual, this.where(file));
    return bytes;
  }

  async writeTo(digest: string, path: string): Promise<void> {
    await writeFile(path, await this.get(digest), { flag: "wx", mode: 0o444 });
  }

  async has(digest: string): Promise<boolean> {
    return this.exists(this.file(digest));
  }

  /** The client holds no sockets or timers that need releasing; nothing to do. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  private file(digest: string): File {
    return this.storage.bucket(this.bucketName).file(this.objectName(digest));
  }

  private async exists(file: File): Promise<boolean> {
    try {
      const [exists] = await file.exists();
      return exists;
    } catch (err) {
      throw this.error("existence check", file, err);
    }
  }

  private writeOptions(digest: string, resumable: boolean): CreateWriteStreamOptions {
    return {
      resumable,
      contentType: CONTENT_TYPE,
      gzip: false,
      validation: "crc32c",
      preconditionOpts: { ifGenerationMatch: 0 },
      metadata: { cacheControl: "private, max-age=31536000, immutable", metadata: { sha256: digestHex(digest) } },
    };
  }

  private where(file: File): string {
    return `gs://${this.bucketName}/${file.name}`;
  }

  private error(what: string, file: File, err: unknown): Error {
    const status = statusOf(err);
    const message = err instanceof Error ? err.message : String(err);
    return new Error(
      `Cloud Storage ${what} failed for ${this.where(file)}${status !== undefined ? ` (HTTP ${status})` : ""}: ${message}`,
      { cause: err },
    );
  }
}

/** The HTTP status of a client error (`ApiError.code`), when there is one. */
function statusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "number") return code;
  if (typeof code === "string" && /^\d{3}$/.test(code)) return Number(code);
  return undefined;
}
