import { createHash, randomUUID } from "node:crypto";
import { constants, createReadStream, createWriteStream } from "node:fs";
import { access, chmod, copyFile, link, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { pathToFileURL } from "node:url";
import { blobKey, digestOf, sha256Hex } from "../util/digest.ts";
import { BlobCorruptError, BlobNotFoundError, type BlobRef, type BlobStore } from "./blob-store.ts";

/** Blob files are written read-only: they are immutable, and staged datasets hard-link them (writeTo). */
const READ_ONLY = 0o444;

/**
 * Blobs as files under `root/sha256/ab/<hex>`. Writes go to a unique temp file in the same directory and are
 * renamed into place, so readers never see a partial blob and concurrent writers of the same content both succeed.
 */
export class FsBlobStore implements BlobStore {
  readonly root: string;
  /** Fan-out directories known to exist, so each is created once per process rather than once per write. */
  private readonly dirs = new Set<string>();
  constructor(root: string) {
    this.root = resolve(root);
  }

  private path(digest: string): string {
    return join(this.root, blobKey(digest));
  }

  async put(data: Uint8Array): Promise<BlobRef> {
    const ref = { digest: digestOf(data), size: data.byteLength };
    const target = this.path(ref.digest);
    if (await exists(target)) return ref;
    await this.place(target, (tmp) => writeFile(tmp, data, { flag: "wx", mode: READ_ONLY }));
    return ref;
  }

  async writeTo(digest: string, path: string): Promise<void> {
    const source = this.path(digest);
    try {
      // The link shares the blob's read-only inode: a trainer writing to its staged file cannot change the blob.
      await link(source, path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" && !(await exists(source))) throw new BlobNotFoundError(digest, this.root);
      // Another filesystem, or one without hard links: a copy (still no hashing: the blob was checked when stored).
      if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP") throw err;
      await copyFile(source, path, constants.COPYFILE_EXCL);
      await chmod(path, READ_ONLY);
    }
  }

  async putFile(path: string): Promise<BlobRef> {
    if ((await stat(path)).size <= IN_MEMORY_LIMIT) return this.put(await readFile(path));
    // Hash while copying to a temp file, so the file is read once and a file changing underneath cannot
    // end up stored under another content's digest.
    await mkdir(join(this.root, "tmp"), { recursive: true });
    const tmp = join(this.root, "tmp", `${randomUUID()}.part`);
    const hash = createHash("sha256");
    let size = 0;
    try {
      await pipeline(
        createReadStream(path),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            hash.update(chunk);
            size += chunk.length;
            yield chunk;
          }
        },
        createWriteStream(tmp, { flags: "wx", mode: READ_ONLY }),
      );
      const digest = `sha256:${hash.digest("hex")}`;
      const target = this.path(digest);
      if (!(await exists(target))) {
        await this.ensureDir(dirname(target));
        await rename(tmp, target);
      }
      return { digest, size };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async get(digest: string): Promise<Buffer> {
    const path = this.path(digest);
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new BlobNotFoundError(digest, this.root);
      throw new Error(`reading blob ${digest} from ${path}: ${(err as Error).message}`, { cause: err });
    }
    const actual = `sha256:${sha256Hex(data)}`;
    if (actual !== digest) throw new BlobCorruptError(digest, actual, path);
    return data;
  }

  async has(digest: string): Promise<boolean> {
    return exists(this.path(digest));
  }

  uri(digest: string): string {
    return pathToFileURL(this.path(digest)).href;
  }

  async close(): Promise<void> {}

  private async ensureDir(dir: string): Promise<void> {
    if (this.dirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.dirs.add(dir);
  }

  private async place(target: string, write: (tmp: string) => Promise<void>): Promise<void> {
    await this.ensureDir(dirname(target));
    const tmp = `${target}.${randomUUID()}.part`;
    try {
      await write(tmp);
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

/** Files up to this size are read whole: one read, and no write at all when the blob is already stored. */
const IN_MEMORY_LIMIT = 1024 * 1024;

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
