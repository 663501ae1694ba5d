import { join } from "node:path";
import type { Runtime } from "../../core/config/runtime.ts";
import { DriftPolicySchema } from "../../core/drift/drift-policy.ts";
import { listReports, type DriftReportRecord } from "../../core/drift/detect.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { Jobs } from "../../core/jobs/local-runner.ts";
import { predictionLineage, type PredictionLineage } from "../../core/lineage/queries.ts";
import { docKey, Predictions } from "../../core/lineage/store.ts";
import { verifyModelLineage } from "../../core/lineage/verify.ts";
import { getAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import { listVersions, type ModelVersion } from "../../core/registry/model-version.ts";
import { listDecisions } from "../../core/registry/queries.ts";
import { RetrainPolicySchema } from "../../core/retrain/policy.ts";
import { RetrainDecisions } from "../../core/retrain/trigger.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { openFunctionContext, type FunctionContext } from "../../functions/context.ts";
import { startEmbeddedFunctions, type EmbeddedFunctions } from "../../functions/embedded.ts";
import { loadServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import type { CliContext } from "../context.ts";
import { writeConsoleSnapshot } from "../commands/ui-export.ts";
import { predictionTree } from "../lineage-view.ts";
import { renderTree } from "../tree.ts";
import { buildShiftedDataset } from "./shifted-dataset.ts";
import { accuracy, sendAll, splitImages, steadyLoad } from "./traffic.ts";
import { followEpochs, poll } from "./watch.ts";
import { SIGHTLINE_PROMOTION_POLICY } from "../../core/config/settings/functions.ts";

export interface LifecycleOptions {
  model: string;
  sample: string;
  /** The clean dataset's id (step 1) and production's version (step 2). */
  datasetId: string;
  epochs: number;
  port: number;
  keepServing: boolean;
  /** Leave the inference API up when the steps are done (`--ui`: the console's Predict page sends images to it). */
  handOverServing?: boolean;
  /** Echo the retraining job's structured log lines to stderr (they are always in its log). */
  verbose?: boolean;
  /** The gate's policy file (the gate function reads it as SIGHTLINE_PROMOTION_POLICY). */
  promotionPolicy: string;
}

/** Everything that runs beside the demo: the inference API and the four functions, on the local queue. */
interface Live {
  server: RunningServer;
  functions: EmbeddedFunctions;
  fctx: FunctionContext;
}

// Quiet logs from the embedded components: the demo prints what happens; warnings and errors still show.
const componentLog = createLogger({ component: "demo" }, { level: "WARNING" });

async function startLive(rt: Runtime, ctx: CliContext, opts: LifecycleOptions): Promise<Live> {
  const fctx = await openFunctionContext({
    env: { ...ctx.env, [SIGHTLINE_PROMOTION_POLICY.name]: opts.promotionPolicy },
    config: rt.config,
    log: componentLog,
    driftPolicy: DriftPolicySchema.parse({}),
    // The demo's retraining: on the newest dataset (the one with the newly labelled shifted images), no cooldown.
    retrainPolicy: RetrainPolicySchema.parse({
      minSeverity: 0.25,
      minWindowSize: 200,
      cooldownMinutes: 0,
      maxConcurrentJobs: 1,
      dataset: "latest",
      epochs: opts.epochs,
    }),
  });
  const functions = await startEmbeddedFunctions(fctx);
  const serving = loadServingConfig(ctx.env, {
    host: "127.0.0.1",
    port: opts.port,
    workers: 1,
    model: { name: opts.model, alias: PRODUCTION },
    reloadPollMs: 500,
    predictionLog: { sampleRate: 1, embeddingRate: 0.2, bufferSize: 50_000, flushMs: 250, maxRecordsPerEvent: 500 },
  });
  const server = await startServer(rt, serving, componentLog, { defaultMetrics: true });
  return { server, functions, fctx };
}

async function stopLive(live: Live, keepServer = false): Promise<void> {
  if (!keepServer) await live.server.shutdown();
  await live.functions.stop();
  await live.fctx.close();
}

/** The inference API the demo left running, and how to stop it (once). */
export interface KeptServing {
  url: string;
  stop(): Promise<void>;
}

async function newReport(
  rt: Runtime,
  model: string,
  version: number,
  after: string,
  drift?: boolean,
): Promise<DriftReportRecord | undefined> {
  return (await listReports(rt.meta, model, version)).find(
    (r) => r.createdAt > after && (drift === undefined || r.drift === drift),
  );
}

/** What the demo's steps share: where they run, and the traffic they sent so far. */
interface Run {
  rt: Runtime;
  ctx: CliContext;
  opts: LifecycleOptions;
  live: Live;
  model: string;
  /** Production's version when the demo started. */
  v1: number;
  failedRequests: number;
  /** The request id of the last prediction served: the one whose lineage is shown. */
  lastServed: string;
}

/**
 * Steps 3–6 of the demo: serve production, send clean then shifted held-out images, watch drift start a
 * retraining on the newly labelled shifted data, the gate promote it and serving swap to it with no failed request;
 * then the lineage of one served prediction, verified, and the HTML report.
 */
export async function runLifecycle(
  rt: Runtime,
  ctx: CliContext,
  opts: LifecycleOptions,
  step: (n: number, title: string) => void,
): Promise<KeptServing | undefined> {
  const { model } = opts;
  const v1 = (await getAlias(rt.meta, model, PRODUCTION))!.version;
  const live = await startLive(rt, ctx, opts);
  const run: Run = { rt, ctx, opts, live, model, v1, failedRequests: 0, lastServed: "" };
  let handedOver = false;
  try {
    step(3, `serve ${model}@production at ${live.server.url} and send it held-out images`);
    const retrained = (await listVersions(rt.meta, model)).find((v) => v.requestId.startsWith("retrain-"));
    const clean = await splitImages(join(opts.sample, "test"));
    if (retrained) {
      await resendClean(run, clean, retrained);
    } else {
      await sendClean(run, clean);
      step(4, "shift the traffic (30 % brighter, sensor noise): drift → retraining → gate → hot swap");
      await shiftAndRetrain(run);
    }
    if (run.failedRequests > 0) throw new Error(`${run.failedRequests} request(s) failed`);

    step(5, "the lineage of one served prediction, verified from the stored bytes");
    const { lineage } = await verifiedLineage(run);

    step(6, "write the report: the console's pages as one HTML file, opening on the model");
    await writeConsoleSnapshot(rt, ctx, {
      out: join(rt.config.home, "report.html"),
      lineage: [lineage.prediction.requestId],
      label: "Report",
    });
    if (opts.keepServing) await keepServing(run);
    handedOver = opts.handOverServing === true;
  } finally {
    // Handed over, only serving stays: the functions stop as before (the console records lineage itself).
    await stopLive(live, handedOver);
  }
  if (!handedOver) return undefined;
  let stopped: Promise<void> | undefined;
  return { url: live.server.url, stop: () => (stopped ??= live.server.shutdown()) };
}

type Images = Awaited<ReturnType<typeof splitImages>>;

/** Step 3 on a rerun: the retraining happened in an earlier run, so a little clean traffic is enough. */
async function resendClean(run: Run, clean: Images, retrained: ModelVersion): Promise<void> {
  run.ctx.out(
    `Reused: ${run.model}:${retrained.version} was retrained on drifted data in an earlier run (request ${retrained.requestId}).`,
  );
  const stats = await sendAll(run.live.server.url, clean.slice(0, 50));
  run.failedRequests += stats.failed;
  run.lastServed = stats.served.at(-1)?.requestId ?? "";
}

/** Step 3: clean held-out images, and the drift report that finds no drift in them. */
async function sendClean(run: Run, clean: Images): Promise<void> {
  const { rt, ctx, model, v1 } = run;
  const started = new Date().toISOString();
  const stats = await sendAll(run.live.server.url, clean.slice(0, 500));
  run.failedRequests += stats.failed;
  ctx.out(
    `Sent ${stats.sent} clean images: ${stats.failed} failed, accuracy ${(accuracy(stats.served) * 100).toFixed(1)} % (${model}:${v1})`,
  );
  await run.live.server.context.predictionLog?.flush();
  const calm = await poll("the drift report of the clean window", () => newReport(rt, model, v1, started), 60_000);
  ctx.out(
    `Drift report ${calm.reportId}: ${calm.drift ? "DRIFT" : "no drift"} (severity ${(calm.severity * 100).toFixed(0)} %, ${calm.window.count} predictions)`,
  );
}

/** Step 4: shifted traffic until after the swap (no request may fail on the way): drift → retraining → gate → swap. */
async function shiftAndRetrain(run: Run): Promise<void> {
  const { rt, ctx, opts, model, v1 } = run;
  const shiftedDir = join(rt.config.home, "demo", "fashion-mnist-shifted");
  const shiftedSet = await buildShiftedDataset(opts.sample, shiftedDir);
  const shiftedVersion = await versionDataset(rt, shiftedDir);
  ctx.out(
    `Labelling team delivered ${shiftedSet.added.train + shiftedSet.added.test} shifted images: dataset ${shiftedVersion.record.id.slice(0, 12)}… (${shiftedVersion.record.files} files, validation ${shiftedVersion.record.validation})`,
  );
  const shifted = await splitImages(join(shiftedDir, "test"), (f) => f.startsWith("shifted-"));
  const before = new Date().toISOString();
  const load = steadyLoad(run.live.server.url, shifted, 60);
  try {
    const report = await poll("a drift report with drift", () => newReport(rt, model, v1, before, true), 90_000);
    ctx.out(
      `Drift report ${report.reportId}: DRIFT, severity ${(report.severity * 100).toFixed(0)} % — ${report.driftedTests.join(", ")}`,
    );
    const v2 = await awaitRetraining(run, report.reportId);
    await awaitGate(run, v2);
    await poll(
      `serving to swap to ${model}:${v2.version}`,
      async () => (run.live.server.context.host.current?.version === v2.version ? true : undefined),
      30_000,
    );
    // A little traffic on the new version, then stop.
    const swappedAt = load.stats.sent;
    await poll(
      "requests on the new version",
      async () => (load.stats.sent > swappedAt + 300 ? true : undefined),
      60_000,
    );
    ctx.out(
      `Promoted ${model}:${v2.version} and hot-swapped serving: ${load.stats.sent} requests during the change, ${load.stats.failed} failed`,
    );
  } finally {
    await load.stop();
  }
  run.failedRequests += load.stats.failed;
  run.lastServed = load.stats.served.at(-1)?.requestId ?? "";
}

/** The retrain function's decision on the drift report, its training job followed epoch by epoch, the new version. */
async function awaitRetraining(run: Run, reportId: string): Promise<ModelVersion> {
  const { rt, ctx, opts, model } = run;
  const decision = await poll("the retrain decision", () => RetrainDecisions.get(rt.meta, reportId), 30_000);
  if (decision.outcome !== "started") throw new Error(`the retrain policy did not start a job: ${decision.reason}`);
  ctx.out(
    `Retrain policy: started job ${decision.job} (request ${decision.requestId}) on dataset ${String(decision.datasetId).slice(0, 12)}…`,
  );
  const job = await poll("the job record", () => Jobs.get(rt.meta, decision.job!), 30_000);
  const follow = followEpochs(
    job.log,
    (e) =>
      ctx.out(
        `  epoch ${e.epoch}/${opts.epochs}: loss ${e.loss?.toFixed(4)}, accuracy ${e.accuracy?.toFixed(4)}, validation ${e.valAccuracy?.toFixed(4)}`,
      ),
    opts.verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
  );
  let v2: ModelVersion;
  try {
    v2 = await poll(
      "the retrained model (see the job log)",
      async () => {
        const status = await run.live.fctx.jobs.status(decision.job!);
        if (status?.state === "failed")
          throw new Error(`training job ${decision.job} failed: ${status.message ?? "see its log"} (${job.log})`);
        return (await listVersions(rt.meta, model)).find((v) => v.requestId === decision.requestId);
      },
      15 * 60_000,
      500,
    );
  } finally {
    follow.stop();
  }
  ctx.out(
    `Registered ${model}:${v2.version}: test accuracy ${v2.metrics.accuracy?.toFixed(4)} on the clean + shifted held-out images (training log: ${job.log})`,
  );
  return v2;
}

/** The gate's decision on the retrained version, its headline rules printed; anything but a promotion stops the demo. */
async function awaitGate(run: Run, v2: ModelVersion): Promise<void> {
  const { rt, ctx, model } = run;
  const gate = await poll(
    "the gate's decision",
    async () => (await listDecisions(rt.meta, model)).find((d) => d.version === v2.version && d.outcome !== "deciding"),
    120_000,
  );
  // The headline rules, then any that failed (every rule is in the decision record and the report).
  const headline = gate.rules.filter((r) => /^relative:accuracy/.test(r.rule) || !r.passed);
  for (const r of headline) ctx.out(`  ${r.passed ? "pass" : "FAIL"}  ${r.rule.padEnd(34)} ${r.detail}`);
  ctx.out(
    `  gate: ${gate.rules.filter((r) => r.passed).length} of ${gate.rules.length} rules passed, on the new held-out data and on production's`,
  );
  if (gate.outcome !== "promoted") throw new Error(`the gate did not promote ${model}:${v2.version}: ${gate.outcome}`);
}

/** Step 5: the last served prediction's lineage, once the lineage function recorded it, and its verification. */
async function verifiedLineage(
  run: Run,
): Promise<{ lineage: PredictionLineage; verification: Awaited<ReturnType<typeof verifyModelLineage>> }> {
  const { rt, ctx, model, lastServed } = run;
  await run.live.server.context.predictionLog?.flush();
  await poll(
    "the lineage function to record the prediction",
    async () => ((await Predictions.get(rt.meta, docKey(lastServed))) ? true : undefined),
    30_000,
  );
  const lineage = await predictionLineage(rt.meta, lastServed);
  for (const line of renderTree(predictionTree(lineage))) ctx.out(line);
  const verification = await verifyModelLineage(rt, model, lineage.lineage.model.version);
  ctx.out(
    `${verification.ok ? "Verified" : "FAILED"}: ${model}:${lineage.lineage.model.version} (${verification.checks.length} checks)`,
  );
  if (!verification.ok) throw new Error("lineage verification failed");
  return { lineage, verification };
}

/** `--keep-serving`: everything stays up until Ctrl-C. */
async function keepServing(run: Run): Promise<void> {
  run.ctx.out(
    `\nServing stays up at ${run.live.server.url} with the functions running (--keep-serving). Ctrl-C stops.`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
}
