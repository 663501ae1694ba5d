import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobCorruptError, BlobNotFoundError, type BlobStore } from "../../core/blobs/blob-store.ts";
import { digestOf } from "../../core/util/digest.ts";

export interface BlobStoreHarness {
  open(): Promise<BlobStore>;
  /** Overwrites the stored bytes of a blob behind the store's back. */
  corrupt(store: BlobStore, digest: string, bytes: Uint8Array): Promise<void>;
}

/** The behaviour every BlobStore adapter must have. */
export function blobStoreContract(name: string, harness: () => BlobStoreHarness): void {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;
    let scratch: string;
    beforeAll(async () => {
      store = await harness().open();
      scratch = await mkdtemp(join(tmpdir(), "sightline-blob-contract-"));
    });
    afterAll(async () => {
      await store?.close();
      await rm(scratch, { recursive: true, force: true });
    });

    it("addresses content by its sha256 and returns the same bytes", async () => {
      const data = randomBytes(1000);
      const ref = await store.put(data);
      expect(ref).toEqual({ digest: digestOf(data), size: 1000 });
      expect(await store.has(ref.digest)).toBe(true);
      expect(Buffer.compare(await store.get(ref.digest), data)).toBe(0);
      expect(store.uri(ref.digest)).toContain(ref.digest.slice("sha256:".length));
    });

    it("writes a blob out as a read-only file, refuses to overwrite one, and names a missing blob", async () => {
      const data = randomBytes(500);
      const ref = await store.put(data);
      const path = join(scratch, `out-${Math.random()}`);
      await store.writeTo(ref.digest, path);
      expect(Buffer.compare(await readFile(path), data)).toBe(0);
      expect((await stat(path)).mode & 0o222).toBe(0);
      await expect(store.writeTo(ref.digest, path)).rejects.toThrow(/EEXIST/);
      // The blob itself is unchanged and still readable after the file was written out.
      expect(Buffer.compare(await store.get(ref.digest), data)).toBe(0);
      await expect(store.writeTo(digestOf("never stored"), join(scratch, "missing"))).rejects.toBeInstanceOf(
        BlobNotFoundError,
      );
    });

    it("treats a second write of the same content as a no-op", async () => {
      const data = Buffer.from(`same content ${Math.random()}`);
      const first = await store.put(data);
      const second = await store.put(Buffer.from(data));
      expect(second).toEqual(first);
      expect((await store.get(first.digest)).toString()).toBe(data.toString());
    });

    it("survives concurrent writers of the same and of different content", async () => {
      const same = randomBytes(64 * 1024);
      const distinct = Array.from({ length: 10 }, () => randomBytes(2048));
      const refs = await Promise.all([
        ...Array.from({ length: 10 }, () => store.put(same)),
        ...distinct.map((d) => store.put(d)),
      ]);
      expect(new Set(refs.slice(0, 10).map((r) => r.digest)).size).toBe(1);
      expect(Buffer.compare(await store.get(digestOf(same)), same)).toBe(0);
      for (const d of distinct) expect(Buffer.compare(await store.get(digestOf(d)), d)).toBe(0);
    });

    it("streams a file in and gives it the digest of its bytes", async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const path = join(scratch, "big.bin");
      await writeFile(path, data);
      const ref = await store.putFile(path);
      expect(ref).toEqual({ digest: digestOf(data), size: data.length });
      expect(Buffer.compare(await store.get(ref.digest), data)).toBe(0);
      expect(await store.putFile(path)).toEqual(ref);
    });

    it("stores empty content", async () => {
      const ref = await store.put(new Uint8Array());
      expect(ref.size).toBe(0);
      expect((await store.get(ref.digest)).length).toBe(0);
    });

    it("reports a missing blob with a typed error", async () => {
      const missing = digestOf(randomBytes(32));
      expect(await store.has(missing)).toBe(false);
      await expect(store.get(missing)).rejects.toBeInstanceOf(BlobNotFoundError);
    });

    it("refuses a malformed digest", async () => {
      await expect(store.get("sha256:../../etc/passwd")).rejects.toThrow(/not a sha256 digest/);
      await expect(store.has("md5:abc")).rejects.toThrow(/not a sha256 digest/);
    });

    it("detects bytes changed behind its back", async () => {
      const data = randomBytes(512);
      const ref = await store.put(data);
      await harness().corrupt(store, ref.digest, Buffer.from("tampered"));
      await expect(store.get(ref.digest)).rejects.toBeInstanceOf(BlobCorruptError);
    });
  });
}
