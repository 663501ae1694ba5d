import { mkdtempSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsBlobStore } from "../../core/blobs/fs-blob-store.ts";
import { blobKey } from "../../core/util/digest.ts";
import { blobStoreContract } from "../contract/blob-store.contract.ts";

const root = mkdtempSync(join(tmpdir(), "sightline-fs-blobs-"));

blobStoreContract("local filesystem", () => ({
  open: async () => new FsBlobStore(root),
  corrupt: async (_store, digest, bytes) => writeFile(join(root, blobKey(digest)), bytes),
}));
