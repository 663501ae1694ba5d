import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AnyCloudEvent } from "../../core/events/envelope.ts";
import { makeEvent } from "../../core/events/envelope.ts";
import { LocalBus } from "../../core/events/local-bus.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { getAlias, listAliases, moveAlias } from "../../core/registry/aliases.ts";
import { listAudit } from "../../core/registry/audit.ts";
import { getVersion, listVersions, parseModelRef, registerVersion } from "../../core/registry/model-version.ts";
import { parsePolicy, loadPolicy } from "../../core/registry/policy.ts";
import { DecisionInProgressError, gate, promote, type Evaluator } from "../../core/registry/promote.ts";
import { rollback, RollbackError } from "../../core/registry/rollback.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { GOOD, putDataset, registerTestVersion } from "../support/registry.ts";
import { waitFor } from "../support/wait.ts";

const D1 = "1".repeat(64);
const D2 = "2".repeat(64);
const AUTO = parsePolicy(`
absolute: { accuracy: 0.8, macro_f1: { min: 0.75 } }
relative: { maxDrop: { accuracy: 0.01 }, maxClassRecallDrop: 0.05 }
approval: auto
`);
const MANUAL = parsePolicy("absolute: { accuracy: 0.8 }\napproval: manual\n");

describe("model registry, promotion and rollback", () => {
  let meta: SqliteStore;
  let bus: LocalBus;
  const events: AnyCloudEvent[] = [];
  beforeEach(async () => {
    const db = join(mkdtempSync(join(tmpdir(), "sightline-registry-")), "meta.db");
    meta = new SqliteStore(db);
    bus = new LocalBus(db, { pollMs: 10, logger: createLogger({}, { level: "CRITICAL" }) });
    events.length = 0;
    await bus.subscribe(
      "observer",
      ["sightline.model.promoted", "sightline.model.rolled_back"],
      async (e) => void events.push(e),
    );
    await putDataset(meta, D1);
  });
  afterEach(async () => {
    await bus.close();
    await meta.close();
  });
  const rt = (): { meta: SqliteStore; bus: LocalBus } => ({ meta, bus });
  const promoteAuto = (version: number, extra: Partial<Parameters<typeof promote>[1]> = {}) =>
    promote(rt(), {
      name: "fmnist",
      version,
      actor: "alice",
      reason: "test",
      policy: AUTO.policy,
      policyDigest: AUTO.digest,
      ...extra,
    });

  it("parses model references", () => {
    expect(parseModelRef("fmnist")).toEqual({ name: "fmnist" });
    expect(parseModelRef("fmnist@production")).toEqual({ name: "fmnist", alias: "production" });
    expect(parseModelRef("fmnist:12")).toEqual({ name: "fmnist", version: 12 });
    expect(() => parseModelRef("fmnist:0")).toThrow(/not NAME, NAME@ALIAS or NAME:VERSION/);
    expect(() => parseModelRef("Bad Name")).toThrow();
  });

  it("allocates distinct, gap-free versions to concurrent registrations", async () => {
    const versions = await Promise.all(Array.from({ length: 8 }, () => registerTestVersion(meta, "fmnist", D1, GOOD)));
    expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await listVersions(meta, "fmnist")).map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    await expect(registerVersion(meta, { ...versions[0]!, name: "Bad" })).rejects.toThrow(/invalid model name/);
  });

  it("moves an alias only from the expected version, auditing both outcomes", async () => {
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    const move = { name: "fmnist", alias: "staging", actor: "bob", reason: "try", action: "alias.set" as const };
    expect((await moveAlias(meta, { ...move, to: 1, expected: null })).ok).toBe(true);
    const lost = await moveAlias(meta, { ...move, to: 2, expected: null });
    expect(lost).toMatchObject({ ok: false, current: 1 });
    expect((await getAlias(meta, "fmnist", "staging"))?.version).toBe(1);
    expect((await listAudit(meta, "fmnist")).map((a) => a.outcome)).toEqual(["applied", "conflict"]);
    await expect(moveAlias(meta, { ...move, to: 9, expected: 1 })).rejects.toThrow(/fmnist:9 is not registered/);
  });

  it("re-promoting the production version moves nothing and adds no n → n audit record", async () => {
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    expect((await promoteAuto(1)).outcome).toBe("promoted");
    expect((await promoteAuto(2)).outcome).toBe("promoted");
    const before = await listAudit(meta, "fmnist");
    const again = await promoteAuto(2);
    expect(again.outcome).toBe("promoted");
    expect(await listAudit(meta, "fmnist")).toEqual(before);
    expect((await listAliases(meta, "fmnist")).map((a) => [a.alias, a.version])).toEqual([
      ["previous", 1],
      ["production", 2],
    ]);
    const move = { name: "fmnist", alias: "production", actor: "bob", reason: "same", action: "alias.set" as const };
    expect(await moveAlias(meta, { ...move, to: 2, expected: 2 })).toEqual({ ok: true, from: 2, audit: null });
    expect(await listAudit(meta, "fmnist")).toEqual(before);
  });

  it("promotes a first version that meets the policy and publishes the event", async () => {
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    const decision = await promoteAuto(1);
    expect(decision.outcome).toBe("promoted");
    expect(decision.rules.map((r) => [r.rule, r.passed])).toEqual(
      expect.arrayContaining([
        ["data-validation", true],
        ["absolute:accuracy", true],
        ["absolute:macro_f1", true],
        ["relative:accuracy", true],
      ]),
    );
    expect((await getAlias(meta, "fmnist", "production"))?.version).toBe(1);
    await waitFor(() => events.some((e) => e.type === "sightline.model.promoted"), "model.promoted");
    expect(events[0]?.data).toMatchObject({
      model: "fmnist",
      version: 1,
      alias: "production",
      actor: "alice",
      decisionId: decision.id,
    });
  });

  it("blocks a candidate below an absolute threshold or trained on unvalidated data, listing every rule", async () => {
    await registerTestVersion(meta, "fmnist", D1, { ...GOOD, accuracy: 0.5 });
    const low = await promoteAuto(1);
    expect(low.outcome).toBe("blocked");
    expect(low.rules.find((r) => r.rule === "absolute:accuracy")).toMatchObject({
      value: 0.5,
      threshold: "≥ 0.8",
      passed: false,
    });
    await putDataset(meta, D2, "skipped");
    await registerTestVersion(meta, "fmnist", D2, GOOD);
    const unvalidated = await promoteAuto(2);
    expect(unvalidated.rules.find((r) => r.rule === "data-validation")).toMatchObject({
      value: "skipped",
      passed: false,
    });
    expect(await getAlias(meta, "fmnist", "production")).toBeUndefined();
    expect((await listAudit(meta, "fmnist")).map((a) => a.outcome)).toEqual(["blocked", "blocked"]);
  });

  it("compares with production on the candidate's held-out data, evaluating production there when needed", async () => {
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    await promoteAuto(1);
    await putDataset(meta, D2);
    // v2 is evaluated on D2; production v1 never was, and without an evaluator the comparison cannot be made.
    await registerTestVersion(meta, "fmnist", D2, { ...GOOD, accuracy: 0.95 });
    const blind = await promoteAuto(2);
    expect(blind.outcome).toBe("blocked");
    expect(blind.rules.find((r) => r.rule === "relative:accuracy")?.detail).toMatch(
      /production v1 has no evaluation on dataset 222222222222/,
    );

    const broken = await promoteAuto(2, {
      evaluator: { evaluate: async () => Promise.reject(new Error("card missing")) },
    });
    expect(broken.outcome).toBe("blocked");
    expect(broken.rules.find((r) => r.rule === "relative:accuracy")?.detail).toBe(
      "evaluating production v1 failed: card missing",
    );

    const evaluated: string[] = [];
    const evaluator: Evaluator = {
      evaluate: async (model, datasetId) => {
        evaluated.push(`${model.version}@${datasetId.slice(0, 4)}`);
        return { accuracy: 0.97, macro_f1: 0.9, "recall/a": 0.95, "recall/b": 0.95 };
      },
    };
    const worse = await promoteAuto(2, { evaluator });
    // Production is evaluated on the candidate's data, and the candidate on production's (regression check).
    expect(evaluated).toEqual(["1@2222", "2@1111"]);
    expect(worse.outcome).toBe("blocked");
    expect(worse.rules.find((r) => r.rule === "relative:accuracy")).toMatchObject({ value: 0.02, passed: false });
    expect(worse.rules.find((r) => r.rule === "class-recall:b")).toMatchObject({ value: 0.09, passed: false });
    expect((await getVersion(meta, "fmnist", 1)).evaluations[D2]?.accuracy).toBe(0.97);

    await registerTestVersion(meta, "fmnist", D2, {
      accuracy: 0.975,
      macro_f1: 0.93,
      "recall/a": 0.96,
      "recall/b": 0.94,
    });
    const better = await promoteAuto(3, { evaluator });
    expect(evaluated).toEqual(["1@2222", "2@1111", "3@1111"]);
    expect(better.rules.find((r) => r.rule === "relative:accuracy@production-data")).toMatchObject({
      passed: true,
      value: -0.07,
    });
    expect(better.outcome).toBe("promoted");
    expect((await listAliases(meta, "fmnist")).map((a) => [a.alias, a.version])).toEqual([
      ["previous", 1],
      ["production", 3],
    ]);
  });

  it("blocks a candidate that is better on its new data but worse on production's held-out data", async () => {
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    await promoteAuto(1);
    await putDataset(meta, D2);
    await registerTestVersion(meta, "fmnist", D2, { ...GOOD, accuracy: 0.95 });
    const evaluator: Evaluator = {
      // Production does worse on the new data; the candidate does worse on the old.
      evaluate: async (model) => (model.version === 1 ? { ...GOOD, accuracy: 0.8 } : { ...GOOD, accuracy: 0.85 }),
    };
    const decision = await promoteAuto(2, { evaluator });
    expect(decision.rules.find((r) => r.rule === "relative:accuracy")?.passed).toBe(true);
    expect(decision.rules.find((r) => r.rule === "relative:accuracy@production-data")).toMatchObject({
      passed: false,
      value: 0.05,
    });
    expect(decision.outcome).toBe("blocked");
  });

  it("waits for a person when the policy says manual", async () => {
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    const manual = {
      name: "fmnist",
      version: 1,
      actor: "ci",
      reason: "r",
      policy: MANUAL.policy,
      policyDigest: MANUAL.digest,
    };
    expect((await promote(rt(), manual)).outcome).toBe("pending_approval");
    expect((await promote(rt(), { ...manual, askApproval: async () => false })).outcome).toBe("rejected");
    expect(await getAlias(meta, "fmnist", "production")).toBeUndefined();
    const approved = await promote(rt(), { ...manual, askApproval: async (d) => d.rules.every((r) => r.passed) });
    expect(approved).toMatchObject({ outcome: "promoted", approval: "approved" });
    expect((await listAudit(meta, "fmnist")).map((a) => a.outcome)).toEqual([
      "pending_approval",
      "rejected",
      "applied",
    ]);
  });

  it("two promotions racing on one model: one wins, the other gets a conflict, the audit shows both", async () => {
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    await promoteAuto(1);
    await putDataset(meta, D2);
    await registerTestVersion(meta, "fmnist", D2, GOOD);
    await registerTestVersion(meta, "fmnist", D2, GOOD);
    // Both read production (v1) before either moves it: the evaluator holds each until both have arrived.
    let arrived = 0;
    let release: () => void = () => {};
    const barrier = new Promise<void>((r) => (release = r));
    const evaluator: Evaluator = {
      evaluate: async () => {
        if (++arrived === 2) release();
        await barrier;
        return GOOD;
      },
    };
    const [a, b] = await Promise.all([promoteAuto(2, { evaluator }), promoteAuto(3, { evaluator })]);
    expect([a.outcome, b.outcome].sort()).toEqual(["conflict", "promoted"]);
    const winner = a.outcome === "promoted" ? 2 : 3;
    expect((await getAlias(meta, "fmnist", "production"))?.version).toBe(winner);
    const attempts = (await listAudit(meta, "fmnist")).filter((r) => r.action === "promotion" && r.from === 1);
    expect(attempts.map((r) => [r.to, r.outcome]).sort()).toEqual(
      [
        [2, winner === 2 ? "applied" : "conflict"],
        [3, winner === 3 ? "applied" : "conflict"],
      ].sort(),
    );
  });

  it("gates a training.completed event once, however often it is delivered", async () => {
    const v = await registerTestVersion(meta, "fmnist", D1, GOOD);
    const event = makeEvent("sightline.training.completed", {
      requestId: v.requestId,
      runId: v.runId,
      model: "fmnist",
      version: 1,
      datasetId: D1,
      modelDigest: v.modelDigest,
      cardDigest: v.cardDigest,
      configHash: "cfg",
      metrics: GOOD,
    });
    // Two deliveries at once, then a redelivery: one decision, one promotion.
    const settled = await Promise.allSettled([gate(rt(), event, AUTO), gate(rt(), event, AUTO)]);
    const again = await gate(rt(), event, AUTO);
    // The other delivery sees the claim (and throws, to be redelivered) or, if it retried late, the finished decision.
    const outcomes = settled.map((s) =>
      s.status === "fulfilled"
        ? s.value.outcome
        : s.reason instanceof DecisionInProgressError
          ? "in progress"
          : String(s.reason),
    );
    expect(outcomes).toContain("promoted");
    for (const o of outcomes) expect(["promoted", "in progress"]).toContain(o);
    expect(again.outcome).toBe("promoted");
    expect(again.id).toBe(`gate-${event.id}`);
    await waitFor(() => events.length >= 1, "promotion event");
    await new Promise((r) => setTimeout(r, 100));
    expect(events.filter((e) => e.type === "sightline.model.promoted")).toHaveLength(1);
    // Only one delivery decided: no second attempt at the alias, so no conflict record either.
    expect((await listAudit(meta, "fmnist")).map((a) => a.outcome)).toEqual(["applied"]);
  });

  it("rolls back: intent first, then the move, then the event; the version left becomes previous", async () => {
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    await registerTestVersion(meta, "fmnist", D1, GOOD);
    await expect(rollback(rt(), { name: "fmnist", actor: "ops", reason: "bad" })).rejects.toThrow(
      /fmnist@production is not registered/,
    );
    await promoteAuto(1);
    await expect(rollback(rt(), { name: "fmnist", actor: "ops", reason: "bad" })).rejects.toBeInstanceOf(RollbackError);
    await promoteAuto(2);
    const result = await rollback(rt(), { name: "fmnist", actor: "ops", reason: "latency regression" });
    expect(result).toMatchObject({ ok: true, from: 2, to: 1 });
    expect((await listAliases(meta, "fmnist")).map((a) => [a.alias, a.version])).toEqual([
      ["previous", 2],
      ["production", 1],
    ]);
    const trail = (await listAudit(meta, "fmnist")).filter((a) => a.action === "rollback");
    expect(trail.map((a) => [a.outcome, a.from, a.to, a.reason])).toEqual([
      ["intent", 2, 1, "latency regression"],
      ["applied", 2, 1, "latency regression"],
    ]);
    await waitFor(() => events.some((e) => e.type === "sightline.model.rolled_back"), "rolled_back event");
    expect(events.find((e) => e.type === "sightline.model.rolled_back")?.data).toMatchObject({
      fromVersion: 2,
      toVersion: 1,
      actor: "ops",
    });
  });

  it("ships a default policy that parses", async () => {
    const { policy } = await loadPolicy();
    expect(policy.absolute.accuracy?.min).toBeGreaterThan(0);
    expect(() => parsePolicy("absolute: { accuracy: high }")).toThrow(/promotion policy is invalid/);
    expect(() => parsePolicy("aproval: auto")).toThrow(/aproval/);
  });
});
