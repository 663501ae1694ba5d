import { randomUUID } from "node:crypto";
import { Storage } from "@google-cloud/storage";
import { describe, inject } from "vitest";
import { GcsBlobStore } from "../../core/blobs/gcs-blob-store.ts";
import { blobStoreContract } from "../contract/blob-store.contract.ts";

const BUCKET = "sightline-test";
const hosts = inject("emulators");
const host = hosts.gcs;

if (!host) {
  describe.skip(`GcsBlobStore on the Cloud Storage emulator (${hosts.skipped.gcs ?? "not running"})`, () => {});
} else {
  const apiEndpoint = `http://${host}`;
  // A prefix of its own per run (and per file), so runs against a shared emulator or bucket never meet.
  const prefix = `run-${randomUUID()}/blobs`;
  const storage = new Storage({ apiEndpoint, projectId: "sightline-test" });

  blobStoreContract("GcsBlobStore (Cloud Storage emulator)", () => ({
    open: () => Promise.resolve(new GcsBlobStore({ bucket: BUCKET, prefix, apiEndpoint, projectId: "sightline-test" })),
    corrupt: async (store, digest, bytes) => {
      const name = (store as GcsBlobStore).objectName(digest);
      await storage.bucket(BUCKET).file(name).save(Buffer.from(bytes), { resumable: false });
    },
  }));
}
