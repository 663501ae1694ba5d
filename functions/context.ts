import { loadConfig, type Config } from "../core/config/config.ts";
import { openJobRunner, openRuntime, type Runtime } from "../core/config/runtime.ts";
import { DEFAULT_DRIFT_POLICY, loadDriftPolicy, type DriftPolicy } from "../core/drift/drift-policy.ts";
import type { JobRunner } from "../core/jobs/job-runner.ts";
import { loadTrainers, type TrainerDefinition } from "../core/jobs/trainers.ts";
import { lineageEmitterFrom, type LineageEmitter } from "../core/lineage/emit.ts";
import { DEFAULT_POLICY_FILE, loadPolicy, type PromotionPolicy } from "../core/registry/policy.ts";
import type { Evaluator } from "../core/registry/promote.ts";
import { DEFAULT_RETRAIN_POLICY, loadRetrainPolicy, type RetrainPolicy } from "../core/retrain/policy.ts";
import { ConfigError } from "../core/config/config.ts";
import { LogDriftMetrics, type DriftMetricsSink } from "../core/telemetry/drift-metrics.ts";
import { createLogger, type Logger } from "../core/telemetry/logger.ts";
import { OnnxEvaluator } from "../evaluation/onnx-evaluator.ts";
import {
  SIGHTLINE_DRIFT_METRICS,
  SIGHTLINE_DRIFT_POLICY,
  SIGHTLINE_PROMOTION_POLICY,
  SIGHTLINE_RETRAIN_POLICY,
  SIGHTLINE_TRAINER_IMAGE,
  SIGHTLINE_TRAINERS,
} from "../core/config/settings/functions.ts";

/** Everything the four functions use, opened once per instance (a Cloud Functions instance serves many events). */
export interface FunctionContext {
  rt: Runtime;
  jobs: JobRunner;
  driftPolicy: DriftPolicy;
  retrainPolicy: RetrainPolicy;
  /** The trainers a retraining may use (SIGHTLINE_TRAINERS, plus `builtin`). */
  trainers: Record<string, TrainerDefinition>;
  promotion: { policy: PromotionPolicy; digest: string };
  metrics: DriftMetricsSink;
  evaluator: Evaluator;
  /** Sends OpenLineage RunEvents as lineage is recorded (SIGHTLINE_OPENLINEAGE_URL); undefined when not configured. */
  lineage: LineageEmitter | undefined;
  log: Logger;
  close(): Promise<void>;
}

export interface ContextOptions {
  env?: Record<string, string | undefined>;
  config?: Config;
  log?: Logger;
  /** Replaces the dashboard metrics sink (tests point Cloud Monitoring at a loopback server). */
  metrics?: DriftMetricsSink;
  jobs?: JobRunner;
  /** Policies given directly (the demo's), instead of the files the environment names. */
  driftPolicy?: DriftPolicy;
  retrainPolicy?: RetrainPolicy;
}

/**
 * Opens the stores, the job runner, the policies and the metrics sink from the environment: SIGHTLINE_* as for
 * every component, plus SIGHTLINE_DRIFT_POLICY, SIGHTLINE_RETRAIN_POLICY, SIGHTLINE_PROMOTION_POLICY (files; the
 * checked-in ones by default), SIGHTLINE_TRAINERS (the trainers a retraining may use), SIGHTLINE_TRAINER_IMAGE (for k8s://), SIGHTLINE_DRIFT_METRICS (`log`, the
 * default, or `monitoring://PROJECT` for Cloud Monitoring custom metrics) and SIGHTLINE_OPENLINEAGE_* (core/config/openlineage.ts).
 */
export async function openFunctionContext(options: ContextOptions = {}): Promise<FunctionContext> {
  const env = options.env ?? process.env;
  const log = options.log ?? createLogger({ component: "functions" });
  const config = options.config ?? loadConfig(env);
  const [driftPolicy, retrainPolicy, promotion, trainers] = await Promise.all([
    options.driftPolicy ??
      loadDriftPolicy(SIGHTLINE_DRIFT_POLICY.read(env) ?? DEFAULT_DRIFT_POLICY).then((d) => d.policy),
    options.retrainPolicy ?? loadRetrainPolicy(SIGHTLINE_RETRAIN_POLICY.read(env) ?? DEFAULT_RETRAIN_POLICY),
    loadPolicy(SIGHTLINE_PROMOTION_POLICY.read(env) ?? DEFAULT_POLICY_FILE),
    loadTrainers(SIGHTLINE_TRAINERS.read(env)),
  ]);
  const lineage = lineageEmitterFrom(config, env, log);
  const metrics = options.metrics ?? (await openMetricsSink(SIGHTLINE_DRIFT_METRICS.read(env)!, log));
  const trainerImage = SIGHTLINE_TRAINER_IMAGE.read(env);
  const rt = await openRuntime(config, log);
  try {
    const jobs =
      options.jobs ??
      (await openJobRunner(config.jobs, {
        config,
        meta: rt.meta,
        log,
        ...(trainerImage ? { trainerImage } : {}),
      }));
    return {
      rt,
      jobs,
      driftPolicy,
      retrainPolicy,
      trainers,
      promotion: { policy: promotion.policy, digest: promotion.digest },
      metrics,
      evaluator: new OnnxEvaluator(rt),
      lineage,
      log,
      close: async () => {
        await Promise.allSettled([jobs.close(), metrics.close()]);
        await rt.close();
      },
    };
  } catch (err) {
    await rt.close();
    throw err;
  }
}

async function openMetricsSink(target: string, log: Logger): Promise<DriftMetricsSink> {
  if (target === "log") return new LogDriftMetrics(log.child({ component: "drift-metrics" }));
  const project = /^monitoring:\/\/([a-z][a-z0-9-]{4,28}[a-z0-9])$/.exec(target)?.[1];
  if (!project)
    throw new ConfigError(`SIGHTLINE_DRIFT_METRICS=${JSON.stringify(target)}: expected "log" or monitoring://PROJECT`);
  const { CloudMonitoringSink } = await import("../core/telemetry/cloud-monitoring-sink.ts");
  return new CloudMonitoringSink(project);
}
