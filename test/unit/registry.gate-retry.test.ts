import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeEvent, type AnyCloudEvent, type CloudEvent } from "../../core/events/envelope.ts";
import type { EventBus } from "../../core/events/event-bus.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import type { Doc, JsonObject, MetadataStore, QueryOptions, Transaction } from "../../core/meta/metadata-store.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { getAlias } from "../../core/registry/aliases.ts";
import { listAudit } from "../../core/registry/audit.ts";
import { parsePolicy } from "../../core/registry/policy.ts";
import { DecisionInProgressError, gate, getDecision, promote } from "../../core/registry/promote.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { GOOD, putDataset, registerTestVersion } from "../support/registry.ts";
import { waitFor } from "../support/wait.ts";

const D1 = "1".repeat(64);
const AUTO = parsePolicy("absolute: { accuracy: 0.8 }\nrelative: { maxDrop: { accuracy: 0.01 } }\napproval: auto\n");
const quiet = createLogger({}, { level: "CRITICAL" });

/** The real SQLite store, with reads of one collection failing `failures` times (a transient backend error). */
class FlakyReads implements MetadataStore {
  failures = 0;
  readonly inner: MetadataStore;
  readonly collection: string;
  constructor(inner: MetadataStore, collection: string) {
    this.inner = inner;
    this.collection = collection;
  }
  async get(collection: string, id: string): Promise<Doc | undefined> {
    if (collection === this.collection && this.failures > 0) {
      this.failures--;
      throw new Error(`UNAVAILABLE: reading ${collection}/${id}`);
    }
    return this.inner.get(collection, id);
  }
  put(collection: string, id: string, data: JsonObject): Promise<void> {
    return this.inner.put(collection, id, data);
  }
  create(collection: string, id: string, data: JsonObject): Promise<boolean> {
    return this.inner.create(collection, id, data);
  }
  delete(collection: string, id: string): Promise<void> {
    return this.inner.delete(collection, id);
  }
  query(collection: string, options?: QueryOptions): Promise<Doc[]> {
    return this.inner.query(collection, options);
  }
  transaction<R>(fn: (tx: Transaction) => Promise<R>): Promise<R> {
    return this.inner.transaction(fn);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The real local bus, with publishes failing `failures` times. */
function flakyPublish(bus: EventBus): EventBus & { failures: number } {
  const wrapped = Object.create(bus) as EventBus & { failures: number };
  wrapped.failures = 0;
  wrapped.publish = async (event: AnyCloudEvent) => {
    if (wrapped.failures > 0) {
      wrapped.failures--;
      throw new Error("UNAVAILABLE: publishing");
    }
    await bus.publish(event);
  };
  return wrapped;
}

describe("the gate finishes a decision that failed midway", () => {
  let sqlite: SqliteStore;
  let meta: FlakyReads;
  let local: LocalBus;
  let bus: ReturnType<typeof flakyPublish>;
  let event: CloudEvent<"sightline.training.completed">;
  const promoted: AnyCloudEvent[] = [];

  beforeEach(async () => {
    const db = join(mkdtempSync(join(tmpdir(), "sightline-gate-retry-")), "meta.db");
    sqlite = new SqliteStore(db);
    meta = new FlakyReads(sqlite, "datasets");
    local = new LocalBus(db, { pollMs: 10, logger: quiet });
    bus = flakyPublish(local);
    promoted.length = 0;
    await local.subscribe("observer", ["sightline.model.promoted"], async (e) => void promoted.push(e));
    await putDataset(sqlite, D1);
    const v = await registerTestVersion(sqlite, "fmnist", D1, GOOD);
    event = makeEvent("sightline.training.completed", {
      requestId: v.requestId,
      runId: v.runId,
      model: "fmnist",
      version: v.version,
      datasetId: D1,
      modelDigest: v.modelDigest,
      cardDigest: v.cardDigest,
      configHash: "cfg",
      metrics: GOOD,
    });
  });
  afterEach(async () => {
    await local.close();
    await sqlite.close();
  });

  it("decides on the redelivery after a transient error once the claim was written", async () => {
    meta.failures = 1;
    await expect(gate({ meta, bus }, event, AUTO)).rejects.toThrow(/UNAVAILABLE/);
    const again = await gate({ meta, bus }, event, AUTO);
    expect(again.outcome).toBe("promoted");
    expect(again.rules.length).toBeGreaterThan(0);
    expect((await getDecision(sqlite, `gate-${event.id}`))?.outcome).toBe("promoted");
    expect((await getAlias(sqlite, "fmnist", "production"))?.version).toBe(1);
    await waitFor(() => promoted.length === 1, "the promotion event");
  });

  it("publishes model.promoted on the redelivery when the publish after the alias move failed", async () => {
    bus.failures = 1;
    await expect(gate({ meta, bus }, event, AUTO)).rejects.toThrow(/UNAVAILABLE/);
    expect((await getAlias(sqlite, "fmnist", "production"))?.version).toBe(1);
    const again = await gate({ meta, bus }, event, AUTO);
    expect(again).toMatchObject({ outcome: "promoted", published: true });
    await waitFor(() => promoted.length === 1, "the promotion event");
    expect(promoted[0]!.id).toBe(`model.promoted:gate-${event.id}`);
    // A further redelivery neither moves the alias again nor publishes again.
    await gate({ meta, bus }, event, AUTO);
    await new Promise((r) => setTimeout(r, 100));
    expect(promoted).toHaveLength(1);
    expect((await listAudit(sqlite, "fmnist")).map((a) => a.outcome)).toEqual(["applied"]);
  });

  it("asks for a redelivery instead of acknowledging while another delivery is deciding", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const slow = { evaluate: async () => (await held, GOOD) };
    await promote(
      { meta, bus },
      { name: "fmnist", version: 1, actor: "t", reason: "t", policy: AUTO.policy, policyDigest: AUTO.digest },
    );
    // A candidate on other data than production's: deciding evaluates (held here until released).
    const D2 = "2".repeat(64);
    await putDataset(sqlite, D2);
    const v2 = await registerTestVersion(sqlite, "fmnist", D2, GOOD);
    const e2 = makeEvent("sightline.training.completed", {
      requestId: v2.requestId,
      runId: v2.runId,
      model: "fmnist",
      version: v2.version,
      datasetId: D2,
      modelDigest: v2.modelDigest,
      cardDigest: v2.cardDigest,
      configHash: "cfg",
      metrics: GOOD,
    });
    const first = gate({ meta, bus }, e2, { ...AUTO, evaluator: slow });
    await waitFor(async () => (await getDecision(sqlite, `gate-${e2.id}`))?.outcome === "deciding", "the claim");
    await expect(gate({ meta, bus }, e2, AUTO)).rejects.toBeInstanceOf(DecisionInProgressError);
    release();
    expect((await first).outcome).toBe("promoted");
  });

  it("through the local bus: a delivery that failed midway is redelivered and the decision completes", async () => {
    meta.failures = 1;
    bus.failures = 1;
    await local.subscribe(
      "gate",
      ["sightline.training.completed"],
      async (e) => {
        if (e.type === "sightline.training.completed") await gate({ meta, bus }, e, AUTO);
      },
      { minBackoffSeconds: 0.01, maxBackoffSeconds: 0.05 },
    );
    await local.publish(event);
    await waitFor(
      async () => (await getDecision(sqlite, `gate-${event.id}`))?.published === true,
      "the decision to be published",
    );
    await waitFor(() => promoted.length === 1, "the promotion event");
    expect((await getDecision(sqlite, `gate-${event.id}`))?.outcome).toBe("promoted");
  });
});
