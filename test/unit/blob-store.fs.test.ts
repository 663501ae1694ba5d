import { mkdtempSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsBlobStore } from "../../core/blobs/fs-blob-store.ts";
import { blobKey } from "../../core/util/digest.ts";
import { blobStoreContract } from "../contract/blob-store.contract.ts";

const root = mkdtempSync(join(tmpdir(), "sightline-fs-blobs-"));

blobStoreContract("local filesystem", () => ({
  open: async () => new FsBlobStore(root),
  // Blob files are read-only: made writable first, as a faulty disk or a careless hand would not ask.
  corrupt: async (_store, digest, bytes) => {
    await chmod(join(root, blobKey(digest)), 0o644);
    await writeFile(join(root, blobKey(digest)), bytes);
  },
}));
