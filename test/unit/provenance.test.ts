import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, ModelProvenance } from "../../console/api/schemas.ts";
import { createConsoleApp } from "../../console/server/app.ts";
import { Reports, type DriftReportRecord } from "../../core/drift/detect.ts";
import { putRun, type RunRecord } from "../../core/jobs/run-record.ts";
import { parsePolicy } from "../../core/registry/policy.ts";
import { promote, type Decision } from "../../core/registry/promote.ts";
import { modelProvenance, provenanceLine, versionProvenance } from "../../core/registry/provenance.ts";
import { RetrainDecisions } from "../../core/retrain/trigger.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { lineageWorld, MODEL } from "../support/lineage-world.ts";

const run = (over: Partial<RunRecord> & Pick<RunRecord, "runId" | "requestId" | "datasetId">): RunRecord => ({
  model: MODEL,
  trainer: { kind: "builtin", args: {} },
  status: "succeeded",
  startedAt: "2026-11-02T09:30:00.000Z",
  finishedAt: "2026-11-02T09:35:00.000Z",
  metrics: [],
  invalidMetricLines: 0,
  ...over,
});

const REPORT = `${MODEL}:1:4`;

/**
 * Why each version exists, over lineageWorld's registry (v2 was requested by req-3) plus the records the retrain
 * function, the drift function, the trainer and the gate leave: a drift report, the retrain decision that started
 * req-3 (and one that skipped another report), both runs, and gate decisions on v2 (blocked, then promoted).
 */
describe("version provenance (core's read model, the console's Why this version?)", () => {
  let world: Awaited<ReturnType<typeof lineageWorld>>;
  let server: Server;
  let base: string;
  let blocked: Decision;
  let promoted: Decision;
  beforeAll(async () => {
    world = await lineageWorld();
    const report: DriftReportRecord = {
      reportId: REPORT,
      model: MODEL,
      version: 1,
      seq: 4,
      drift: true,
      severity: 0.67,
      reason: "share",
      driftedTests: ["brightness", "embedding"],
      window: { from: "2026-11-02T09:20:00.000Z", to: "2026-11-02T09:25:00.000Z", count: 500 },
      digest: `sha256:${"d".repeat(64)}`,
      profileDigest: `sha256:${"p".repeat(64)}`,
      createdAt: "2026-11-02T09:26:00.000Z",
    };
    await Reports.put(world.meta, REPORT, report);
    await RetrainDecisions.put(world.meta, REPORT, {
      reportId: REPORT,
      model: MODEL,
      outcome: "started",
      requestId: world.v2.requestId,
      job: "train-req-3",
      datasetId: world.dataset.id,
      time: "2026-11-02T09:26:01.000Z",
    });
    // A later report the retrain function skipped: it names no request, so it explains no version.
    await RetrainDecisions.put(world.meta, `${MODEL}:1:5`, {
      reportId: `${MODEL}:1:5`,
      model: MODEL,
      outcome: "skipped",
      reason: "drift episode already retraining",
      time: "2026-11-02T09:27:00.000Z",
    });
    await putRun(
      world.meta,
      run({ runId: "run-1", requestId: "req-1", datasetId: world.dataset.id, tags: { trigger: "cli" } }),
    );
    await putRun(world.meta, run({ runId: "run-3", requestId: "req-3", datasetId: world.dataset.id }));
    const strict = parsePolicy("absolute: { accuracy: 0.99 }\n");
    const lenient = parsePolicy("absolute: { accuracy: 0.5 }\napproval: auto\n");
    const gate = (p: typeof strict, reason: string) =>
      promote(world, { name: MODEL, version: 2, actor: "gate", reason, policy: p.policy, policyDigest: p.digest });
    blocked = await gate(strict, "first try");
    promoted = await gate(lenient, "policy relaxed");
    const app = createConsoleApp({
      meta: world.meta,
      blobs: world.blobs,
      log: createLogger({}, { level: "CRITICAL" }),
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await world?.close();
  });

  it("chains a retrained version: drift report → retrain request → run → newest gate decision → alias moves", async () => {
    expect(blocked.outcome).toBe("blocked");
    expect(promoted.outcome).toBe("promoted");
    const p = await versionProvenance(world.meta, MODEL, 2);
    expect(p.drift).toMatchObject({ reportId: REPORT, version: 1, seq: 4, severity: 0.67 });
    expect(p.retrain).toMatchObject({ reportId: REPORT, requestId: "req-3", job: "train-req-3", outcome: "started" });
    expect(p.trigger).toBe("retrain");
    expect(p.run).toMatchObject({ runId: "run-3", status: "succeeded" });
    expect(p.gate?.id).toBe(promoted.id);
    expect(p.decisions.map((d) => d.id)).toEqual([promoted.id, blocked.id]);
    expect(p.audit.map((a) => [a.alias, a.from, a.to])).toEqual([["production", null, 2]]);
    expect(provenanceLine(p)).toBe(
      `drift report ${REPORT} (severity 0.67) → retrain request req-3 → run run-3 → gate decision ${promoted.id}: promoted`,
    );
  });

  it("says what it knows of a version no drift report started, and which steps have no record", async () => {
    const [v1] = (await modelProvenance(world.meta, MODEL)).versions;
    expect(v1).toMatchObject({
      version: 1,
      requestId: "req-1",
      trigger: "cli",
      drift: null,
      retrain: null,
      gate: null,
    });
    expect(v1!.run?.runId).toBe("run-1");
    expect(provenanceLine(v1!)).toBe("request req-1 (trigger cli) → run run-1 → not gated");
    await expect(versionProvenance(world.meta, MODEL, 9)).rejects.toThrow(/fashion:9/);
    await expect(modelProvenance(world.meta, "nope")).rejects.toThrow(/nope/);
  });

  it("is served as GET /api/models/NAME/provenance, parsed by its schema; an unknown model is a 404", async () => {
    const res = await fetch(`${base}/api/models/${MODEL}/provenance`);
    expect(res.status).toBe(200);
    const body = ModelProvenance.parse(await res.json());
    expect(body.versions.map((v) => v.version)).toEqual([1, 2]);
    expect(body.versions[1]).toMatchObject({ drift: { reportId: REPORT }, retrain: { requestId: "req-3" } });
    expect(body.versions[1]!.gate?.rules.length).toBeGreaterThan(0);
    const missing = await fetch(`${base}/api/models/nope/provenance`);
    expect(missing.status).toBe(404);
    expect(ApiError.parse(await missing.json()).error.message).toMatch(/nope/);
  });
});
