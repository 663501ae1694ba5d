import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ApiException, BatchV1Api, type KubeConfig, type V1Job } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { createLogger, type Logger } from "../telemetry/logger.ts";
import { APP, APP_LABEL, CONTAINER, GkeJobReader } from "./gke-reader.ts";
import {
  jobNameFor,
  type JobLog,
  type JobRunner,
  type JobStatus,
  type JobSummary,
  type LogTailOptions,
  type SubmitResult,
  type TrainingJobSpec,
} from "./job-runner.ts";
import { apiError, defaultKubeConfig } from "./k8s-client.ts";
import { jobStatus, REQUEST_ID } from "./k8s-status.ts";
import { argvOf, contractEnv, runLayout } from "./trainer-contract.ts";
import { specEnv, storesEnv, type StoreTargets } from "./trainer-env.ts";
import { PINNED_IMAGE, type ContractJob } from "./trainers.ts";
import { SightlineError } from "../errors.ts";
import { SIGHTLINE_RUN_ROOT, SIGHTLINE_TRAIN_JOB_IMAGE } from "../config/settings/trainer-job.ts";

export const DEFAULT_TEMPLATE = fileURLToPath(new URL("../../k8s/base/trainer-job.yaml", import.meta.url));

export interface GkeJobRunnerOptions {
  /** Where the Jobs are created (SIGHTLINE_JOBS=k8s://NAMESPACE). */
  namespace: string;
  /** The trainer image, pinned by digest (`REPO@sha256:…`): a model's lineage names the exact image it came from. */
  image: string;
  /** The cloud stores the trainer writes to; passed as SIGHTLINE_BLOBS/META/BUS. */
  stores: StoreTargets;
  /** Default: in-cluster when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig. */
  kubeConfig?: KubeConfig;
  /** Default: k8s/base/trainer-job.yaml of this checkout. */
  templatePath?: string;
  /** Extra variables for every job, e.g. SIGHTLINE_GIT_COMMIT. */
  env?: Record<string, string>;
  log?: Logger;
}

// Only the parts of the template this runner relies on or writes to; everything else passes through untouched.
const Labels = z.record(z.string(), z.string());
const TemplateSchema = z.looseObject({
  apiVersion: z.literal("batch/v1"),
  kind: z.literal("Job"),
  metadata: z.looseObject({
    labels: Labels.refine(
      (l) => l[APP_LABEL] === APP,
      `metadata.labels must include ${APP_LABEL}: ${APP} (active() selects on it)`,
    ),
    annotations: Labels.optional(),
  }),
  spec: z.looseObject({
    backoffLimit: z.number().int().nonnegative(),
    activeDeadlineSeconds: z.number().int().positive(),
    ttlSecondsAfterFinished: z.number().int().nonnegative(),
    template: z.looseObject({
      metadata: z.looseObject({ labels: Labels.optional() }).optional(),
      spec: z.looseObject({
        serviceAccountName: z.string().min(1),
        restartPolicy: z.literal("Never"),
        containers: z
          .array(
            z.looseObject({
              name: z.string(),
              image: z.string(),
              env: z.array(z.looseObject({ name: z.string() })).optional(),
            }),
          )
          .refine(
            (cs) => cs.some((c) => c.name === CONTAINER),
            `a container named ${JSON.stringify(CONTAINER)} is required`,
          ),
      }),
    }),
  }),
});
type Template = z.infer<typeof TemplateSchema>;

/** Runs each training job as a `batch/v1` Job built from the template; the Job's name makes resubmission a no-op. */
export class GkeJobRunner implements JobRunner {
  private readonly options: GkeJobRunnerOptions;
  private readonly template: Template;
  private readonly api: BatchV1Api;
  private readonly log: Logger;
  private readonly reader: GkeJobReader;

  constructor(options: GkeJobRunnerOptions) {
    if (!PINNED_IMAGE.test(options.image)) {
      throw new SightlineError(
        "config",
        "trainer_image_unpinned",
        `trainer image ${JSON.stringify(options.image)} is not pinned by digest: use REPOSITORY@sha256:<64 hex> (a tag can move, and the model's lineage must name the image that trained it)`,
      );
    }
    this.options = options;
    this.template = loadTemplate(options.templatePath ?? DEFAULT_TEMPLATE);
    const kc = options.kubeConfig ?? defaultKubeConfig();
    this.api = kc.makeApiClient(BatchV1Api);
    this.reader = new GkeJobReader({ namespace: options.namespace, kubeConfig: kc });
    this.log = options.log ?? createLogger({ component: "gke-job-runner", namespace: options.namespace });
  }

  /** The Job that submit() creates for this spec (also for dry runs). */
  buildJob(spec: TrainingJobSpec): V1Job {
    const job = structuredClone(this.template);
    const name = jobNameFor(spec.requestId);
    const labels = { [REQUEST_ID]: labelValue(spec.requestId), "sightline.dev/model": labelValue(spec.model) };
    job.metadata = {
      ...job.metadata,
      name,
      labels: { ...job.metadata.labels, ...labels },
      annotations: {
        ...job.metadata.annotations,
        // Label values are limited to 63 safe characters; the annotations keep the exact values.
        [REQUEST_ID]: spec.requestId,
        "sightline.dev/model": spec.model,
        "sightline.dev/dataset": spec.datasetId,
        ...(spec.reason === undefined ? {} : { "sightline.dev/reason": spec.reason }),
      },
    };
    const pod = job.spec.template;
    pod.metadata = { ...pod.metadata, labels: { ...pod.metadata?.labels, [APP_LABEL]: APP, ...labels } };
    const env: Record<string, string> = {
      ...storesEnv(this.options.stores),
      ...this.options.env,
      ...specEnv(spec),
      [SIGHTLINE_TRAIN_JOB_IMAGE.name]: this.options.image,
    };
    for (const container of pod.spec.containers) {
      if (container.name !== CONTAINER) continue;
      container.image = this.options.image;
      container.env = withEnv(container.env, env);
    }
    if (spec.contract) contractPod(job, spec.contract, env);
    // Validated above for the fields read here; the rest is the template's, checked against the API types in tests.
    return job as V1Job;
  }

  async submit(spec: TrainingJobSpec): Promise<SubmitResult> {
    const body = this.buildJob(spec);
    const name = jobNameFor(spec.requestId);
    try {
      await this.api.createNamespacedJob({ namespace: this.options.namespace, body });
    } catch (err) {
      if (err instanceof ApiException && err.code === 409) {
        this.log.info("training job already submitted", { job: name, requestId: spec.requestId });
        return { name, created: false };
      }
      throw apiError(err, `cannot create Job ${name} in namespace ${this.options.namespace}`);
    }
    this.log.info("training job created", {
      job: name,
      requestId: spec.requestId,
      model: spec.model,
      image: spec.contract?.trainer.image ?? this.options.image,
    });
    return { name, created: true };
  }

  status(name: string): Promise<JobStatus | undefined> {
    return this.reader.status(name);
  }

  async active(): Promise<JobStatus[]> {
    const statuses = (await this.reader.jobs()).map(jobStatus);
    return statuses.filter((s) => s.state === "pending" || s.state === "running");
  }

  list(options: { limit?: number } = {}): Promise<JobSummary[]> {
    return this.reader.list(options);
  }

  get(name: string): Promise<JobSummary | undefined> {
    return this.reader.get(name);
  }

  logTail(name: string, options: LogTailOptions = {}): Promise<JobLog> {
    return this.reader.logTail(name, options);
  }

  async close(): Promise<void> {}
}

type Container = Template["spec"]["template"]["spec"]["containers"][number];
type EnvVar = NonNullable<Container["env"]>[number];

function withEnv(current: EnvVar[] | undefined, env: Record<string, string>): EnvVar[] {
  return [
    ...(current ?? []).filter((e) => !(e.name in env)),
    ...Object.entries(env).map(([name, value]) => ({ name, value })),
  ];
}

/** Where the pod's containers share the staged data, the model directory and production's model. */
const RUN_ROOT = "/sightline";
const RUN_VOLUME = "run";

/**
 * A contract trainer's pod: Sightline's image stages the data (init container `stage`), the trainer's own image
 * runs with the contract's environment and nothing else of Sightline's (init container `user-trainer`), and
 * Sightline's image then evaluates and registers its model (the template's container, as `ingest`). The three share
 * one emptyDir. The trainer gets the contract's resources, GPU and node selector, and the Job its timeout.
 */
function contractPod(job: Template, contract: ContractJob, sightlineEnv: Record<string, string>): void {
  const { trainer } = contract;
  if (!trainer.image)
    throw new SightlineError(
      "invalid",
      "trainer_needs_image",
      `trainer ${contract.trainerName ?? ""} has no image to run on GKE (it has ${trainer.command ? "only a command" : "nothing to run"})`,
    );
  const pod = job.spec.template.spec;
  const base = pod.containers.find((c) => c.name === CONTAINER)!;
  const mount = { name: RUN_VOLUME, mountPath: RUN_ROOT };
  const mounts = (c: Container): unknown[] => [...((c.volumeMounts as unknown[] | undefined) ?? []), mount];
  const env = { ...sightlineEnv, [SIGHTLINE_RUN_ROOT.name]: RUN_ROOT };
  const sightline = (name: string, mode: string): Container => ({
    ...structuredClone(base),
    name,
    args: ["trainer/main.ts", mode],
    env: withEnv(base.env, env),
    volumeMounts: mounts(base),
  });
  const layout = runLayout(RUN_ROOT);
  const contractVars = contractEnv({
    layout,
    classes: contract.classes,
    seed: contract.seed,
    args: contract.args,
    runId: contract.runId,
    fineTune: contract.fineTune,
  });
  const { resources } = trainer;
  const quantities = {
    ...(resources?.cpu ? { cpu: resources.cpu } : {}),
    ...(resources?.memory ? { memory: resources.memory } : {}),
    ...(resources?.gpu ? { "nvidia.com/gpu": String(resources.gpu) } : {}),
  };
  const user: Container = {
    name: "user-trainer",
    image: trainer.image,
    imagePullPolicy: "IfNotPresent",
    args: argvOf(contract.args),
    env: Object.entries(contractVars).map(([name, value]) => ({ name, value })),
    // Requests equal limits, as for the built-in trainer; the template's resources when the trainer names none.
    resources: Object.keys(quantities).length ? { requests: quantities, limits: quantities } : base.resources,
    securityContext: base.securityContext,
    volumeMounts: mounts(base),
  };
  pod.initContainers = [sightline("stage", "stage"), user];
  pod.containers = pod.containers.map((c) => (c.name === CONTAINER ? sightline(CONTAINER, "ingest") : c));
  pod.volumes = [...((pod.volumes as unknown[] | undefined) ?? []), { name: RUN_VOLUME, emptyDir: {} }];
  if (resources?.nodeSelector)
    pod.nodeSelector = { ...(pod.nodeSelector as Record<string, string> | undefined), ...resources.nodeSelector };
  job.spec.activeDeadlineSeconds = trainer.timeout;
}

function loadTemplate(path: string): Template {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new SightlineError(
      "config",
      "job_template_unreadable",
      `cannot read the trainer Job template ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const parsed = TemplateSchema.safeParse(raw);
  if (!parsed.success)
    throw new SightlineError(
      "config",
      "job_template_invalid",
      `trainer Job template ${path} is invalid: ${z.prettifyError(parsed.error)}`,
    );
  return parsed.data;
}

/** A valid label value (≤ 63 of [A-Za-z0-9_.-], alphanumeric at both ends) close to the original. */
function labelValue(value: string): string {
  return value
    .replace(/[^A-Za-z0-9_.-]+/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}
