import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { catchUp } from "../../core/events/catch-up.ts";
import { makeEvent, type AnyCloudEvent, type CloudEvent } from "../../core/events/envelope.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { LocalJobRunner } from "../../core/jobs/local-runner.ts";
import { RetrainPolicySchema } from "../../core/retrain/policy.ts";
import { onDriftReported, RETRAIN_DECISIONS, type RetrainDeps } from "../../core/retrain/trigger.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { smallDataset } from "../support/datasets.ts";
import { driftWorld } from "../support/drift-world.ts";
import { waitFor } from "../support/wait.ts";

const FAKE_TRAINER = fileURLToPath(new URL("../support/fake-trainer.ts", import.meta.url));
const quiet = createLogger({}, { level: "CRITICAL" });
const SUB = "retrain-test-requests";

function report(reportId: string, over: Partial<CloudEvent<"sightline.drift.reported">["data"]> = {}): CloudEvent<"sightline.drift.reported"> {
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
    deps = { meta: world.rt.meta, bus: world.rt.bus, jobs, log: quiet, policy: RetrainPolicySchema.parse({ cooldownMinutes: 30, maxConcurrentJobs: 1 }), now: () => clock };
    await world.rt.bus.ensureSubscription(SUB, ["sightline.training.requested"]);
  });
  afterEach(async () => {
    await jobs.close();
    await world.rt.close();
  });

  const requests = async (): Promise<AnyCloudEvent[]> => {
    const events: AnyCloudEvent[] = [];
    await catchUp(world.rt.bus, SUB, ["sightline.training.requested"], async (e) => void events.push(e), { idleMs: 100 });
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
    const events = await requests();
    expect(new Set(events.map((e) => e.id)).size).toBe(1);
    expect(events[0]!.data).toMatchObject({ trigger: "retrain", driftReportId: "shoes:1:1", datasetId });
  });

  it("retrains once per drift episode, honours the cooldown, and starts again after the episode ends", async () => {
    expect((await onDriftReported(deps, report("shoes:1:1"))).action).toBe("started");
    await settle();
    expect(await onDriftReported(deps, report("shoes:1:2"))).toMatchObject({ action: "skipped", reason: expect.stringMatching(/episode/) });
    expect(await onDriftReported(deps, report("shoes:1:3", { drift: false, severity: 0 }))).toEqual({ action: "episode-ended" });
    clock = new Date(clock.getTime() + 10 * 60_000);
    expect(await onDriftReported(deps, report("shoes:1:4"))).toMatchObject({ action: "skipped", reason: expect.stringMatching(/cooldown/) });
    clock = new Date(clock.getTime() + 30 * 60_000);
    expect((await onDriftReported(deps, report("shoes:1:5"))).action).toBe("started");
    await settle();
    expect(await world.rt.meta.query("jobs")).toHaveLength(2);
    expect((await world.rt.meta.get(RETRAIN_DECISIONS, "shoes:1:4"))?.data).toMatchObject({ outcome: "skipped" });
  });

  it("skips mild or small reports, and waits while the concurrency limit is reached", async () => {
    expect(await onDriftReported(deps, report("shoes:1:1", { severity: 0.1 }))).toMatchObject({ action: "skipped", reason: expect.stringMatching(/severity/) });
    expect(await onDriftReported(deps, report("shoes:1:2", { window: { from: "2026-11-24T00:00:00.000Z", to: "2026-11-24T00:01:00.000Z", count: 50 } }))).toMatchObject({
      action: "skipped",
      reason: expect.stringMatching(/window of 50/),
    });
    const slow = await jobs.submit({ requestId: "someone-else", model: "slow", datasetId });
    await waitFor(async () => (await jobs.active()).length === 1, "the slow job to run");
    expect(await onDriftReported(deps, report("shoes:1:3"))).toMatchObject({ action: "skipped", reason: expect.stringMatching(/1 training job/) });
    writeFileSync(join(world.home, "release-someone-else"), "");
    await settle();
    // The refused claim was given back: the same report can start a job now.
    expect((await onDriftReported(deps, report("shoes:1:3"))).action).toBe("started");
    expect(slow.created).toBe(true);
    await settle();
  });
});
