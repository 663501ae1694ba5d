import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ConfigError, loadConfig } from "../../core/config/config.ts";
import { openJobRunner } from "../../core/config/runtime.ts";
import { DEFAULT_TEMPLATE, GkeJobRunner, type GkeJobRunnerOptions } from "../../core/jobs/gke-runner.ts";
import { GkeJobReader } from "../../core/jobs/gke-reader.ts";
import { openJobReader } from "../../core/jobs/job-reader.ts";
import { jobNameFor, type TrainingJobSpec } from "../../core/jobs/job-runner.ts";
import { TRAINER_ENV_NAMES, TrainerEnvSchema } from "../../core/jobs/trainer-contract.ts";
import { ContractJobSchema, TrainerDefinitionSchema, type ContractJob } from "../../core/jobs/trainers.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { runCli } from "../support/cli.ts";
import { smallDataset } from "../support/datasets.ts";
import { startFakeKubeApi, type FakeKubeApi, type JsonJob, type JsonPod } from "../support/fake-kube-api.ts";

const NS = "sightline";
const IMAGE = `europe-docker.pkg.dev/my-project/sightline/trainer@sha256:${"0123456789abcdef".repeat(4)}`;
const DATASET = "d".repeat(64);
const quiet = createLogger({}, { write: () => {} });

let api: FakeKubeApi;
let runner: GkeJobRunner;

function options(overrides: Partial<GkeJobRunnerOptions> = {}): GkeJobRunnerOptions {
  return {
    namespace: NS,
    image: IMAGE,
    stores: {
      blobs: { kind: "gcs", bucket: "my-bucket", prefix: "sightline" },
      meta: { kind: "firestore", project: "my-project", database: "(default)" },
      bus: { kind: "pubsub", project: "my-project" },
    },
    kubeConfig: api.kubeConfig(),
    env: { SIGHTLINE_GIT_COMMIT: "abc123" },
    log: quiet,
    ...overrides,
  };
}

beforeAll(async () => {
  api = await startFakeKubeApi();
  runner = new GkeJobRunner(options());
});

afterAll(async () => {
  await runner.close();
  await api.close();
});

const spec = (requestId: string, extra: Partial<TrainingJobSpec> = {}): TrainingJobSpec => ({
  requestId,
  model: "fashion",
  datasetId: DATASET,
  ...extra,
});

function stored(requestId: string): JsonJob {
  const job = api.jobs.get(`${NS}/${jobNameFor(requestId)}`);
  if (!job) throw new Error(`no Job for ${requestId} in the fake API`);
  return job;
}

describe("GkeJobRunner", () => {
  it("creates a Job from the template with the name, pinned image, environment, labels and hardening", async () => {
    const requestId = "drift:report/2026-11-01 #7";
    const res = await runner.submit(spec(requestId, { epochs: 5, reason: "drift report r-9" }));
    expect(res).toEqual({ name: jobNameFor(requestId), created: true });

    const job = stored(requestId);
    const post = api.requests.find((r) => r.method === "POST");
    expect({ ...post, query: undefined }).toEqual({
      query: undefined,
      method: "POST",
      path: `/apis/batch/v1/namespaces/${NS}/jobs`,
      authorization: `Bearer ${api.token}`,
    });
    expect(job.apiVersion).toBe("batch/v1");
    expect(job.kind).toBe("Job");
    expect(job.metadata.name).toBe(jobNameFor(requestId));
    expect(job.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "sightline-trainer",
      "sightline.dev/request-id": "drift-report-2026-11-01-7",
      "sightline.dev/model": "fashion",
    });
    expect(job.metadata.annotations).toEqual({
      "sightline.dev/request-id": requestId,
      "sightline.dev/model": "fashion",
      "sightline.dev/dataset": DATASET,
      "sightline.dev/reason": "drift report r-9",
    });

    const jobSpec = job.spec as {
      backoffLimit: number;
      ttlSecondsAfterFinished: number;
      activeDeadlineSeconds: number;
      template: {
        metadata: { labels: Record<string, string> };
        spec: Record<string, unknown> & { containers: Record<string, unknown>[] };
      };
    };
    expect(jobSpec).toMatchObject({ backoffLimit: 1, ttlSecondsAfterFinished: 86400, activeDeadlineSeconds: 14400 });
    const pod = jobSpec.template;
    expect(pod.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "sightline-trainer",
      "sightline.dev/request-id": "drift-report-2026-11-01-7",
    });
    expect(pod.spec).toMatchObject({
      serviceAccountName: "sightline-trainer",
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
    });
    expect(pod.spec.containers).toHaveLength(1);
    const container = pod.spec.containers[0];
    expect(container).toMatchObject({
      name: "trainer",
      image: IMAGE,
      resources: { requests: { cpu: "2", memory: "4Gi" }, limits: { cpu: "2", memory: "4Gi" } },
      securityContext: {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      },
    });
    const env = Object.fromEntries((container?.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
    expect(env).toEqual({
      SIGHTLINE_HOME: "/tmp/sightline",
      NODE_ENV: "production",
      SIGHTLINE_BLOBS: "gs://my-bucket/sightline",
      SIGHTLINE_META: "firestore://my-project/(default)",
      SIGHTLINE_BUS: "pubsub://my-project",
      SIGHTLINE_GIT_COMMIT: "abc123",
      SIGHTLINE_DATASET: DATASET,
      SIGHTLINE_TRAIN_MODEL_NAME: "fashion",
      SIGHTLINE_REQUEST_ID: requestId,
      SIGHTLINE_EPOCHS: "5",
      SIGHTLINE_TRAIN_JOB_IMAGE: IMAGE,
    });
  });

  it("sends the whole template: nothing is dropped by the client's typed serializer (no unknown or misspelt keys)", async () => {
    const built = JSON.parse(JSON.stringify(runner.buildJob(spec("req-roundtrip")))) as JsonJob;
    await runner.submit(spec("req-roundtrip"));
    const sent = structuredClone(stored("req-roundtrip"));
    // What the server added is not what the client sent.
    delete sent.status;
    for (const key of ["namespace", "uid", "resourceVersion", "creationTimestamp"]) delete sent.metadata[key];
    expect(sent).toEqual(built);
    // And the file's own values are what went out (the runner only adds, never drops).
    const template = parseYaml(readFileSync(DEFAULT_TEMPLATE, "utf8")) as {
      spec: { template: { spec: { volumes: unknown } } };
    };
    expect((sent.spec as typeof template.spec).template.spec.volumes).toEqual(template.spec.template.spec.volumes);
  });

  it("treats 409 AlreadyExists as already submitted, also for concurrent submissions", async () => {
    expect(await runner.submit(spec("req-dup"))).toMatchObject({ created: true });
    expect(await runner.submit(spec("req-dup"))).toEqual({ name: jobNameFor("req-dup"), created: false });
    const both = await Promise.all([runner.submit(spec("req-race")), runner.submit(spec("req-race"))]);
    expect(both.map((r) => r.created).sort()).toEqual([false, true]);
    expect([...api.jobs.keys()].filter((k) => k.endsWith(jobNameFor("req-race")))).toHaveLength(1);
  });

  it("maps the Job's status to pending, running, succeeded and failed; unknown names are undefined", async () => {
    const { name } = await runner.submit(spec("req-status"));
    expect(await runner.status(name)).toEqual({ name, requestId: "req-status", state: "pending" });

    api.setStatus(NS, name, { active: 1, ready: 0, startTime: "2026-11-02T10:00:00Z" });
    expect(await runner.status(name)).toMatchObject({ state: "pending", startedAt: "2026-11-02T10:00:00.000Z" });
    api.setStatus(NS, name, { active: 1, ready: 1, startTime: "2026-11-02T10:00:00Z" });
    expect(await runner.status(name)).toMatchObject({ state: "running" });
    api.setStatus(NS, name, {
      succeeded: 1,
      startTime: "2026-11-02T10:00:00Z",
      completionTime: "2026-11-02T10:07:30Z",
    });
    expect(await runner.status(name)).toEqual({
      name,
      requestId: "req-status",
      state: "succeeded",
      startedAt: "2026-11-02T10:00:00.000Z",
      finishedAt: "2026-11-02T10:07:30.000Z",
    });

    const failed = (await runner.submit(spec("req-fail"))).name;
    // A retry left (failed 1 ≤ backoffLimit 1) is still a running job, not a failed one.
    api.setStatus(NS, failed, { failed: 1, active: 1, ready: 1 });
    expect(await runner.status(failed)).toMatchObject({ state: "running" });
    api.setStatus(NS, failed, {
      failed: 2,
      conditions: [
        {
          type: "FailureTarget",
          status: "True",
          reason: "BackoffLimitExceeded",
          message: "Job has reached the specified backoff limit",
        },
        {
          type: "Failed",
          status: "True",
          reason: "BackoffLimitExceeded",
          message: "Job has reached the specified backoff limit",
          lastTransitionTime: "2026-11-02T11:00:00Z",
        },
      ],
    });
    expect(await runner.status(failed)).toMatchObject({
      state: "failed",
      message: "BackoffLimitExceeded: Job has reached the specified backoff limit",
      finishedAt: "2026-11-02T11:00:00.000Z",
    });

    expect(await runner.status("train-nothing")).toBeUndefined();
  });

  it("lists unfinished trainer Jobs only, selecting by label", async () => {
    const ns2 = await startFakeKubeApi();
    try {
      const r = new GkeJobRunner(options({ kubeConfig: ns2.kubeConfig() }));
      const a = (await r.submit(spec("req-a"))).name;
      const b = (await r.submit(spec("req-b"))).name;
      const c = (await r.submit(spec("req-c"))).name;
      ns2.setStatus(NS, b, { active: 1, ready: 1 });
      ns2.setStatus(NS, c, { succeeded: 1 });
      // Some other Job in the namespace is not the runner's business.
      ns2.jobs.set(`${NS}/other`, {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "other", namespace: NS, labels: { app: "x" } },
        status: {},
      });

      const active = await r.active();
      expect(active.map((s) => [s.name, s.requestId, s.state]).sort()).toEqual([
        [a, "req-a", "pending"],
        [b, "req-b", "running"],
      ]);
      const list = ns2.requests.filter((q) => q.method === "GET" && q.path === `/apis/batch/v1/namespaces/${NS}/jobs`);
      expect(list).toHaveLength(1);
    } finally {
      await ns2.close();
    }
  });

  it("refuses a trainer image that is not pinned by digest", () => {
    for (const image of [
      "europe-docker.pkg.dev/p/r/trainer:1.2.3",
      "trainer",
      "trainer@sha256:abc",
      "trainer:latest",
    ]) {
      expect(() => new GkeJobRunner(options({ image }))).toThrow(/not pinned by digest/);
    }
    expect(() => new GkeJobRunner(options({ image: `trainer:1.2.3@sha256:${"a".repeat(64)}` }))).not.toThrow();
  });

  it("is what openJobRunner opens for k8s://, which needs the trainer image", async () => {
    const config = loadConfig({ SIGHTLINE_HOME: tmpdir(), SIGHTLINE_JOBS: "k8s://sightline" }, tmpdir());
    const meta = new SqliteStore(join(mkdtempSync(join(tmpdir(), "sightline-open-")), "meta.db"));
    if (config.jobs.kind !== "k8s") throw new Error("expected a k8s target");
    await expect(openJobRunner(config.jobs, { config, meta, log: quiet })).rejects.toThrow(ConfigError);
    await expect(
      openJobRunner(config.jobs, { config, meta, log: quiet, trainerImage: "trainer:latest" }),
    ).rejects.toThrow(/not pinned by digest/);
    await meta.close();
  });

  it("refuses a template without the parts it relies on, naming the file", () => {
    const path = join(mkdtempSync(join(tmpdir(), "sightline-tpl-")), "job.yaml");
    const template = parseYaml(readFileSync(DEFAULT_TEMPLATE, "utf8")) as {
      spec: { template: { spec: { restartPolicy?: string } } };
    };
    template.spec.template.spec.restartPolicy = "OnFailure";
    writeFileSync(path, JSON.stringify(template));
    expect(() => new GkeJobRunner(options({ templatePath: path }))).toThrow(
      new RegExp(`${path}.*invalid[\\s\\S]*restartPolicy`),
    );
  });

  it("reports API errors with what it was doing and the server's reason", async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "fake", server: api.url, skipTLSVerify: true }],
      users: [{ name: "intruder", token: "wrong" }],
      contexts: [{ name: "fake", cluster: "fake", user: "intruder" }],
      currentContext: "fake",
    });
    const r = new GkeJobRunner(options({ kubeConfig: kc }));
    await expect(r.submit(spec("req-denied"))).rejects.toThrow(
      `cannot create Job ${jobNameFor("req-denied")} in namespace ${NS}: HTTP 401`,
    );
    await expect(r.active()).rejects.toThrow(`cannot list Jobs in namespace ${NS}: HTTP 401`);
  });
});

describe("GkeJobRunner with a trainer on the contract", () => {
  const USER_IMAGE = `europe-docker.pkg.dev/my-project/team/pytorch-cnn@sha256:${"fedcba9876543210".repeat(4)}`;
  const classes = ["bag", "coat", "shirt"];
  const contract = (over: Partial<ContractJob["trainer"]> = {}, fineTune = false): ContractJob => ({
    trainerName: "pytorch-cnn",
    trainer: TrainerDefinitionSchema.parse({ image: USER_IMAGE, args: { epochs: 2 }, timeout: 1800, ...over }),
    args: { epochs: 3, lr: 0.01 },
    seed: 7,
    fineTune,
    classes,
    runId: "run-20261202-abcdef12",
  });
  type Pod = {
    initContainers: Record<string, unknown>[];
    containers: Record<string, unknown>[];
    volumes: { name: string }[];
    nodeSelector?: Record<string, string>;
  };
  const podOf = (job: JsonJob): Pod => (job.spec as { template: { spec: Pod } }).template.spec;
  const envOf = (c: Record<string, unknown>): Record<string, string> =>
    Object.fromEntries((c.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));

  it("runs the trainer's image by digest between Sightline's stage and ingest containers, with the contract's environment only", async () => {
    await runner.submit(spec("byo-1", { contract: contract() }));
    const job = stored("byo-1");
    const pod = podOf(job);
    expect(pod.initContainers.map((c) => c.name)).toEqual(["stage", "user-trainer"]);
    expect(pod.containers.map((c) => c.name)).toEqual(["trainer"]);
    const [stage, user] = pod.initContainers as [Record<string, unknown>, Record<string, unknown>];
    const ingest = pod.containers[0]!;
    expect(user.image).toBe(USER_IMAGE);
    expect([stage.image, ingest.image]).toEqual([IMAGE, IMAGE]);
    expect([stage.args, ingest.args]).toEqual([
      ["trainer/main.ts", "stage"],
      ["trainer/main.ts", "ingest"],
    ]);
    // The same names as the local runner's (both come from contractEnv): nothing of the stores reaches the trainer.
    const userEnv = envOf(user);
    expect(Object.keys(userEnv).sort()).toEqual(TRAINER_ENV_NAMES.filter((n) => n !== "SIGHTLINE_INIT_MODEL").sort());
    const parsed = TrainerEnvSchema.parse(userEnv);
    expect(parsed.SIGHTLINE_CLASSES).toEqual(classes);
    expect(parsed.SIGHTLINE_ARGS).toEqual({ epochs: 3, lr: 0.01 });
    expect(parsed.SIGHTLINE_SEED).toBe(7);
    expect(parsed.AIP_TRAINING_DATA_URI).toBe("file:///sightline/data/training.jsonl");
    expect(parsed.AIP_MODEL_DIR).toBe("/sightline/model");
    expect(user.args).toEqual(["--epochs", "3", "--lr", "0.01"]);
    // Sightline's containers carry the job and the stores, and share the run volume with the trainer.
    for (const c of [stage, ingest]) {
      expect(envOf(c)).toMatchObject({
        SIGHTLINE_RUN_ROOT: "/sightline",
        SIGHTLINE_META: "firestore://my-project/(default)",
        SIGHTLINE_REQUEST_ID: "byo-1",
      });
      expect(ContractJobSchema.parse(JSON.parse(envOf(c).SIGHTLINE_CONTRACT_JOB!))).toEqual(contract());
    }
    for (const c of [stage, user, ingest])
      expect(c.volumeMounts).toContainEqual({ name: "run", mountPath: "/sightline" });
    expect(pod.volumes).toContainEqual({ name: "run", emptyDir: {} });
    expect((job.spec as { activeDeadlineSeconds: number }).activeDeadlineSeconds).toBe(1800);
    expect(pod.nodeSelector).toBeUndefined();
  });

  it("gives the trainer its resources, a GPU with its node selector, and production's model when fine-tuning", async () => {
    const gpu = contract(
      {
        resources: {
          cpu: "4",
          memory: "16Gi",
          gpu: 1,
          nodeSelector: { "cloud.google.com/gke-accelerator": "nvidia-l4" },
        },
      },
      true,
    );
    await runner.submit(spec("byo-gpu", { contract: gpu }));
    const pod = podOf(stored("byo-gpu"));
    const user = pod.initContainers[1]!;
    const quantities = { cpu: "4", memory: "16Gi", "nvidia.com/gpu": "1" };
    expect(user.resources).toEqual({ requests: quantities, limits: quantities });
    expect(pod.nodeSelector).toEqual({ "cloud.google.com/gke-accelerator": "nvidia-l4" });
    expect(envOf(user).SIGHTLINE_INIT_MODEL).toBe("/sightline/init/model.onnx");
  });

  it("refuses a contract trainer without an image", async () => {
    const commandOnly = { ...contract(), trainer: TrainerDefinitionSchema.parse({ command: "python3 train.py" }) };
    await expect(runner.submit(spec("byo-cmd", { contract: commandOnly }))).rejects.toThrow(/no image to run on GKE/);
  });
});

describe("sightline train --image", () => {
  it("submits the image as a contract Job through the Kubernetes API, with the dataset's classes", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "sightline-train-image-"));
    const kubeconfig = join(cwd, "kubeconfig");
    writeFileSync(kubeconfig, api.kubeConfig().exportConfig());
    const env = {
      SIGHTLINE_HOME: join(cwd, "home"),
      SIGHTLINE_JOBS: `k8s://${NS}`,
      SIGHTLINE_TRAINER_IMAGE: IMAGE,
      KUBECONFIG: kubeconfig,
    };
    const dataset = await smallDataset({ classes: ["bag", "coat"] });
    const versioned = await runCli(["data", "version", dataset, "--json"], { cwd, env });
    expect(versioned.code, versioned.stderr).toBe(0);
    const datasetId = (JSON.parse(versioned.stdout) as { id: string }).id;
    const userImage = `europe-docker.pkg.dev/p/team/cnn@sha256:${"2".repeat(64)}`;
    const run = await runCli(
      ["train", "--dataset", datasetId, "--model", "bags", "--image", userImage, "--arg", "epochs=4", "--json"],
      { cwd, env },
    );
    expect(run.code, run.stderr).toBe(0);
    const { job: name, requestId } = JSON.parse(run.stdout) as { job: string; requestId: string };
    expect(name).toBe(jobNameFor(requestId));
    const pod = (
      api.jobs.get(`${NS}/${name}`)?.spec as {
        template: { spec: { initContainers: { image: string; env: { name: string; value: string }[] }[] } };
      }
    ).template.spec;
    const user = pod.initContainers[1]!;
    expect(user.image).toBe(userImage);
    const userEnv = TrainerEnvSchema.parse(Object.fromEntries(user.env.map((e) => [e.name, e.value])));
    expect(userEnv.SIGHTLINE_CLASSES).toEqual(["bag", "coat"]);
    expect(userEnv.SIGHTLINE_ARGS).toEqual({ epochs: 4 });

    const local = await runCli(["train", "--dataset", datasetId, "--model", "bags", "--image", userImage], {
      cwd,
      env: { SIGHTLINE_HOME: join(cwd, "home") },
    });
    expect(local.code).toBe(64);
    expect(local.stderr).toMatch(/SIGHTLINE_JOBS=k8s:\/\//);
  });
});

describe("GkeJobRunner for the console: list, get and logTail", () => {
  let kube: FakeKubeApi;
  let r: GkeJobRunner;
  beforeAll(async () => {
    kube = await startFakeKubeApi();
    r = new GkeJobRunner(options({ kubeConfig: kube.kubeConfig() }));
  });
  afterAll(async () => {
    await r.close();
    await kube.close();
  });

  /** A pod of the Job as the Job controller labels it, its containers in the given states. */
  const podFor = (
    job: string,
    n: number,
    states: Record<string, "running" | "terminated" | "waiting">,
    init: string[] = [],
  ): JsonPod => {
    const state = (name: string) => ({
      name,
      state: { [states[name] ?? "waiting"]: states[name] === "terminated" ? { exitCode: 0 } : {} },
    });
    const containers = Object.keys(states).filter((c) => !init.includes(c));
    return {
      metadata: {
        name: `${job}-pod${n}`,
        labels: { "job-name": job, "batch.kubernetes.io/job-name": job },
        creationTimestamp: new Date(Date.UTC(2026, 11, 3, 10, n)).toISOString(),
      },
      spec: { initContainers: init.map((name) => ({ name })), containers: containers.map((name) => ({ name })) },
      status: { initContainerStatuses: init.map(state), containerStatuses: containers.map(state) },
    };
  };
  const lines = (n: number, prefix = "line"): string =>
    Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}`).join("\n") + "\n";

  it("lists the trainer Jobs newest first with model, dataset, reason and the exact request id; other Jobs are left out", async () => {
    const old = (await r.submit(spec("List/Old request", { reason: "drift report r-1" }))).name;
    const mid = (await r.submit(spec("list-mid"))).name;
    const late = (await r.submit(spec("list-late", { model: "shoes" }))).name;
    const at = (name: string, minute: number): void => {
      kube.jobs.get(`${NS}/${name}`)!.metadata.creationTimestamp = new Date(
        Date.UTC(2026, 11, 3, 9, minute),
      ).toISOString();
    };
    at(old, 1);
    at(mid, 2);
    at(late, 3);
    kube.setStatus(NS, mid, { active: 1, ready: 1, startTime: "2026-12-03T09:02:30Z" });
    kube.setStatus(NS, late, {
      startTime: "2026-12-03T09:03:10Z",
      conditions: [
        { type: "Failed", status: "True", reason: "BackoffLimitExceeded", lastTransitionTime: "2026-12-03T09:09:00Z" },
      ],
    });
    kube.jobs.set(`${NS}/other`, {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "other", namespace: NS, labels: { app: "x" } },
    });

    const all = await r.list();
    expect(all.map((j) => [j.name, j.state])).toEqual([
      [late, "failed"],
      [mid, "running"],
      [old, "pending"],
    ]);
    expect(all[2]).toEqual({
      name: old,
      requestId: "List/Old request",
      model: "fashion",
      datasetId: DATASET,
      state: "pending",
      reason: "drift report r-1",
      createdAt: "2026-12-03T09:01:00.000Z",
    });
    expect(all[0]).toMatchObject({
      model: "shoes",
      startedAt: "2026-12-03T09:03:10.000Z",
      finishedAt: "2026-12-03T09:09:00.000Z",
    });
    expect(all[0]!.message).toMatch(/BackoffLimitExceeded/);
    expect((await r.list({ limit: 2 })).map((j) => j.name)).toEqual([late, mid]);
    expect(await r.get(mid)).toMatchObject({ name: mid, state: "running", startedAt: "2026-12-03T09:02:30.000Z" });
    expect(await r.get("train-nothing")).toBeUndefined();
  });

  it("tails the trainer container's log of the Job's newest pod, bounded by lines (the API is asked for one more)", async () => {
    const { name } = await r.submit(spec("tail-lines"));
    kube.addPod(NS, podFor(name, 1, { trainer: "terminated" }), { trainer: lines(50, "first try") });
    kube.addPod(NS, podFor(name, 2, { trainer: "running" }), {
      trainer:
        lines(299) + JSON.stringify({ level: "ERROR", message: "epoch failed", err: { message: "NaN loss" } }) + "\n",
    });
    const before = kube.requests.length;
    const log = await r.logTail(name, { maxLines: 200, maxBytes: 1 << 20 });
    expect(log).toMatchObject({ truncated: true, missing: false, source: "trainer" });
    expect(log.lines).toHaveLength(200);
    expect(log.lines[0]).toBe("line 101");
    expect(log.lines.at(-1)).toBe("epoch failed: NaN loss");
    const read = kube.requests.slice(before).find((q) => q.path.endsWith("/log"))!;
    expect(read.path).toBe(`/api/v1/namespaces/${NS}/pods/${name}-pod2/log`);
    expect(Object.fromEntries(read.query)).toMatchObject({
      container: "trainer",
      tailLines: "201",
      limitBytes: "1048576",
    });

    // A log shorter than the bound is whole.
    const { name: short } = await r.submit(spec("tail-short"));
    kube.addPod(NS, podFor(short, 1, { trainer: "terminated" }), { trainer: lines(3) });
    expect(await r.logTail(short, { maxLines: 200 })).toEqual({
      lines: ["line 1", "line 2", "line 3"],
      truncated: false,
      missing: false,
      source: "trainer",
    });
  });

  it("bounds the tail by bytes too, dropping the line the byte limit cuts", async () => {
    const { name } = await r.submit(spec("tail-bytes"));
    kube.addPod(NS, podFor(name, 1, { trainer: "running" }), { trainer: lines(20, "x".repeat(90)) });
    const log = await r.logTail(name, { maxLines: 10, maxBytes: 500 });
    // tailLines=11 selects lines 10..20 (about 95 bytes each); 500 bytes hold five of them and part of a sixth.
    expect(log.lines).toEqual([10, 11, 12, 13, 14].map((i) => `${"x".repeat(90)} ${i}`));
    expect(log).toMatchObject({ truncated: true, missing: false });
  });

  it("reads the contract trainer's own container while it trains or when it failed, Sightline's ingest after", async () => {
    const { name } = await r.submit(
      spec("tail-contract", {
        contract: {
          trainer: TrainerDefinitionSchema.parse({
            image: `europe-docker.pkg.dev/p/team/t@sha256:${"ab".repeat(32)}`,
            timeout: 600,
          }),
          args: {},
          seed: 1,
          fineTune: false,
          classes: ["a", "b"],
          runId: "run-1",
        },
      }),
    );
    const init = ["stage", "user-trainer"];
    const logs = {
      stage: "staged 40 images\n",
      "user-trainer": "epoch 1 loss 0.9\nepoch 2 loss 0.5\n",
      trainer: "registered v3\n",
    };
    kube.addPod(NS, podFor(name, 1, { stage: "terminated", "user-trainer": "running", trainer: "waiting" }, init), {
      stage: logs.stage,
      "user-trainer": logs["user-trainer"],
    });
    expect(await r.logTail(name)).toEqual({
      lines: ["epoch 1 loss 0.9", "epoch 2 loss 0.5"],
      truncated: false,
      missing: false,
      source: "user-trainer",
    });
    kube.addPod(
      NS,
      podFor(name, 2, { stage: "terminated", "user-trainer": "terminated", trainer: "running" }, init),
      logs,
    );
    expect(await r.logTail(name)).toMatchObject({ lines: ["registered v3"], source: "trainer" });
  });

  it("says the log is missing when the Job has no pod yet, or its container has not started", async () => {
    const { name } = await r.submit(spec("tail-none"));
    expect(await r.logTail(name)).toEqual({ lines: [], truncated: false, missing: true });
    kube.addPod(NS, podFor(name, 1, { trainer: "waiting" }), {});
    expect(await r.logTail(name)).toEqual({ lines: [], truncated: false, missing: true, source: "trainer" });
    expect(await r.logTail("train-nothing")).toMatchObject({ missing: true });
  });

  it("is what openJobReader opens for k8s://, without a trainer image", async () => {
    const reader = await openJobReader(
      { kind: "k8s", namespace: NS },
      {
        meta: new SqliteStore(join(mkdtempSync(join(tmpdir(), "jobs-gke-")), "meta.db")),
        kubeConfig: kube.kubeConfig(),
      },
    );
    expect(reader).toBeInstanceOf(GkeJobReader);
    expect((await reader.list()).map((j) => j.requestId)).toContain("list-mid");
    await reader.close();
  });
});
