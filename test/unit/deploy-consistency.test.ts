// Consistency between the code and the deployment files: each test derives its list from the code and fails when
// a deployment file does not follow (a new event type, environment variable, image or function; a primitive role).
//   UPDATE_DEPLOY_FILES=1 npx vitest run test/unit/deploy-consistency.test.ts   rewrites terraform/events.json.
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config/config.ts";
import type { EnvComponent } from "../../core/config/env.ts";
import { ALL_SETTINGS } from "../../core/config/settings/index.ts";
import { readTrainerJobEnv } from "../../core/config/settings/trainer-job.ts";
import { topicFor } from "../../core/events/envelope.ts";
import { DEAD_LETTER_TOPIC, PubSubBus } from "../../core/events/pubsub-bus.ts";
import { EVENT_TYPES } from "../../core/events/schemas.ts";
import { FUNCTION_SUBSCRIPTIONS } from "../../core/events/subscriptions.ts";
import { GkeJobRunner } from "../../core/jobs/gke-runner.ts";
import { SPEC_ENV_NAMES } from "../../core/jobs/trainer-env.ts";
import { DRIFT_METRIC_TYPES } from "../../core/telemetry/cloud-monitoring-sink.ts";
import { loadServingConfig } from "../../serving/config.ts";
import {
  kustomize,
  OVERLAYS,
  parseHcl,
  read,
  ROOT,
  strings,
  terraformFiles,
  tool,
  yamlFile,
  type K8sObject,
} from "../fixtures/deploy/support.ts";

// --- what the code says -------------------------------------------------------------------------------------

/** events.json as core/events defines it. */
function eventsFromCode(): object {
  return {
    comment:
      "Generated from core/events (EVENT_TYPES, topicFor, FUNCTION_SUBSCRIPTIONS, DEAD_LETTER_TOPIC); test/unit/deploy-consistency.test.ts fails when it drifts and rewrites it with UPDATE_DEPLOY_FILES=1.",
    dead_letter_topic: DEAD_LETTER_TOPIC,
    event_topics: Object.fromEntries(EVENT_TYPES.map((t) => [t, topicFor(t)])),
    functions: Object.fromEntries(
      Object.entries(FUNCTION_SUBSCRIPTIONS).map(([fn, s]) => [
        fn,
        { subscription: s.subscription, types: [...s.types] },
      ]),
    ),
  };
}

/** Variables a function reads from the environment it is handed (a Proxy records every name it asks for). */
function readsFromEnv(fn: (env: Record<string, string | undefined>) => unknown): string[] {
  const seen = new Set<string>();
  const env = new Proxy({} as Record<string, string | undefined>, {
    get: (_t, key) => (typeof key === "string" && seen.add(key), undefined),
  });
  fn(env);
  return [...seen];
}

/** What the settings registry says a component reads: every read goes through it (test/unit/settings-registry.test.ts). */
const readBy = (component: EnvComponent): string[] =>
  ALL_SETTINGS.filter((v) => v.components.includes(component)).map((v) => v.name);
/** Old names are read only when the new one is unset: a manifest sets the new one. */
const DEPRECATED = new Set(ALL_SETTINGS.flatMap((v) => v.deprecatedAliases ?? []));
const current = (names: string[]): string[] => [...new Set(names)].filter((n) => !DEPRECATED.has(n)).sort();

const servingReads = (): string[] =>
  current([
    ...readsFromEnv((env) => loadConfig(env, mkdtempSync(join(tmpdir(), "cfg-")))),
    ...readsFromEnv((env) => loadServingConfig(env)),
    ...readBy("serving"),
  ]);
const trainerReads = (): string[] =>
  current([
    ...readsFromEnv((env) => loadConfig(env, mkdtempSync(join(tmpdir(), "cfg-")))),
    ...readsFromEnv((env) => readTrainerJobEnv(env)),
    ...readBy("trainer"),
  ]);

/** What core/telemetry/logger.ts reads for Error Reporting's serviceContext and no manifest needs to set. */
const LOGGER_UNSET: Record<string, string> = {
  K_SERVICE: "set by Cloud Run and Cloud Functions, not on GKE",
  K_REVISION: "set by Cloud Run and Cloud Functions, not on GKE",
  SIGHTLINE_SERVICE_VERSION: "Error Reporting's version defaults to package.json's",
};

/** Read by the code, deliberately not set by the manifests: each with the reason. */
const SERVING_UNSET: Record<string, string> = {
  SIGHTLINE_CONFIG: "no YAML file in the image: the environment carries every setting",
  SIGHTLINE_JOBS: "serving submits no training jobs",
  KUBERNETES_SERVICE_HOST: "set by the kubelet",
  SIGHTLINE_SERVE_WORKER: "set by serving's primary process for the workers it forks",
  ...LOGGER_UNSET,
  // Vertex AI's custom-container variables: Vertex sets them on its endpoints (docs/deploy-vertex.md), GKE never.
  AIP_HTTP_PORT: "set by Vertex AI only",
  AIP_PREDICT_ROUTE: "set by Vertex AI only",
  AIP_HEALTH_ROUTE: "set by Vertex AI only",
  AIP_DEPLOYED_MODEL_ID: "set by Vertex AI only",
};
const TRAINER_UNSET: Record<string, string> = {
  SIGHTLINE_CONFIG: "no YAML file in the image: the environment carries every setting",
  SIGHTLINE_JOBS: "the trainer submits no jobs",
  SIGHTLINE_LOG_LEVEL: "the logger's default (info); the template's env is pinned by test/unit/jobs-gke.test.ts",
  SIGHTLINE_GIT_COMMIT: "passed per runner through GkeJobRunnerOptions.env (the CD workflow sets GITHUB_SHA)",
  SIGHTLINE_GIT_REPO_URL:
    "passed with SIGHTLINE_GIT_COMMIT through GkeJobRunnerOptions.env (train-job.ts: GITHUB_SERVER_URL/GITHUB_REPOSITORY)",
  KUBERNETES_SERVICE_HOST: "set by the kubelet",
  SIGHTLINE_CONTRACT_JOB:
    "set per job, for a contract trainer only (its containers are pinned by test/unit/jobs-gke.test.ts)",
  SIGHTLINE_FINE_TUNE: "set per job when the retrain policy fine-tunes",
  SIGHTLINE_RUN_ROOT: "a contract Job's shared volume, set in its stage and ingest containers (default /sightline)",
  SIGHTLINE_IMAGE_FORMATS: "the default png,jpeg,webp (core/imaging/formats.ts), which the serving Deployment sets too",
  SIGHTLINE_SERVICE: "Error Reporting's service defaults to sightline-<component> (sightline-trainer)",
  ...LOGGER_UNSET,
};

/** Names the code reads that neither the manifest provides nor the allow-list explains. */
export function missingEnv(reads: string[], provided: Iterable<string>, unset: Record<string, string>): string[] {
  const have = new Set(provided);
  return reads.filter((n) => !have.has(n) && !(n in unset));
}

function servingProvided(objects: K8sObject[]): string[] {
  const deployment = objects.find(
    (o) => o.kind === "Deployment" && o.metadata.name === "sightline-serving",
  ) as unknown as {
    spec: {
      template: {
        spec: { containers: { env?: { name: string }[]; envFrom?: { configMapRef?: { name: string } }[] }[] };
      };
    };
  };
  const container = deployment.spec.template.spec.containers[0]!;
  const fromConfigMaps = (container.envFrom ?? []).flatMap((f) =>
    Object.keys(
      (
        objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === f.configMapRef?.name) as
          { data?: object } | undefined
      )?.data ?? {},
    ),
  );
  // The image's own ENV lines count too (serving/Dockerfile).
  const fromImage = [...read("serving/Dockerfile").matchAll(/^\s*(?:ENV\s+)?([A-Z][A-Z0-9_]*)=\S+(?:\s*\\)?$/gm)].map(
    (m) => m[1]!,
  );
  return [...(container.env ?? []).map((e) => e.name), ...fromConfigMaps, ...fromImage];
}

function trainerProvided(): string[] {
  const runner = new GkeJobRunner({
    namespace: "sightline",
    image: `r/trainer@sha256:${"0".repeat(64)}`,
    stores: loadConfig({
      SIGHTLINE_BLOBS: "gs://b-sightline/s",
      SIGHTLINE_META: "firestore://my-project",
      SIGHTLINE_BUS: "pubsub://my-project",
    }),
    kubeConfig: { makeApiClient: () => ({}) } as never,
  });
  const job = runner.buildJob({
    requestId: "r",
    model: "m",
    datasetId: "d".repeat(64),
    configPath: "c.yaml",
    epochs: 1,
    limit: 1,
  });
  return (job.spec?.template.spec?.containers[0]?.env ?? []).map((e) => e.name);
}

// --- the tests -----------------------------------------------------------------------------------------------

describe("events: every event type has its topic, subscriptions and dead-letter topic in Terraform", () => {
  it("terraform/events.json is what core/events defines", () => {
    const expected = `${JSON.stringify(eventsFromCode(), null, 2)}\n`;
    if (process.env.UPDATE_DEPLOY_FILES === "1") writeFileSync(join(ROOT, "terraform/events.json"), expected);
    expect(
      read("terraform/events.json"),
      "terraform/events.json drifted from core/events: run with UPDATE_DEPLOY_FILES=1",
    ).toBe(expected);
  });

  it("pubsub.tf creates one topic per event type and one dead-lettered subscription per (consumer, type), named as PubSubBus names them", async () => {
    const tf = (await parseHcl("pubsub.tf", read("terraform/pubsub.tf"))) as {
      locals: Record<string, string>[];
      resource: Record<string, Record<string, Record<string, unknown>[]>>;
    };
    const locals = Object.assign({}, ...tf.locals) as Record<string, string>;
    expect(locals.events).toBe('${jsondecode(file("${path.module}/events.json"))}');
    expect(locals.function_subscriptions).toContain('"${spec.subscription}--${local.event_topics[type]}"');
    const topic = tf.resource.google_pubsub_topic!;
    expect(topic.events![0]).toMatchObject({ for_each: "${local.event_topics}", name: "${each.value}" });
    expect(topic.dead_letter![0]).toMatchObject({ name: "${local.dead_letter_topic}" });
    const sub = tf.resource.google_pubsub_subscription!.functions![0]!;
    expect(sub).toMatchObject({
      for_each: "${local.function_subscriptions}",
      name: "${each.key}",
      topic: "${google_pubsub_topic.events[each.value.type].id}",
    });
    expect(sub.dead_letter_policy).toEqual([
      { dead_letter_topic: "${google_pubsub_topic.dead_letter.id}", max_delivery_attempts: 20 },
    ]);

    // What those expressions expand to, next to what the code's bus uses.
    const bus = new PubSubBus({ projectId: "my-project" });
    const subscriptions = Object.values(FUNCTION_SUBSCRIPTIONS).flatMap((s) =>
      s.types.map((t) => ({
        type: t,
        name: `${s.subscription}--${topicFor(t)}`,
        bus: bus.subscriptionName(s.subscription, bus.topicName(t)),
      })),
    );
    for (const s of subscriptions) expect(s.name).toBe(s.bus);
    expect(bus.deadLetterTopicName).toBe(DEAD_LETTER_TOPIC);
    await bus.close();
    for (const type of EVENT_TYPES)
      expect(subscriptions.filter((s) => s.type === type).length, `${type} has no subscription`).toBeGreaterThan(0);
  });
});

describe("functions: every function in functions/ is deployed with its trigger", () => {
  const names = Object.keys(FUNCTION_SUBSCRIPTIONS);
  const kebab = (fn: string): string => `sightline-${fn.replace(/([A-Z])/g, "-$1").toLowerCase()}`;

  it("functions/index.ts registers each of them, Terraform deploys each with its entry point, and each has push triggers for its types", async () => {
    expect(read("functions/index.ts")).toMatch(/for \(const name of FUNCTION_NAMES\) cloudEvent\(name,/);
    const tf = (await parseHcl("functions.tf", read("terraform/functions.tf"))) as {
      locals: Record<string, string>[];
      resource: Record<string, Record<string, Record<string, unknown>[]>>;
    };
    const fn = tf.resource.google_cloudfunctions2_function!.functions![0] as {
      for_each: string;
      build_config: { entry_point: string }[];
    };
    expect(fn.for_each).toBe("${local.function_names}");
    expect(fn.build_config[0]!.entry_point).toBe("${each.key}");
    expect(Object.assign({}, ...tf.locals).function_names).toBe(
      '${{ for fn in keys(local.events.functions) : fn => "sightline-${lower(replace(fn, "/([A-Z])/", "-$1"))}" }}',
    );
    // events.json (checked against the code above) is what function_names and the subscriptions iterate over.
    const events = JSON.parse(read("terraform/events.json")) as { functions: Record<string, { types: string[] }> };
    expect(Object.keys(events.functions).sort()).toEqual([...names].sort());
    for (const name of names) expect(events.functions[name]!.types.length, name).toBeGreaterThan(0);
    // Every function has a service account, and the retrain function (the one that submits Jobs) may reach GKE.
    const iam = read("terraform/iam.tf");
    for (const name of names) expect(iam, name).toMatch(new RegExp(`^\\s+${name}\\s+= "fn-`, "m"));
  });

  it("cd.yml redeploys exactly these functions, under the names Terraform gives them", () => {
    const cd = yamlFile<{ jobs: Record<string, { steps: { name?: string; env?: Record<string, string> }[] }> }>(
      ".github/workflows/cd.yml",
    );
    const step = cd.jobs.functions!.steps.find((s) => s.name === "Deploy functions")!;
    const pairs = step.env!.FUNCTIONS!.split(/\s+/).map((p) => p.split(":") as [string, string]);
    expect(pairs.map(([entry]) => entry).sort()).toEqual([...names].sort());
    for (const [entry, name] of pairs) expect(name, entry).toBe(kebab(entry));
  });
});

describe("environment: every variable the serving and trainer code reads is set by the manifests", () => {
  const kubectl = tool("kubectl");

  it("the lists derived from the code are the expected kind of thing", () => {
    expect(servingReads()).toEqual(
      expect.arrayContaining([
        "SIGHTLINE_SERVE_MODEL",
        "SIGHTLINE_DRAIN_SECONDS",
        "SIGHTLINE_BLOBS",
        "PORT",
        "GOOGLE_CLOUD_PROJECT",
        "SIGHTLINE_LOG_LEVEL",
      ]),
    );
    expect(trainerReads()).toEqual(
      expect.arrayContaining([
        "SIGHTLINE_DATASET",
        "SIGHTLINE_REQUEST_ID",
        "SIGHTLINE_TRAIN_JOB_IMAGE",
        ...SPEC_ENV_NAMES.filter((n) => !DEPRECATED.has(n)),
        "SIGHTLINE_META",
      ]),
    );
  });

  it.skipIf(kubectl.skip).each(OVERLAYS)("serving (%s overlay)", (overlay) => {
    const provided = servingProvided(kustomize(`k8s/overlays/${overlay}`));
    expect(missingEnv(servingReads(), provided, SERVING_UNSET)).toEqual([]);
    // And drift is caught: a variable the code starts reading, or one the manifest stops setting.
    expect(missingEnv([...servingReads(), "SIGHTLINE_NEW_SETTING"], provided, SERVING_UNSET)).toEqual([
      "SIGHTLINE_NEW_SETTING",
    ]);
    expect(
      missingEnv(
        servingReads(),
        provided.filter((n) => n !== "SIGHTLINE_DRAIN_SECONDS"),
        SERVING_UNSET,
      ),
    ).toEqual(["SIGHTLINE_DRAIN_SECONDS"]);
  });

  it("trainer (the Job GkeJobRunner builds from k8s/base/trainer-job.yaml)", () => {
    const provided = trainerProvided();
    expect(missingEnv(trainerReads(), provided, TRAINER_UNSET)).toEqual([]);
    expect(
      missingEnv(
        trainerReads(),
        provided.filter((n) => n !== "SIGHTLINE_HOME"),
        TRAINER_UNSET,
      ),
    ).toEqual(["SIGHTLINE_HOME"]);
  });

  it("the scheduled drift check and the functions get the stores' URIs", async () => {
    const scheduler = JSON.stringify(await parseHcl("scheduler.tf", read("terraform/scheduler.tf")));
    for (const name of ["SIGHTLINE_BLOBS", "SIGHTLINE_META", "SIGHTLINE_BUS", "SIGHTLINE_HOME"])
      expect(scheduler).toContain(`"name":"${name}"`);
    const functions = read("terraform/functions.tf");
    for (const name of [
      "SIGHTLINE_BLOBS",
      "SIGHTLINE_META",
      "SIGHTLINE_BUS",
      "SIGHTLINE_JOBS",
      "SIGHTLINE_TRAINER_IMAGE",
      "SIGHTLINE_DRIFT_METRICS",
      "KUBECONFIG",
    ])
      expect(functions).toMatch(new RegExp(`^\\s+${name}\\s+=`, "m"));
  });
});

describe("images: every image the workflow builds is the one the manifests deploy", () => {
  type Workflow = {
    jobs: Record<
      string,
      {
        env?: Record<string, string>;
        outputs?: Record<string, string>;
        steps: { name?: string; run?: string; env?: Record<string, string> }[];
      }
    >;
  };
  const cd = yamlFile<Workflow>(".github/workflows/cd.yml");
  const built = cd.jobs.images!.env!.IMAGES!.split(/\s+/);
  const kubectl = tool("kubectl");

  it("each built image has its Dockerfile and is handed on by digest", () => {
    expect(built.sort()).toEqual(["console", "serving", "trainer"]);
    for (const name of built) {
      expect(existsSync(join(ROOT, name, "Dockerfile")), `${name}/Dockerfile`).toBe(true);
      expect(cd.jobs.images!.outputs![name]).toBe(`\${{ steps.push.outputs.${name} }}`);
    }
    // Built without a token (job build), pushed by the job that has one (images); both loop over the same names.
    expect(cd.jobs.build!.env!.IMAGES).toBe(cd.jobs.images!.env!.IMAGES);
    expect(cd.jobs.build!.steps.find((s) => s.name === "Build")!.run).toMatch(/-f "\$\{name\}\/Dockerfile"/);
    expect(cd.jobs.images!.steps.find((s) => s.name === "Push")!.run).toMatch(/docker push[\s\S]*RepoDigests/);
    // The trainer digest goes to the training Job, the functions (SIGHTLINE_TRAINER_IMAGE) and the drift-check job.
    const uses = (job: string): string[] => cd.jobs[job]!.steps.flatMap((s) => Object.values(s.env ?? {}));
    expect(uses("train")).toContain("${{ needs.images.outputs.trainer }}");
    expect(uses("functions").filter((v) => v === "${{ needs.images.outputs.trainer }}")).toHaveLength(2);
    expect(uses("deploy")).toContain("${{ needs.images.outputs.serving }}");
    expect(uses("console")).toContain("${{ needs.images.outputs.console }}");
  });

  it.skipIf(kubectl.skip)(
    "the CD deploy step, run offline, puts the pushed serving digest into the Deployment and nothing else",
    () => {
      for (const overlay of OVERLAYS) {
        const images = kustomize(`k8s/overlays/${overlay}`).flatMap((o) =>
          [...strings(o)].filter(([p]) => /\.containers\[\d+\]\.image$/.test(p)).map(([, v]) => v),
        );
        expect(
          images.every((i) => built.map((b) => `sightline-${b}`).includes(i)),
          images.join(),
        ).toBe(true);
      }
      const step = cd.jobs.deploy!.steps.find((s) => s.name === "Deploy serving (kustomize, image by digest)")!;
      const dir = mkdtempSync(join(tmpdir(), "cd-deploy-"));
      cpSync(join(ROOT, "k8s"), join(dir, "k8s"), { recursive: true });
      cpSync(join(ROOT, ".github/scripts"), join(dir, ".github/scripts"), { recursive: true });
      // kubectl stand-in: `kustomize` goes to the real one, `apply` only records its input.
      mkdirSync(join(dir, "bin"));
      writeFileSync(
        join(dir, "bin/kubectl"),
        `#!/bin/sh\nif [ "$1" = kustomize ]; then exec ${kubectl.path} "$@"; fi\necho "$@" >> "${dir}/applied"\n`,
      );
      chmodSync(join(dir, "bin/kubectl"), 0o755);
      const digest = `europe-west1-docker.pkg.dev/p-1234/sightline/serving@sha256:${"ab".repeat(32)}`;
      execFileSync("bash", ["-euo", "pipefail", "-c", step.run!], {
        cwd: dir,
        env: {
          ...process.env,
          PATH: `${dir}/bin:${process.env.PATH}`,
          OVERLAY: "prod",
          SERVING_IMAGE: digest,
          CONSOLE_IMAGE: digest.replace("/serving@", "/console@").replace("ab", "cd"),
        },
      });
      expect(readFileSync(join(dir, "applied"), "utf8").trim()).toBe("apply -f serving.yaml");
      const deployed = readFileSync(join(dir, "serving.yaml"), "utf8");
      expect([...deployed.matchAll(/image: (\S+)/g)].map((m) => m[1])).toEqual([digest]);
    },
  );

  it("the Job template's image is the placeholder GkeJobRunner replaces with the pushed trainer digest", () => {
    const job = yamlFile<{ spec: { template: { spec: { containers: { image: string }[] } } } }>(
      "k8s/base/trainer-job.yaml",
    );
    expect(job.spec.template.spec.containers[0]!.image).toBe("TRAINER_IMAGE");
    expect(read(".github/scripts/train-job.ts")).toMatch(/new GkeJobRunner\(/);
  });
});

describe("IAM: no primitive role anywhere; one service account per component", () => {
  const PRIMITIVE = /roles\/(owner|editor|viewer)\b/;

  it("no roles/owner, roles/editor or roles/viewer in Terraform, workflows or docs", async () => {
    const found: string[] = [];
    for (const file of terraformFiles()) {
      for (const [path, value] of strings(await parseHcl(file, read(`terraform/${file}`))))
        if (PRIMITIVE.test(value)) found.push(`terraform/${file} ${path}: ${value}`);
    }
    for (const file of [
      ".github/workflows/ci.yml",
      ".github/workflows/cd.yml",
      "docs/deploy-gcp.md",
      "docs/deploy-vertex.md",
    ])
      if (existsSync(join(ROOT, file)) && PRIMITIVE.test(read(file).replace(/no (owner|editor)[^\n]*/gi, "")))
        found.push(file);
    expect(found).toEqual([]);
    // The scan does see a primitive role where one is written.
    expect(
      [
        ...strings(await parseHcl("x.tf", 'resource "google_project_iam_member" "x" {\n  role = "roles/editor"\n}\n')),
      ].some(([, v]) => PRIMITIVE.test(v)),
    ).toBe(true);
  });

  it("each component has its own service account; the Kubernetes ones map to Terraform's with Workload Identity", async () => {
    const tf = (await parseHcl("iam.tf", read("terraform/iam.tf"))) as {
      locals: Record<string, Record<string, string>>[];
    };
    const accounts = Object.keys(Object.assign({}, ...tf.locals).service_accounts ?? {});
    for (const component of [
      "serving",
      "trainer",
      "fn-lineage",
      "fn-drift",
      "fn-retrain",
      "fn-gate",
      "drift-check",
      "scheduler",
      "deployer",
      "gke-nodes",
    ])
      expect(accounts).toContain(component);
    const ksas = [
      ...read("k8s/base/serviceaccounts.yaml").matchAll(
        /name: (sightline-(\w+))\n\s+annotations:\n\s+iam\.gke\.io\/gcp-service-account: (sightline-[\w-]+)@/g,
      ),
    ];
    expect(ksas.map((m) => m[1])).toEqual(["sightline-serving", "sightline-trainer"]);
    for (const m of ksas) {
      expect(m[3]).toBe(m[1]);
      expect(accounts).toContain(m[2]);
      expect(read("terraform/iam.tf")).toContain(`${m[2]} = "${m[1]}"`);
    }
  });
});

describe("monitoring: the dashboard and alerts query metrics the code emits", () => {
  it("PromQL metric names exist in serving/metrics.ts; drift metric types are DRIFT_METRIC_TYPES", () => {
    const tf = read("terraform/monitoring.tf");
    const metrics = read("serving/metrics.ts");
    const used = new Set([...tf.matchAll(/\b(sightline_[a-z_]+?)(?:_bucket|_count|_sum)?\{/g)].map((m) => m[1]!));
    expect(used.size).toBeGreaterThan(1);
    for (const m of used) expect(metrics, m).toContain(`name: "${m}"`);
    const prefix = /drift_metric_prefix\s*=\s*"([^"]+)"/.exec(tf)?.[1];
    for (const suffix of [...tf.matchAll(/\$\{local\.drift_metric_prefix\}\/(\w+)/g)].map((m) => m[1]))
      expect(Object.values(DRIFT_METRIC_TYPES)).toContain(`${prefix}/${suffix}`);
  });
});
