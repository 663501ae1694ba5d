import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { makeEvent } from "../../core/events/envelope.ts";
import { PREDICTION_LINEAGE_DAYS, recordLineage } from "../../core/lineage/record.ts";
import { PREDICTIONS } from "../../core/lineage/store.ts";
import { EXPIRES_AT, expiresAfter } from "../../core/meta/metadata-store.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { parseHcl, read } from "../fixtures/deploy/support.ts";

const fresh = (): string => join(mkdtempSync(join(tmpdir(), "sightline-expiry-")), "meta.db");

describe("documents that expire (bounded growth of per-prediction lineage)", () => {
  it("the SQLite store deletes documents whose expireAt has passed, and nothing else", async () => {
    const store = new SqliteStore(fresh());
    // Times in the future of the wall clock, so the store's own pruning (from writes) leaves them alone.
    const now = new Date(Date.now() + 365 * 86_400_000);
    const at = (ms: number): string => new Date(now.getTime() + ms).toISOString();
    await store.put("things", "old", { n: 1, [EXPIRES_AT]: at(-1000) });
    await store.put("things", "young", { n: 2, [EXPIRES_AT]: at(1000) });
    await store.put("things", "forever", { n: 3 });
    await store.transaction(async (tx) => tx.set("things", "old-tx", { n: 4, [EXPIRES_AT]: at(-86_400_000) }));
    // Rewritten without the field: it no longer expires.
    await store.put("things", "kept", { n: 5, [EXPIRES_AT]: at(-86_400_000) });
    await store.put("things", "kept", { n: 5 });
    expect(await store.pruneExpired(now)).toBe(2);
    expect((await store.query("things")).map((d) => d.id)).toEqual(["forever", "kept", "young"]);
    expect((await store.get("things", "young"))?.data).toEqual({ n: 2, [EXPIRES_AT]: at(1000) });
    await store.close();
  });

  it("prunes by itself from the write path", async () => {
    const store = new SqliteStore(fresh());
    await store.put("things", "expired", { [EXPIRES_AT]: "2000-01-01T00:00:00.000Z" });
    // The first write of a store prunes (then at most every 10 minutes): the expired one is gone after it.
    expect(await store.get("things", "expired")).toBeUndefined();
    await store.close();
  });

  it("opens a file written before documents could expire", async () => {
    const path = fresh();
    const old = new DatabaseSync(path);
    old.exec(`CREATE TABLE docs (collection TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL,
      PRIMARY KEY (collection, id)) WITHOUT ROWID;
      INSERT INTO docs VALUES ('things', 'a', '{"n":1}', 1);`);
    old.close();
    const store = new SqliteStore(path);
    expect((await store.get("things", "a"))?.data).toEqual({ n: 1 });
    await store.put("things", "b", { [EXPIRES_AT]: "2000-01-01T00:00:00.000Z" });
    expect(await store.pruneExpired()).toBe(0);
    expect(await store.get("things", "b")).toBeUndefined();
    await store.close();
  });

  it("lineage gives each prediction's entry an expiry, PREDICTION_LINEAGE_DAYS after the prediction", async () => {
    const store = new SqliteStore(fresh());
    const time = new Date(Date.now() - 60_000).toISOString();
    const event = makeEvent("sightline.predictions.logged", {
      model: "fmnist",
      version: 1,
      dropped: 0,
      records: [{ requestId: "req-1", time, label: "bag", index: 8, confidence: 0.9, features: { brightness: 0.5 } }],
    });
    await recordLineage(store, event);
    const entry = (await store.get(PREDICTIONS, "req-1"))?.data;
    expect(entry?.[EXPIRES_AT]).toBe(expiresAfter(time, PREDICTION_LINEAGE_DAYS));
    await store.close();
  });

  it("terraform puts a TTL policy on that field of that collection, as the Firestore store names it", async () => {
    const tf = (await parseHcl("firestore.tf", read("terraform/firestore.tf"))) as {
      resource: Record<string, Record<string, Record<string, unknown>[]>>;
    };
    const field = tf.resource.google_firestore_field!.prediction_lineage_ttl![0]!;
    // FirestoreStore's default prefix "sightline": collection X is the root collection sightline_X.
    expect(field).toMatchObject({ collection: `sightline_${PREDICTIONS}`, field: EXPIRES_AT, ttl_config: [{}] });
  });
});
