import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { CorruptRecordError, defineCollection } from "../../core/meta/collection.ts";
import { compareAndSet, type MetadataStore } from "../../core/meta/metadata-store.ts";
import type { RaceResult, RaceTask } from "../support/meta-race.ts";

export interface MetadataStoreHarness {
  open(): Promise<MetadataStore>;
  /**
   * Runs `task` in `writers` concurrent writers, each with its own connection (for SQLite: its own process),
   * all started together, and returns each writer's result.
   */
  race(task: RaceTask): Promise<RaceResult[]>;
}

/** The behaviour every MetadataStore adapter must have. */
export function metadataStoreContract(name: string, harness: () => MetadataStoreHarness): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let store: MetadataStore;
    // A fresh collection per run keeps adapters that share a backend (one emulator) independent.
    const col = (base: string): string => `${base}_${randomUUID().slice(0, 8)}`;
    beforeAll(async () => {
      store = await harness().open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it("stores and returns nested JSON documents", async () => {
      const c = col("docs");
      const data = { name: "fmnist", n: 3, ok: true, none: null, spec: { width: 28, tags: ["a", "b"] } };
      await store.put(c, "one", data);
      expect(await store.get(c, "one")).toEqual({ id: "one", data });
      expect(await store.get(c, "two")).toBeUndefined();
      await store.put(c, "one", { replaced: 1 });
      expect((await store.get(c, "one"))?.data).toEqual({ replaced: 1 });
      await store.delete(c, "one");
      expect(await store.get(c, "one")).toBeUndefined();
    });

    it("raises CorruptRecordError, naming the collection and id, for a malformed document", async () => {
      const things = defineCollection({ name: col("typed"), schema: z.object({ name: z.string(), n: z.number() }) });
      await store.put(things.name, "good", { name: "a", n: 1 });
      await store.put(things.name, "bad", { name: "b", n: "one" });
      expect(await things.get(store, "good")).toEqual({ name: "a", n: 1 });
      const err = await things.get(store, "bad").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptRecordError);
      expect(err).toMatchObject({ kind: "corrupt", code: "corrupt_record", collection: things.name, id: "bad" });
      await expect(things.query(store)).rejects.toBeInstanceOf(CorruptRecordError);
      await expect(store.transaction((tx) => things.in(tx).get("bad"))).rejects.toBeInstanceOf(CorruptRecordError);
    });

    it("creates only when absent", async () => {
      const c = col("create");
      expect(await store.create(c, "k", { v: 1 })).toBe(true);
      expect(await store.create(c, "k", { v: 2 })).toBe(false);
      expect((await store.get(c, "k"))?.data).toEqual({ v: 1 });
    });

    it("refuses ids that would escape their collection", async () => {
      await expect(store.put("docs", "a/b", {})).rejects.toThrow(/invalid document id/);
      await expect(store.get("Bad Name", "x")).rejects.toThrow(/invalid collection/);
    });

    it("queries by field with order and limit", async () => {
      const c = col("versions");
      for (let v = 1; v <= 5; v++) await store.put(c, `m-${v}`, { model: "m", version: v, card: { acc: v / 10 } });
      await store.put(c, "other-1", { model: "other", version: 1, card: { acc: 0.9 } });
      const all = await store.query(c, { where: [{ field: "model", op: "==", value: "m" }] });
      expect(all.map((d) => d.id).sort()).toEqual(["m-1", "m-2", "m-3", "m-4", "m-5"]);
      const top = await store.query(c, {
        where: [{ field: "model", op: "==", value: "m" }],
        orderBy: { field: "version", direction: "desc" },
        limit: 2,
      });
      expect(top.map((d) => d.data.version)).toEqual([5, 4]);
      const nested = await store.query(c, {
        where: [{ field: "card.acc", op: ">=", value: 0.4 }],
        orderBy: { field: "card.acc" },
      });
      expect(nested.map((d) => d.id)).toEqual(["m-4", "m-5", "other-1"]);
    });

    it("commits a transaction's writes together, or none when it throws", async () => {
      const c = col("tx");
      await store.transaction(async (tx) => {
        tx.set(c, "a", { v: 1 });
        tx.set(c, "b", { v: 2 });
      });
      expect((await store.get(c, "a"))?.data).toEqual({ v: 1 });
      expect((await store.get(c, "b"))?.data).toEqual({ v: 2 });
      await expect(
        store.transaction(async (tx) => {
          tx.set(c, "a", { v: 10 });
          tx.delete(c, "b");
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect((await store.get(c, "a"))?.data).toEqual({ v: 1 });
      expect((await store.get(c, "b"))?.data).toEqual({ v: 2 });
    });

    it("reruns a transaction whose read changed before it committed", async () => {
      const c = col("occ");
      await store.put(c, "counter", { n: 0 });
      let runs = 0;
      const other = await harness().open();
      try {
        const result = await store.transaction(async (tx) => {
          runs++;
          const doc = await tx.get(c, "counter");
          const n = Number(doc?.data.n);
          // Another connection moves the document between our read and our commit, once.
          if (runs === 1) await other.put(c, "counter", { n: 100 });
          tx.set(c, "counter", { n: n + 1 });
          return n + 1;
        });
        expect(runs).toBeGreaterThanOrEqual(2);
        expect(result).toBe(101);
        expect((await store.get(c, "counter"))?.data).toEqual({ n: 101 });
      } finally {
        await other.close();
      }
    });

    it("compare-and-set wins only against the expected value", async () => {
      const c = col("cas");
      expect(await compareAndSet(store, c, "alias", undefined, { version: 1 })).toBe(true);
      expect(await compareAndSet(store, c, "alias", undefined, { version: 9 })).toBe(false);
      expect(await compareAndSet(store, c, "alias", { version: 2 }, { version: 3 })).toBe(false);
      expect(await compareAndSet(store, c, "alias", { version: 1 }, { version: 2 })).toBe(true);
      expect((await store.get(c, "alias"))?.data).toEqual({ version: 2 });
    });

    it("8 concurrent writers: exactly one wins each compare-and-set round", { timeout: 120_000 }, async () => {
      const collection = col("race");
      const rounds = 12;
      const results = await harness().race({ kind: "cas", collection, writers: 8, rounds });
      expect(results).toHaveLength(8);
      const claims = results.flatMap((r) => r.won.map((round) => ({ round, writer: r.writer })));
      expect(claims.map((c) => c.round).sort((a, b) => a - b)).toEqual(Array.from({ length: rounds }, (_, i) => i));
      const final = await store.get(collection, "slot");
      expect(final?.data.round).toBe(rounds);
      // The document's own log agrees with what each writer believes it won: nothing lost, nothing doubled.
      const log = final?.data.log as string[];
      expect(log).toHaveLength(rounds);
      for (const c of claims) expect(log[c.round]).toBe(c.writer);
    });

    it("8 concurrent writers: no increment is lost or doubled", { timeout: 120_000 }, async () => {
      const collection = col("counter");
      const results = await harness().race({ kind: "increment", collection, writers: 8, rounds: 10 });
      expect(results.reduce((s, r) => s + r.won.length, 0)).toBe(80);
      expect((await store.get(collection, "counter"))?.data.n).toBe(80);
    });
  });
}
