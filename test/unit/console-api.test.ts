import type { AddressInfo } from "node:net";
import { request, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { ApiError, DriftHistory, LineageGraph, ModelDetail, ModelList } from "../../console/api/schemas.ts";
import { createConsoleApp } from "../../console/server/app.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { consoleWorld, DRIFT_MODEL, MODEL, type ConsoleWorld } from "../support/console-world.ts";

describe("console API over a real SQLite state", () => {
  let world: ConsoleWorld;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    world = await consoleWorld();
    const app = createConsoleApp({
      meta: world.meta,
      blobs: world.blobs,
      log: createLogger({}, { level: "CRITICAL" }),
      allowedHosts: ["127.0.0.1", "localhost"],
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await world.close();
  });

  async function get<S extends z.ZodType>(path: string, schema: S, status = 200): Promise<z.infer<S>> {
    const res = await fetch(base + path);
    expect(res.status, path).toBe(status);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    return schema.parse(await res.json());
  }

  it("lists every model with its versions, aliases and held-out metrics", async () => {
    const { models } = await get("/api/models", ModelList);
    expect(models.map((m) => m.name)).toEqual([MODEL, DRIFT_MODEL]);
    const fashion = models[0]!;
    expect(fashion.latestVersion).toBe(2);
    expect(fashion.versions.map((v) => v.version)).toEqual([1, 2]);
    expect(fashion.versions[1]!.metrics.accuracy).toBeCloseTo(0.83);
  });

  it("shows one model: versions, decisions with their rules, and the audit trail newest first", async () => {
    const m = await get(`/api/models/${MODEL}`, ModelDetail);
    expect(m.versions.map((v) => v.datasetId)).toEqual([world.dataset.id, world.dataset.id]);
    expect(m.decisions).toHaveLength(1);
    expect(m.decisions[0]).toMatchObject({ id: world.decision.id, version: 2, outcome: "pending_approval" });
    expect(m.decisions[0]!.rules.map((r) => r.rule)).toContain("absolute:accuracy");
    expect(m.audit[0]).toMatchObject({ outcome: "pending_approval", to: 2, actor: "ci" });
    const missing = await get("/api/models/nope", ApiError, 404);
    expect(missing.error.code).toBe("model_not_found");
  });

  it("finds a prediction's lineage down to its dataset, commit and image", async () => {
    const g = await get("/api/lineage/search?q=pred-b", LineageGraph);
    expect(g.found).toBe("prediction");
    const reach = (from: string): Set<string> => {
      const seen = new Set([from]);
      for (let grew = true; grew;) {
        grew = false;
        for (const e of g.edges) if (seen.has(e.from) && !seen.has(e.to)) grew = seen.add(e.to).size > 0;
      }
      return seen;
    };
    const prediction = g.nodes.find((n) => n.kind === "prediction")!;
    const reached = [...reach(prediction.id)].map((id) => g.nodes.find((n) => n.id === id)!);
    expect(reached.map((n) => n.kind).sort()).toEqual([
      "commit",
      "dataset",
      "image",
      "model",
      "prediction",
      "request",
      "run",
    ]);
    expect(reached.find((n) => n.kind === "dataset")!.detail).toBe(world.dataset.id);
    expect(reached.find((n) => n.kind === "model")!.label).toBe(`model ${MODEL}:1`);
  });

  it("finds the same graph from a model version, a run id and a dataset id", async () => {
    const v2 = await get(`/api/lineage/search?q=${MODEL}:2`, LineageGraph);
    expect(v2.nodes.map((n) => n.detail)).toContain("run-3");
    // Why it was trained: the request that the drift report started.
    expect(v2.nodes.find((n) => n.kind === "request")).toMatchObject({
      detail: "req-3",
      label: "request (retrain on drift drift-1)",
    });
    // … and the drift report that started it, with the model version whose history holds it.
    const drift = v2.nodes.find((n) => n.kind === "drift")!;
    expect(drift).toMatchObject({ id: "drift:drift-1", about: { model: MODEL, version: 1 } });
    expect(v2.edges).toContainEqual({ from: "request:req-3", rel: "triggered_by", to: "drift:drift-1" });
    // The events here never set an alias in the registry: an alias that points nowhere is a 404, not a 500.
    expect((await get(`/api/lineage/search?q=${MODEL}@production`, ApiError, 404)).error.message).toMatch(/production/);
    const run = await get("/api/lineage/search?q=run-2", LineageGraph);
    expect(run).toMatchObject({ found: "run" });
    expect(run.nodes.find((n) => n.kind === "run")!.label).toBe("run failed");
    const d = await get(`/api/lineage/search?q=${world.dataset.id}`, LineageGraph);
    expect(d.nodes.filter((n) => n.kind === "model").map((n) => n.label)).toEqual([
      `model ${MODEL}:1`,
      `model ${MODEL}:2`,
    ]);
    expect((await get("/api/lineage/search?q=nothing-here", ApiError, 404)).error.code).toBe("lineage_not_found");
    expect((await get("/api/lineage/search?q=%20", ApiError, 400)).error.code).toBe("lineage_query_missing");
  });

  it("gives a version's drift reports oldest first with each test's statistics", async () => {
    const d = await get(`/api/drift/${DRIFT_MODEL}/1`, DriftHistory);
    expect(d.reports.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(d.reports.map((r) => r.drift)).toEqual([false, false, true]);
    expect(d.reports[2]!.severity).toBeGreaterThan(d.reports[0]!.severity);
    expect(d.reports[2]!.tests.length).toBeGreaterThan(3);
    expect((await get(`/api/drift/${DRIFT_MODEL}/x`, ApiError, 400)).error.code).toBe("version_invalid");
    expect((await get(`/api/drift/${MODEL}/1`, DriftHistory)).reports).toEqual([]);
  });

  it("only reads, answers only its own host names, and sends the security headers", async () => {
    const post = await fetch(`${base}/api/models`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(ApiError.parse(await post.json()).error.code).toBe("method_not_allowed");
    const res = await fetch(`${base}/api/models`);
    expect(res.headers.get("content-security-policy")).toMatch(/script-src 'self'/);
    expect(res.headers.get("content-security-policy")).not.toMatch(/unsafe-inline/);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    const status = await new Promise<number>((resolve, reject) => {
      request(`${base}/api/models`, { headers: { host: "evil.example:80" } }, (r) => resolve(r.statusCode ?? 0))
        .on("error", reject)
        .end();
    });
    expect(status).toBe(421);
  });
});
