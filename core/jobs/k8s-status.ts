import type { V1Job, V1JobCondition } from "@kubernetes/client-node";
import type { JobStatus } from "./job-runner.ts";

/** Label (sanitised) and annotation (exact) carrying the `training.requested` request id on each Job. */
export const REQUEST_ID = "sightline.dev/request-id";

/**
 * A Job's state as the JobRunner port sees it. Conditions are the controller's verdict; the counters cover the time
 * before it writes one (or an API server old enough not to). `ready` tells a started pod from one still being
 * scheduled or pulling its image, which on an autoscaled cluster can take minutes.
 */
export function jobStatus(job: V1Job): JobStatus {
  const meta = job.metadata ?? {};
  const name = meta.name ?? "";
  const status: JobStatus = {
    name,
    requestId: meta.annotations?.[REQUEST_ID] ?? meta.labels?.[REQUEST_ID] ?? "",
    state: "pending",
  };
  const s = job.status ?? {};
  if (s.startTime) status.startedAt = iso(s.startTime);
  const when = (c: V1JobCondition): void => {
    if (c.lastTransitionTime) status.finishedAt = iso(c.lastTransitionTime);
  };
  const failed = condition(job, "Failed") ?? condition(job, "FailureTarget");
  const complete = condition(job, "Complete") ?? condition(job, "SuccessCriteriaMet");
  if (failed) {
    status.state = "failed";
    status.message = [failed.reason, failed.message].filter(Boolean).join(": ") || "the Job failed";
    when(failed);
  } else if (complete || (s.succeeded ?? 0) >= (job.spec?.completions ?? 1)) {
    status.state = "succeeded";
    if (complete) when(complete);
    if (s.completionTime) status.finishedAt = iso(s.completionTime);
  } else if ((s.failed ?? 0) > (job.spec?.backoffLimit ?? 6)) {
    status.state = "failed";
    status.message = `${s.failed} pod(s) failed, more than the backoffLimit of ${job.spec?.backoffLimit ?? 6}`;
  } else if ((s.ready ?? s.active ?? 0) > 0) {
    status.state = "running";
  }
  return status;
}

function condition(job: V1Job, type: string): V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

/** The client turns API timestamps into Dates; a plain string is taken as it is. */
function iso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : value;
}
