import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { catchUp } from "../../core/events/catch-up.ts";
import { makeEvent, type AnyCloudEvent, type CloudEvent } from "../../core/events/envelope.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { GkeJobRunner } from "../../core/jobs/gke-runner.ts";
import { LocalJobRunner } from "../../core/jobs/local-runner.ts";
import { RetrainPolicySchema } from "../../core/retrain/policy.ts";
import { onDriftReported, onTrainingFailed, RETRAIN_DECISIONS, type RetrainDeps } from "../../core/retrain/trigger.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { smallDataset } from "../support/datasets.ts";
import { driftWorld } from "../support/drift-world.ts";
import { startFakeKubeApi } from "../support/fake-kube-api.ts";
import { waitFor } from "../support/wait.ts";

const FAKE_TRAINER = fileURLToPath(new URL("../support/fake-trainer.ts", import.meta.url));
const quiet = createLogger({}, { level: "CRITICAL" });
const SUB = "retrain-test-requests";

function report(
  reportId: string,
  over: Partial<CloudEvent<"sightline.drift.reported">["data"]> = {},
): CloudEvent<"sightline.drift.reported"> {
  return makeEvent(
    "sightline.drift.reported",
    {
      model: "shoes",
      version: 1,
      reportId,
      reportDigest: `sha256:${"e".repeat(64)}`,
      drift: true,
      severity: 0.6,
      driftedFeatures: ["brightness", "embedding"],
      window: { from: "2026-11-24T00:00:00.000Z", to: "2026-11-24T00:05:00.000Z", count: 500 },
      ...over,
    },
    { id: `drift.reported:${reportId}` },
  );
}

describe("retrain trigger", () => {
  let world: Awaited<ReturnType<typeof driftWorld>>;
  let jobs: LocalJobRunner;
  let deps: RetrainDeps;
  let datasetId: string;
  let clock = new Date("2026-11-24T01:00:00Z");

  beforeEach(async () => {
    world = await driftWorld();
    datasetId = (await versionDataset(world.rt, await smallDataset())).record.id;
    jobs = new LocalJobRunner({ config: world.config, meta: world.rt.meta, entry: FAKE_TRAINER, log: quiet });
    clock = new Date("2026-11-24T01:00:00Z");
    deps = {
      meta: world.rt.meta,
      bus: world.rt.bus,
      jobs,
      log: quiet,
      policy: RetrainPolicySchema.parse({ cooldownMinutes: 30, maxConcurrentJobs: 1 }),
      now: () => clock,
    };
    await world.rt.bus.ensureSubscription(SUB, ["sightline.training.requested"]);
  });
  afterEach(async () => {
    await jobs.close();
    await world.rt.close();
  });

  const requests = async (): Promise<AnyCloudEvent[]> => {
    const events: AnyCloudEvent[] = [];
    await catchUp(world.rt.bus, SUB, ["sightline.training.requested"], async (e) => void events.push(e), {
      idleMs: 100,
    });
    return events;
  };
  const settle = async (): Promise<void> => waitFor(async () => (await jobs.active()).length === 0, "jobs to finish");

  it("starts exactly one job for duplicate and concurrent deliveries of one drift report", async () => {
    const event = report("shoes:1:1");
    const outcomes = await Promise.all([1, 2, 3, 4].map(() => onDriftReported(deps, event)));
    outcomes.push(await onDriftReported(deps, event));
    const started = outcomes.filter((o) => o.action === "started");
    expect(started.length).toBeGreaterThanOrEqual(1);
    expect(new Set(started.map((o) => (o.action === "started" ? o.jobName : "")))).toHaveProperty("size", 1);
    expect(started.filter((o) => o.action === "started" && o.created)).toHaveLength(1);
    await settle();
    const all = await world.rt.meta.query("jobs");
    expect(all).toHaveLength(1);
    expect(all[0]!.data).toMatchObject({ model: "shoes", datasetId, state: "succeeded" });
    // The job spec carries the trigger to the trainer, which tags its run with it (jobs-local.test.ts).
    const env = readFileSync(String(all[0]!.data.log), "utf8");
    expect(env).toContain('"SIGHTLINE_TRAIN_TRIGGER":"retrain"');
    expect(env).toContain('"SIGHTLINE_DRIFT_REPORT_ID":"shoes:1:1"');
    const events = await requests();
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(events[0]!.data).toMatchObject({ trigger: "retrain", driftReportId: "shoes:1:1", datasetId });
  });

  it("retrains once per drift episode, honours the cooldown, and starts again after the episode ends", async () => {
    expect((await onDriftReported(deps, report("shoes:1:1"))).action).toBe("started");
    await settle();
    expect(await onDriftReported(deps, report("shoes:1:2"))).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/episode/),
    });
    expect(await onDriftReported(deps, report("shoes:1:3", { drift: false, severity: 0 }))).toEqual({
      action: "episode-ended",
    });
    clock = new Date(clock.getTime() + 10 * 60_000);
    expect(await onDriftReported(deps, report("shoes:1:4"))).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/cooldown/),
    });
    clock = new Date(clock.getTime() + 30 * 60_000);
    expect((await onDriftReported(deps, report("shoes:1:5"))).action).toBe("started");
    await settle();
    expect(await world.rt.meta.query("jobs")).toHaveLength(2);
    expect((await world.rt.meta.get(RETRAIN_DECISIONS, "shoes:1:4"))?.data).toMatchObject({ outcome: "skipped" });
  });

  it("skips mild or small reports, and waits while the concurrency limit is reached", async () => {
    expect(await onDriftReported(deps, report("shoes:1:1", { severity: 0.1 }))).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/severity/),
    });
    expect(
      await onDriftReported(
        deps,
        report("shoes:1:2", {
          window: { from: "2026-11-24T00:00:00.000Z", to: "2026-11-24T00:01:00.000Z", count: 50 },
        }),
      ),
    ).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/window of 50/),
    });
    const slow = await jobs.submit({ requestId: "someone-else", model: "slow", datasetId });
    await waitFor(async () => (await jobs.active()).length === 1, "the slow job to run");
    expect(await onDriftReported(deps, report("shoes:1:3"))).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/1 training job/),
    });
    writeFileSync(join(world.home, "release-someone-else"), "");
    await settle();
    // The refused claim was given back: the same report can start a job now.
    expect((await onDriftReported(deps, report("shoes:1:3"))).action).toBe("started");
    expect(slow.created).toBe(true);
    await settle();
  });
  it("starts at most maxRetrainsPerDay retrainings of a model in any 24 hours, and records the skip", async () => {
    deps = {
      ...deps,
      policy: RetrainPolicySchema.parse({
        cooldownMinutes: 0,
        maxRetrainsPerDay: 2,
        models: { other: { maxRetrainsPerDay: 0 } },
      }),
    };
    const started: string[] = [];
    const episode = async (n: number): Promise<string> => {
      // Each report opens a new episode (the previous one ended without drift), as anonymous traffic can make happen.
      const outcome = await onDriftReported(deps, report(`shoes:1:${n}`));
      await settle();
      await onDriftReported(deps, report(`shoes:1:${n}-calm`, { drift: false, severity: 0 }));
      clock = new Date(clock.getTime() + 60_000);
      if (outcome.action === "started") started.push(outcome.requestId);
      return outcome.action === "skipped" ? outcome.reason : outcome.action;
    };
    expect(await episode(1)).toBe("started");
    expect(await episode(2)).toBe("started");
    expect(await episode(3)).toMatch(
      /retrain budget: 2 retraining\(s\) of shoes started in the last 24 h \(policy: maxRetrainsPerDay 2\)/,
    );
    expect((await world.rt.meta.get(RETRAIN_DECISIONS, "shoes:1:3"))?.data).toMatchObject({
      outcome: "skipped",
      reason: expect.stringMatching(/retrain budget/),
    });
    expect(await world.rt.meta.query("jobs")).toHaveLength(2);
    // A day after the first start, one slot is free again (and only one: the second start is a minute younger).
    const dayLater = new Date(Date.parse("2026-11-24T01:00:00Z") + 24 * 60 * 60_000 + 1);
    clock = dayLater;
    expect(await episode(4)).toBe("started");
    clock = dayLater;
    expect(await episode(5)).toMatch(/retrain budget/);
    expect(started).toHaveLength(3);
    // Per model: a budget of 0 never retrains.
    expect(await onDriftReported(deps, report("other:1:1", { model: "other" }))).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/maxRetrainsPerDay 0/),
    });
  });

  it("when the job API is down, gives the episode back with a backoff instead of wedging it", async () => {
    const down = await startFakeKubeApi();
    const kubeConfig = down.kubeConfig();
    await down.close();
    const image = `europe-docker.pkg.dev/p/sightline/trainer@sha256:${"0".repeat(64)}`;
    const stores = {
      blobs: { kind: "gcs", bucket: "b", prefix: "s" },
      meta: { kind: "firestore", project: "p", database: "(default)" },
      bus: { kind: "pubsub", project: "p" },
    } as const;
    const gke = new GkeJobRunner({ namespace: "sightline", image, stores, kubeConfig, log: quiet });
    deps = {
      ...deps,
      jobs: gke,
      policy: RetrainPolicySchema.parse({
        cooldownMinutes: 0,
        failureBackoffMinutes: 10,
        maxFailureBackoffMinutes: 30,
      }),
    };
    const failed = await onDriftReported(deps, report("shoes:1:1"));
    expect(failed).toMatchObject({
      action: "failed",
      reason: expect.stringMatching(/submitting the retraining failed/),
      retryAfter: "2026-11-24T01:10:00.000Z",
    });
    expect((await world.rt.meta.get(RETRAIN_DECISIONS, "shoes:1:1"))?.data).toMatchObject({ outcome: "failed" });
    // The same episode is not "already retraining": it waits out the backoff, which doubles per failure.
    expect(await onDriftReported(deps, report("shoes:1:2"))).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/backing off after 1 failed/),
    });
    clock = new Date(clock.getTime() + 11 * 60_000);
    expect(await onDriftReported(deps, report("shoes:1:3"))).toMatchObject({
      action: "failed",
      retryAfter: new Date(clock.getTime() + 20 * 60_000).toISOString(),
    });
    // The API is back: after the backoff, the next report of the same drifting version retrains.
    const up = await startFakeKubeApi();
    try {
      deps = {
        ...deps,
        jobs: new GkeJobRunner({ namespace: "sightline", image, stores, kubeConfig: up.kubeConfig(), log: quiet }),
      };
      clock = new Date(clock.getTime() + 21 * 60_000);
      expect(await onDriftReported(deps, report("shoes:1:4"))).toMatchObject({ action: "started", created: true });
      expect(up.jobs.size).toBe(1);
    } finally {
      await deps.jobs.close();
      await gke.close();
      await up.close();
    }
  });

  it("releases the episode with a backoff when its job publishes training.failed", async () => {
    deps = { ...deps, policy: RetrainPolicySchema.parse({ cooldownMinutes: 0, failureBackoffMinutes: 15 }) };
    const started = await onDriftReported(deps, report("shoes:1:1"));
    if (started.action !== "started") throw new Error(`expected a start, got ${JSON.stringify(started)}`);
    await settle();
    expect(await onDriftReported(deps, report("shoes:1:2"))).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/already retraining/),
    });
    const failure = makeEvent("sightline.training.failed", {
      requestId: started.requestId,
      runId: "run-1",
      model: "shoes",
      datasetId,
      reason: "OOMKilled",
    });
    // Another job's failure changes nothing; this one's releases the episode, once.
    expect(
      await onTrainingFailed(
        deps,
        makeEvent("sightline.training.failed", { ...failure.data, requestId: "retrain-other" }),
      ),
    ).toEqual({ released: false });
    expect(await onTrainingFailed(deps, failure)).toEqual({ released: true, retryAfter: "2026-11-24T01:15:00.000Z" });
    expect(await onTrainingFailed(deps, failure)).toEqual({ released: false });
    expect(await onDriftReported(deps, report("shoes:1:3"))).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/backing off/),
    });
    clock = new Date(clock.getTime() + 16 * 60_000);
    expect((await onDriftReported(deps, report("shoes:1:4"))).action).toBe("started");
    await settle();
  });

  it("releases the episode with a backoff when its job failed without publishing training.failed", async () => {
    deps = { ...deps, policy: RetrainPolicySchema.parse({ cooldownMinutes: 0, failureBackoffMinutes: 15 }) };
    // The fake trainer exits 1 for model "broken" and publishes nothing, like a pod killed mid-run.
    const broken = (id: string) => report(id, { model: "broken" });
    expect((await onDriftReported(deps, broken("broken:1:1"))).action).toBe("started");
    await settle();
    expect(await onDriftReported(deps, broken("broken:1:2"))).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/backing off after 1 failed/),
    });
    clock = new Date(clock.getTime() + 16 * 60_000);
    expect((await onDriftReported(deps, broken("broken:1:3"))).action).toBe("started");
    await settle();
  });
});
