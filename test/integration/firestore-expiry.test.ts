import { randomUUID } from "node:crypto";
import { Timestamp } from "@google-cloud/firestore";
import { afterAll, describe, expect, inject, it } from "vitest";
import { FirestoreStore } from "../../core/meta/firestore-store.ts";
import { EXPIRES_AT } from "../../core/meta/metadata-store.ts";

const emulators = inject("emulators");
const host = emulators.firestore;
const projectId = `sightline-test-${randomUUID().slice(0, 8)}`;

if (host === undefined) {
  describe.skip(`Firestore expiry (${emulators.skipped.firestore ?? "emulator not running"})`, () => {});
} else {
  describe("FirestoreStore writes expireAt as a Timestamp (what a TTL policy acts on)", () => {
    const store = new FirestoreStore({ projectId, host, prefix: "sightline" });
    afterAll(() => store.close());
    const expires = "2027-03-02T10:11:12.345Z";
    const raw = async (collection: string, id: string): Promise<unknown> =>
      (await store.db.collection(`sightline_${collection}`).doc(id).get()).get(EXPIRES_AT);

    it("stores it as a Timestamp on put, create and in transactions, and reads it back as the same ISO time", async () => {
      await store.put("expiring", "put", { n: 1, [EXPIRES_AT]: expires });
      await store.create("expiring", "create", { n: 2, [EXPIRES_AT]: expires });
      await store.transaction(async (tx) => tx.set("expiring", "tx", { n: 3, [EXPIRES_AT]: expires }));
      // A transaction that read the document replaces it through an update with a precondition.
      await store.transaction(async (tx) => {
        const doc = await tx.get("expiring", "put");
        tx.set("expiring", "put", { ...doc!.data, n: 4 });
      });
      for (const id of ["put", "create", "tx"]) {
        const stored = await raw("expiring", id);
        expect(stored, id).toBeInstanceOf(Timestamp);
        expect((stored as Timestamp).toDate().toISOString()).toBe(expires);
        expect((await store.get("expiring", id))?.data[EXPIRES_AT]).toBe(expires);
      }
      expect((await store.get("expiring", "put"))?.data).toEqual({ n: 4, [EXPIRES_AT]: expires });
      const listed = await store.query("expiring");
      expect(listed.map((d) => d.data[EXPIRES_AT])).toEqual([expires, expires, expires]);
    });

    it("refuses an expireAt that is not a time, naming the document", async () => {
      await expect(store.put("expiring", "bad", { [EXPIRES_AT]: "soon" })).rejects.toThrow(
        /expiring\/bad: expireAt must be an ISO time/,
      );
    });
  });
}
