import type { TrainerJobEnv } from "../core/config/settings/trainer-job.ts";

/** The run tags a training Job's environment carries: what asked for it, and the drift report a retrain answers. */
export function jobTags(env: Pick<TrainerJobEnv, "trigger" | "driftReportId">): Record<string, string> {
  return {
    ...(env.trigger ? { trigger: env.trigger } : {}),
    ...(env.driftReportId ? { drift_report: env.driftReportId } : {}),
  };
}
