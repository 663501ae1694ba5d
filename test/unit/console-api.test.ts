import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { request, type Server } from "node:http";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  ApiError,
  DatasetDetail,
  DatasetDiff,
  DatasetList,
  DriftHistory,
  DriftWindowReport,
  JobDetail,
  JobList,
  LineageGraph,
  ModelDetail,
  ModelList,
  RunComparison,
  RunDetail,
  RunsPage,
  Thumbnails,
  VerifyResult,
} from "../../console/api/schemas.ts";
import { createConsoleApp } from "../../console/server/app.ts";
import { FsBlobStore } from "../../core/blobs/fs-blob-store.ts";
import { GkeJobReader } from "../../core/jobs/gke-reader.ts";
import { GkeJobRunner } from "../../core/jobs/gke-runner.ts";
import { Jobs } from "../../core/jobs/local-runner.ts";
import { verifyModelLineage } from "../../core/lineage/verify.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { consoleWorld, DRIFT_MODEL, MODEL, type ConsoleWorld } from "../support/console-world.ts";
import { LOST_PROFILE, reportWithProfile } from "../support/drift-world.ts";
import { startFakeKubeApi, type FakeKubeApi } from "../support/fake-kube-api.ts";

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

  it("verifies a model version's lineage from the stored bytes, as `sightline lineage verify` does", async () => {
    const result = await get(`/api/lineage/verify?model=${MODEL}:2`, VerifyResult);
    expect(result).toEqual(JSON.parse(JSON.stringify(await verifyModelLineage(world, MODEL, 2))));
    expect(result.model).toBe(`${MODEL}:2`);
    expect(result.checks.length).toBeGreaterThan(2);
    expect(result.ok).toBe(result.checks.every((c) => c.ok));
    expect((await get(`/api/lineage/verify?model=${MODEL}`, ApiError, 400)).error.message).toMatch(/NAME:VERSION/);
    expect((await get("/api/lineage/verify?model=not%20a%20ref", ApiError, 400)).error.code).toBe("model_ref_invalid");
    expect((await get(`/api/lineage/verify?model=${MODEL}:99`, ApiError, 404)).error.message).toMatch(/:99/);
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
      label: "request (retrain on drift fashion:1:1)",
    });
    // … and the drift report that started it, with the model version whose history holds it.
    const drift = v2.nodes.find((n) => n.kind === "drift")!;
    expect(drift).toMatchObject({ id: "drift:fashion:1:1", about: { model: MODEL, version: 1, seq: 1 } });
    expect(v2.edges).toContainEqual({ from: "request:req-3", rel: "triggered_by", to: "drift:fashion:1:1" });
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
    // Each test's strength is on one scale: above 1 exactly when it drifted.
    for (const r of d.reports) for (const t of r.tests) expect(t.strength > 1, t.name).toBe(t.drifted);
  });

  it("gives one window's report with reference-versus-window histograms; an unknown one is a 404", async () => {
    const r = await get(`/api/drift/${DRIFT_MODEL}/1/3`, DriftWindowReport);
    expect(r).toMatchObject({
      reportId: `${DRIFT_MODEL}:1:3`,
      window: { seq: 3, count: 300 },
      verdict: { drift: true },
    });
    expect(await get(`/api/drift/${DRIFT_MODEL}/1/${DRIFT_MODEL}:1:3`, DriftWindowReport)).toEqual(r);
    if (!r.histograms.ok) throw new Error(r.histograms.error);
    expect(r.histograms.items.map((h) => h.name)).toEqual([
      "brightness",
      "contrast",
      "sharpness",
      "confidence",
      "predicted_class",
    ]);
    for (const h of r.histograms.items) {
      if (h.kind === "numeric") expect(h.edges).toHaveLength(h.reference.length + 1);
      expect(h.window).toHaveLength(h.reference.length);
    }
    const missing = await get(`/api/drift/${DRIFT_MODEL}/1/9`, ApiError, 404);
    expect(missing.error).toEqual({
      code: "drift_report_not_found",
      message: `no drift report ${DRIFT_MODEL}:1:9: the windows of ${DRIFT_MODEL}:1 are listed on its drift page`,
    });
    expect((await get(`/api/drift/${DRIFT_MODEL}/1/x`, ApiError, 400)).error.code).toBe("report_invalid");
    expect((await get(`/api/drift/${DRIFT_MODEL}/1/0`, ApiError, 400)).error.code).toBe("report_invalid");
  });

  it("a report whose profile blob is gone: 200 with the report, its histograms replaced by the reason", async () => {
    await reportWithProfile(world, `${DRIFT_MODEL}:1:2`, "orphan");
    const r = await get("/api/drift/orphan/1/2", DriftWindowReport);
    expect(r.verdict.tests.length).toBe(6);
    expect(r.histograms).toEqual({
      ok: false,
      error: expect.stringMatching(
        new RegExp(`^the reference profile ${LOST_PROFILE} cannot be read: blob .* not found`),
      ),
    });
  });

  it("lists runs newest first, filters and sorts them, pages with a cursor; a bad filter is a 400", async () => {
    const all = await get("/api/runs", RunsPage);
    expect(all.runs.map((r) => r.runId)).toEqual(["run-3", "run-2", "run-1"]);
    expect(all.runs[0]).toMatchObject({ status: "succeeded", version: 2, params: { learningRate: 0.005 } });
    expect(all.runs[0]!.metrics.test_accuracy).toBeCloseTo(0.83);
    const good = await get(`/api/runs?filter=${encodeURIComponent("metrics.test_accuracy > 0.81")}`, RunsPage);
    expect(good.runs.map((r) => r.runId)).toEqual(["run-3"]);
    const sorted = await get(`/api/runs?sort=${encodeURIComponent("params.learningRate asc")}`, RunsPage);
    expect(sorted.runs.map((r) => r.runId)).toEqual(["run-3", "run-1", "run-2"]);
    const first = await get("/api/runs?limit=2", RunsPage);
    expect(first.runs).toHaveLength(2);
    const rest = await get(`/api/runs?limit=2&cursor=${first.nextCursor}`, RunsPage);
    expect(rest).toEqual({ runs: [expect.objectContaining({ runId: "run-1" })] });
    expect((await get(`/api/runs?model=${DRIFT_MODEL}`, RunsPage)).runs).toEqual([]);
    const bad = await get(`/api/runs?filter=${encodeURIComponent("metrics.accuracy >")}`, ApiError, 400);
    expect(bad.error).toMatchObject({
      code: "invalid_filter",
      message: expect.stringMatching(/^invalid filter at column/),
    });
    expect((await get("/api/runs?limit=0", ApiError, 400)).error.code).toBe("invalid_limit");
    const badSort = await get(`/api/runs?sort=${encodeURIComponent("metrics.accuracy sideways")}`, ApiError, 400);
    expect(badSort.error.message).toMatch(/expected asc or desc/);
    expect((await get("/api/runs?cursor=nonsense", ApiError, 400)).error.code).toBe("invalid_cursor");
  });

  it("shows one run with its stream, phases, artefacts and confusion matrix; an unknown run is a 404", async () => {
    const { run, confusion } = await get("/api/runs/run-1", RunDetail);
    expect(run.stream.map((m) => m.epoch)).toEqual([1, 2, 3]);
    expect(run.phases).toEqual({ load: 1.5, train: 120, evaluate: 3 });
    expect(run.artefacts.map((a) => a.kind)).toEqual(["onnx", "card", "confusion_matrix"]);
    expect(confusion).toEqual({
      classes: ["bag", "sneaker", "trouser"],
      matrix: [
        [7, 3, 3],
        [3, 7, 3],
        [3, 3, 7],
      ],
    });
    const failed = await get("/api/runs/run-2", RunDetail);
    expect(failed).toMatchObject({ run: { status: "failed", reason: "out of memory" }, confusion: null });
    expect((await get("/api/runs/nope", ApiError, 404)).error.code).toBe("run_not_found");
  });

  it("compares three runs: the params that differ, metrics side by side, each stream and confusion matrix", async () => {
    const c = await get("/api/runs/compare?ids=run-1,run-2,run-3", RunComparison);
    expect(c.runs.map((r) => r.runId)).toEqual(["run-1", "run-2", "run-3"]);
    expect(c.params.map((p) => p.key)).toEqual(["epochs", "learningRate", "seed"]);
    expect(c.params[1]!.values).toEqual({ "run-1": 0.01, "run-2": 0.02, "run-3": 0.005 });
    expect(c.metrics.find((m) => m.key === "test_accuracy")!.values["run-2"]).toBeNull();
    expect(Object.values(c.streams).map((s) => s.length)).toEqual([3, 1, 4]);
    expect(c.confusion["run-2"]).toBeNull();
    expect(c.confusion["run-3"]!.matrix[0]).toEqual([8, 2, 2]);
    expect((await get("/api/runs/compare?ids=run-1", ApiError, 400)).error.code).toBe("compare_needs_two");
    expect((await get("/api/runs/compare?ids=run-1,nope", ApiError, 404)).error.code).toBe("run_not_found");
    const eleven = Array.from({ length: 11 }, (_, i) => `r${i}`).join(",");
    expect((await get(`/api/runs/compare?ids=${eleven}`, ApiError, 400)).error.code).toBe("compare_too_many");
  });

  it("lists dataset versions and shows one's validation and class balance; an unknown one is a 404", async () => {
    const { datasets } = await get("/api/datasets", DatasetList);
    expect(datasets.map((d) => d.id)).toEqual([world.dataset2.id, world.dataset.id]);
    const d = await get(`/api/datasets/${world.dataset.id}`, DatasetDetail);
    expect(d.balance.map((b) => b.class)).toEqual(["bag", "sneaker", "trouser"]);
    expect(d.balance.map((b) => Object.values(b.splits).reduce((x, y) => x + y, 0))).toEqual([8, 8, 8]);
    expect(d.validation?.ok).toBe(true);
    expect(d.validation?.rules.map((r) => r.rule)).toContain("class-imbalance");
    expect((await get("/api/datasets/nope", ApiError, 404)).error.code).toBe("dataset_not_found");
  });

  it("serves a few thumbnails per class, re-encoded as small PNGs, never the stored bytes", async () => {
    const t = await get(`/api/datasets/${world.dataset2.id}/thumbnails/bag`, Thumbnails);
    expect(t.total).toBe(10);
    expect(t.images).toHaveLength(8);
    const res = await fetch(base + t.images[0]!.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    const png = Buffer.from(await res.arrayBuffer());
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    const meta = await sharp(png).metadata();
    expect(Math.max(meta.width, meta.height)).toBeLessThanOrEqual(96);
    // Re-encoded: not the stored file, whatever it was.
    const stored = await world.blobs.get(`sha256:${createHash("sha256").update(png).digest("hex")}`).catch(() => null);
    expect(stored).toBeNull();
    expect((await get(`/api/datasets/${world.dataset.id}/thumbnails/nope`, ApiError, 404)).error.code).toBe(
      "class_not_found",
    );
    expect((await fetch(`${base}${t.images[0]!.url.replace(/\/0$/, "/8")}`)).status).toBe(404);
  });

  it("diffs two dataset versions per class: added, removed, changed files", async () => {
    const diff = await get(`/api/datasets/diff?a=${world.dataset.id}&b=${world.dataset2.id}`, DatasetDiff);
    expect(diff.classes.map((c) => [c.class, c.added, c.removed, c.changed])).toEqual([
      ["bag", 2, 0, 1],
      ["sneaker", 2, 0, 0],
      ["trouser", 2, 1, 0],
    ]);
    expect(diff.totals).toEqual({ added: 6, removed: 1, changed: 1 });
    expect((await get(`/api/datasets/diff?a=${world.dataset.id}`, ApiError, 400)).error.code).toBe("diff_needs_two");
  });

  it("lists training jobs and shows one with the tail of its log; an unknown job is a 404", async () => {
    const { jobs } = await get("/api/jobs", JobList);
    expect(jobs.map((j) => [j.name, j.state])).toEqual([[world.job, "succeeded"]]);
    expect(Object.keys(jobs[0]!)).not.toContain("log");
    const j = await get(`/api/jobs/${world.job}`, JobDetail);
    expect(j.log).toEqual({
      lines: [
        "epoch 1/4 loss 0.500",
        "epoch 2/4 loss 0.333",
        "epoch 3/4 loss 0.250",
        "epoch 4/4 loss 0.200",
        "registered fashion:2",
      ],
      truncated: false,
      missing: false,
    });
    expect((await get("/api/jobs/nope", ApiError, 404)).error.code).toBe("job_not_found");
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

describe("console API: the Jobs page on GKE reads the Kubernetes Jobs and their pods' logs", () => {
  const NS = "sightline";
  const IMAGE = `europe-docker.pkg.dev/p/sightline/trainer@sha256:${"0123456789abcdef".repeat(4)}`;
  let kube: FakeKubeApi;
  let meta: SqliteStore;
  let server: Server;
  let base: string;
  let job: string;
  beforeAll(async () => {
    kube = await startFakeKubeApi();
    const dir = mkdtempSync(join(tmpdir(), "console-gke-jobs-"));
    meta = new SqliteStore(join(dir, "meta.db"));
    // A local record in the console's store: on GKE it is not what the page shows.
    await Jobs.put(meta, "train-local", {
      name: "train-local",
      requestId: "local",
      model: "fashion",
      datasetId: "d".repeat(64),
      state: "succeeded",
      host: "laptop",
      runnerPid: 1,
      log: join(dir, "none.log"),
      createdAt: "2026-12-01T00:00:00.000Z",
    });
    const runner = new GkeJobRunner({
      namespace: NS,
      image: IMAGE,
      stores: {
        blobs: { kind: "gcs", bucket: "b", prefix: "sightline" },
        meta: { kind: "firestore", project: "p", database: "(default)" },
        bus: { kind: "pubsub", project: "p" },
      },
      kubeConfig: kube.kubeConfig(),
      log: createLogger({}, { write: () => {} }),
    });
    job = (await runner.submit({ requestId: "req-console", model: "fashion", datasetId: "e".repeat(64) })).name;
    kube.setStatus(NS, job, { active: 1, ready: 1, startTime: "2026-12-03T10:00:00Z" });
    kube.addPod(
      NS,
      {
        metadata: { name: `${job}-abcde`, labels: { "job-name": job } },
        spec: { containers: [{ name: "trainer" }] },
        status: { containerStatuses: [{ name: "trainer", state: { running: {} } }] },
      },
      { trainer: Array.from({ length: 250 }, (_, i) => `epoch ${i + 1}`).join("\n") + "\n" },
    );
    const app = createConsoleApp({
      meta,
      blobs: new FsBlobStore(join(dir, "blobs")),
      jobs: new GkeJobReader({ namespace: NS, kubeConfig: kube.kubeConfig() }),
      log: createLogger({}, { level: "CRITICAL" }),
      allowedHosts: ["127.0.0.1"],
    });
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await meta.close();
    await kube.close();
  });

  it("lists the Jobs in the namespace and shows one with the last 200 lines of its trainer container", async () => {
    const list = JobList.parse(await (await fetch(`${base}/api/jobs`)).json());
    expect(list.jobs).toEqual([
      {
        name: job,
        requestId: "req-console",
        model: "fashion",
        datasetId: "e".repeat(64),
        state: "running",
        createdAt: expect.any(String) as string,
        startedAt: "2026-12-03T10:00:00.000Z",
      },
    ]);
    const res = await fetch(`${base}/api/jobs/${job}`);
    expect(res.status).toBe(200);
    const detail = JobDetail.parse(await res.json());
    expect(detail.job.state).toBe("running");
    expect(detail.log).toMatchObject({ truncated: true, missing: false, source: "trainer" });
    expect([detail.log.lines.length, detail.log.lines[0], detail.log.lines.at(-1)]).toEqual([
      200,
      "epoch 51",
      "epoch 250",
    ]);
    const missing = await fetch(`${base}/api/jobs/train-local`);
    expect([missing.status, ApiError.parse(await missing.json()).error.code]).toEqual([404, "job_not_found"]);
  });
});
