import { BatchV1Api, CoreV1Api, type KubeConfig, type V1Job, type V1Pod } from "@kubernetes/client-node";
import type { JobLog, JobReader, JobStatus, JobSummary, LogTailOptions } from "./job-runner.ts";
import { apiError, defaultKubeConfig, isApiCode } from "./k8s-client.ts";
import { jobStatus } from "./k8s-status.ts";
import { tailText } from "./log-tail.ts";

/** The label every training Job and its pods carry (the template's; GkeJobRunner checks it is there). */
export const APP_LABEL = "app.kubernetes.io/name";
export const APP = "sightline-trainer";
/** The template's container: the built-in trainer, or a contract trainer's ingest step. */
export const CONTAINER = "trainer";
const MODEL = "sightline.dev/model";
const DATASET = "sightline.dev/dataset";
const REASON = "sightline.dev/reason";

export interface GkeJobReaderOptions {
  namespace: string;
  /** Default: in-cluster when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig. */
  kubeConfig?: KubeConfig;
}

/**
 * Reads the training Jobs in one namespace and their pods' logs: `get`/`list` on `batch/jobs` and `pods`, `get` on
 * `pods/log`. It needs no trainer image, so a process that only reads (the console) opens it on its own.
 */
export class GkeJobReader implements JobReader {
  private readonly namespace: string;
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;

  constructor(options: GkeJobReaderOptions) {
    this.namespace = options.namespace;
    const kc = options.kubeConfig ?? defaultKubeConfig();
    this.batch = kc.makeApiClient(BatchV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** Every training Job in the namespace, by the label the template sets, page by page. */
  async jobs(): Promise<V1Job[]> {
    const jobs: V1Job[] = [];
    let next: string | undefined;
    try {
      do {
        const page = await this.batch.listNamespacedJob({
          namespace: this.namespace,
          labelSelector: `${APP_LABEL}=${APP}`,
          limit: 200,
          _continue: next,
        });
        jobs.push(...page.items);
        next = page.metadata?._continue || undefined;
      } while (next);
    } catch (err) {
      throw apiError(err, `cannot list Jobs in namespace ${this.namespace}`);
    }
    return jobs;
  }

  async job(name: string): Promise<V1Job | undefined> {
    try {
      return await this.batch.readNamespacedJob({ name, namespace: this.namespace });
    } catch (err) {
      if (isApiCode(err, 404)) return undefined;
      throw apiError(err, `cannot read Job ${name} in namespace ${this.namespace}`);
    }
  }

  async status(name: string): Promise<JobStatus | undefined> {
    const job = await this.job(name);
    return job && jobStatus(job);
  }

  async list(options: { limit?: number } = {}): Promise<JobSummary[]> {
    // The API lists by name; the page wants the newest first (Jobs expire after ttlSecondsAfterFinished anyway).
    const rows = (await this.jobs()).map(summary);
    rows.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.name.localeCompare(b.name));
    return rows.slice(0, options.limit ?? 100);
  }

  async get(name: string): Promise<JobSummary | undefined> {
    const job = await this.job(name);
    return job && summary(job);
  }

  /**
   * The end of the log of the Job's newest pod, from the container that started last (a contract trainer's pod runs
   * `stage`, `user-trainer`, then `trainer`: while it trains, or when the trainer failed, that is `user-trainer`).
   * The API applies `tailLines` before `limitBytes`, so one more line than kept is asked for (to tell whether the
   * log holds more) and a reply cut at `limitBytes` loses its incomplete last line.
   */
  async logTail(name: string, options: LogTailOptions = {}): Promise<JobLog> {
    const maxLines = options.maxLines ?? 200;
    const maxBytes = options.maxBytes ?? 64 * 1024;
    const none: JobLog = { lines: [], truncated: false, missing: true };
    let pods: V1Pod[];
    try {
      pods = (await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: `job-name=${name}` }))
        .items;
    } catch (err) {
      throw apiError(err, `cannot list the pods of Job ${name} in namespace ${this.namespace}`);
    }
    const pod = pods.sort((a, b) => created(b).localeCompare(created(a)))[0];
    const podName = pod?.metadata?.name;
    if (!pod || !podName) return none;
    const container = startedLast(pod);
    let text: string;
    try {
      text = await this.core.readNamespacedPodLog({
        name: podName,
        namespace: this.namespace,
        container,
        tailLines: maxLines + 1,
        limitBytes: maxBytes,
      });
    } catch (err) {
      // 404: the pod is gone; 400: its container has not started (still pulling, or waiting for the init ones).
      if (isApiCode(err, 400, 404)) return { ...none, source: container };
      throw apiError(err, `cannot read the log of pod ${podName} (container ${container})`);
    }
    const cut = Buffer.byteLength(text) >= maxBytes;
    const tail = tailText(text, { maxLines, partialEnd: cut && !text.endsWith("\n") });
    return { ...tail, truncated: tail.truncated || cut, missing: false, source: container };
  }

  async close(): Promise<void> {}
}

function summary(job: V1Job): JobSummary {
  const meta = job.metadata ?? {};
  const { name, requestId, state, message, startedAt, finishedAt } = jobStatus(job);
  const reason = meta.annotations?.[REASON];
  return {
    name,
    requestId,
    model: meta.annotations?.[MODEL] ?? meta.labels?.[MODEL] ?? "",
    datasetId: meta.annotations?.[DATASET] ?? "",
    state,
    createdAt: created(job),
    ...(reason !== undefined ? { reason } : {}),
    ...(startedAt !== undefined ? { startedAt } : {}),
    ...(finishedAt !== undefined ? { finishedAt } : {}),
    ...(message !== undefined ? { message } : {}),
  };
}

const created = (o: V1Job | V1Pod): string => {
  const t = o.metadata?.creationTimestamp;
  return t instanceof Date ? t.toISOString() : (t ?? "");
};

/** The last container in run order (init containers, then the template's) that is running or has run. */
function startedLast(pod: V1Pod): string {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const started = statuses.filter((s) => s.state?.running || s.state?.terminated);
  const main = pod.status?.containerStatuses?.find((s) => s.name === CONTAINER);
  if (main?.state?.running || main?.state?.terminated) return CONTAINER;
  return started.at(-1)?.name ?? CONTAINER;
}
