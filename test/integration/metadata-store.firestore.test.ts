import { randomUUID } from "node:crypto";
import { describe, expect, inject, it } from "vitest";
import { FirestoreStore } from "../../core/meta/firestore-store.ts";
import { ConflictError } from "../../core/meta/metadata-store.ts";
import { metadataStoreContract } from "../contract/metadata-store.contract.ts";
import { runRace } from "../support/meta-race.ts";

const emulators = inject("emulators");
const host = emulators.firestore;
// One project per run keeps runs that share an emulator apart (the contract also uses fresh collections).
const projectId = `sightline-test-${randomUUID().slice(0, 8)}`;

if (host === undefined) {
  describe.skip(`MetadataStore contract: firestore (${emulators.skipped.firestore ?? "emulator not running"})`, () => {});
} else {
  const open = (maxAttempts?: number): FirestoreStore =>
    new FirestoreStore({ projectId, host, prefix: "sightline", ...(maxAttempts !== undefined ? { maxAttempts } : {}) });

  metadataStoreContract("firestore", () => ({
    open: () => Promise.resolve(open()),
    async race(task) {
      // Every writer gets its own client, hence its own gRPC channel, and all start together.
      const stores = Array.from({ length: task.writers }, () => open());
      try {
        return await Promise.all(stores.map((store, i) => runRace(store, task, `writer-${i}`)));
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    },
  }));

  describe("FirestoreStore specifics", () => {
    it("refuses arrays directly inside arrays, naming the document and field", async () => {
      const store = open();
      try {
        await expect(store.put("nested", "doc-1", { spec: { grid: [[1, 2]] } })).rejects.toThrow(
          "Firestore cannot store an array directly inside an array: nested/doc-1 field spec.grid[0]",
        );
        await expect(
          store.transaction(async (tx) => tx.set("nested", "doc-2", { rows: [{ cells: [1] }, [2]] })),
        ).rejects.toThrow(/nested\/doc-2 field rows\[1\]/);
        await store.put("nested", "doc-3", { rows: [{ cells: [1, 2] }] });
        expect((await store.get("nested", "doc-3"))?.data).toEqual({ rows: [{ cells: [1, 2] }] });
      } finally {
        await store.close();
      }
    });

    it("throws ConflictError when every attempt loses", async () => {
      const store = open(2);
      const other = open();
      try {
        await store.put("conflict", "c", { n: 0 });
        let n = 0;
        const attempt = store.transaction(async (tx) => {
          const doc = await tx.get("conflict", "c");
          await other.put("conflict", "c", { n: ++n * 100 });
          tx.set("conflict", "c", { n: Number(doc?.data.n) + 1 });
        });
        await expect(attempt).rejects.toBeInstanceOf(ConflictError);
        expect((await store.get("conflict", "c"))?.data).toEqual({ n: 200 });
      } finally {
        await Promise.all([store.close(), other.close()]);
      }
    });
  });
}
