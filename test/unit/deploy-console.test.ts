// The console on GKE, offline: k8s/overlays/{dev,prod} compose it (k8s/console/base; prod adds k8s/console/iap) and
// build with `kubectl kustomize`; its core objects validate against their API schemas; nothing exposes it but the
// prod Gateway, which has IAP; it runs as its read-only identity with writes off; its environment names only
// registered settings. CD builds and pushes its image with serving's and the trainer's, deploys it by digest after
// serving in a job of its own, and smoke-tests it from inside the cluster: the steps are run here with a kubectl
// stand-in (real kustomize), and the smoke script against a real console. Each rule is also shown to fail, on a
// mutated copy of the manifests or a console that misbehaves.
import { execFile } from "node:child_process";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Job } from "kubernetes-models/batch/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { ConfigMap, Service, ServiceAccount } from "kubernetes-models/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { createConsoleApp } from "../../console/server/app.ts";
import { SETTINGS_BY_NAME } from "../../core/config/settings/index.ts";
import { SqliteStore } from "../../core/meta/sqlite-store.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import {
  kustomize,
  OVERLAYS,
  parseHcl,
  read,
  ROOT,
  tool,
  yamlFile,
  type K8sObject,
} from "../fixtures/deploy/support.ts";
import { GOOD, putDataset, registerTestVersion } from "../support/registry.ts";

const run = promisify(execFile);
const kubectl = tool("kubectl");
const built: Record<string, K8sObject[]> = {};
const CORE = { Deployment, Service, ServiceAccount, NetworkPolicy, ConfigMap } as const;
const COMPONENT = "app.kubernetes.io/component";
const isConsole = (o: K8sObject): boolean => o.metadata.labels?.[COMPONENT] === "console";
type Overlay = (typeof OVERLAYS)[number];

type Container = {
  image: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string } }[];
  readinessProbe?: { httpGet?: { path: string; port: string } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
};
type PodSpec = {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext: { runAsNonRoot?: boolean };
  containers: Container[];
};
const deploymentOf = (objects: K8sObject[], name = "sightline-console") =>
  objects.find((o) => o.kind === "Deployment" && o.metadata.name === name) as unknown as
    { spec: { template: { spec: PodSpec } } } | undefined;
const configMapData = (objects: K8sObject[], prefix: string): Record<string, string> =>
  (
    objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith(prefix)) as unknown as {
      data: Record<string, string>;
    }
  ).data;

/** What must hold of the console in a built overlay, one line per violation (none when it holds). */
function consoleProblems(objects: K8sObject[], overlay: Overlay): string[] {
  const problems: string[] = [];
  const services = objects.filter((o) => o.kind === "Service") as unknown as (K8sObject & {
    spec: { type?: string };
  })[];
  for (const s of services) {
    const type = s.spec.type ?? "ClusterIP";
    if (isConsole(s) && type !== "ClusterIP") problems.push(`Service ${s.metadata.name} is ${type}`);
    if (!isConsole(s) && s.metadata.name !== "sightline-serving" && type !== "ClusterIP")
      problems.push(`Service ${s.metadata.name} (${type}) is neither serving nor the console`);
  }
  const deployment = deploymentOf(objects);
  if (!deployment) return [...problems, "no Deployment sightline-console"];
  const pod = deployment.spec.template.spec;
  if (pod.serviceAccountName !== "sightline-console")
    problems.push(`the console runs as ${pod.serviceAccountName ?? "the default service account"}`);
  if (pod.automountServiceAccountToken !== false) problems.push("the console mounts a Kubernetes token");
  const writes = pod.containers[0]?.env?.find((e) => e.name === "SIGHTLINE_CONSOLE_WRITES")?.value;
  if (writes !== "off") problems.push(`SIGHTLINE_CONSOLE_WRITES is ${writes ?? "unset"}, not off`);
  const sa = objects.find((o) => o.kind === "ServiceAccount" && o.metadata.name === "sightline-console");
  const gsa = sa?.metadata.annotations?.["iam.gke.io/gcp-service-account"];
  const domain = configMapData(objects, "sightline-gcp-").GSA_DOMAIN;
  if (gsa !== `sightline-console@${domain}`) problems.push(`the console's KSA acts as ${gsa ?? "nobody"}`);

  const one = <T>(kind: string) => objects.find((o) => o.kind === kind && isConsole(o)) as unknown as T | undefined;
  const gateway = one<{ spec: { listeners: { protocol: string; port: number }[] } }>("Gateway");
  const policy = one<{ spec: { default: { iap?: { enabled: boolean } }; targetRef: { kind: string; name: string } } }>(
    "GCPBackendPolicy",
  );
  if (overlay === "dev" && (gateway || objects.some((o) => o.kind === "Ingress")))
    problems.push("dev exposes the console");
  if (overlay === "prod") {
    const listeners = gateway?.spec.listeners.map((l) => `${l.protocol}:${l.port}`) ?? [];
    if (listeners.join() !== "HTTPS:443") problems.push(`the Gateway listens on ${listeners.join() || "nothing"}`);
    if (policy?.spec.default.iap?.enabled !== true) problems.push("IAP is not enabled on the console's backend");
    if (policy && `${policy.spec.targetRef.kind}/${policy.spec.targetRef.name}` !== "Service/sightline-console")
      problems.push(`IAP protects ${policy.spec.targetRef.kind}/${policy.spec.targetRef.name}`);
  }
  return problems;
}

/** A copy of the repository's k8s/ with one file's text replaced (the replacement must apply). */
function mutated(file: string, from: string, to: string): string {
  const dir = mkdtempSync(join(tmpdir(), "console-k8s-"));
  cpSync(join(ROOT, "k8s"), join(dir, "k8s"), { recursive: true });
  const text = readFileSync(join(dir, file), "utf8");
  expect(text, `${file} contains ${from}`).toContain(from);
  writeFileSync(join(dir, file), text.replace(from, to));
  return dir;
}

describe.skipIf(kubectl.skip)("k8s: the console in each environment's overlay", () => {
  beforeAll(() => {
    for (const overlay of OVERLAYS) built[overlay] = kustomize(`k8s/overlays/${overlay}`);
  });

  it.each(OVERLAYS)("%s composes the console; its core objects validate against their schemas", (overlay) => {
    const objects = built[overlay]!.filter(isConsole);
    for (const o of objects) {
      const model = CORE[o.kind as keyof typeof CORE];
      if (model)
        expect(() => new model(structuredClone(o) as never).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
    expect(objects.map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, "")}`).sort()).toEqual(
      [
        "ConfigMap/sightline-console-gcp",
        "Deployment/sightline-console",
        "NetworkPolicy/sightline-console",
        "NetworkPolicy/sightline-console-smoke",
        "Service/sightline-console",
        "ServiceAccount/sightline-console",
        ...(overlay === "prod"
          ? [
              "GCPBackendPolicy/sightline-console",
              "Gateway/sightline-console",
              "HTTPRoute/sightline-console",
              "HealthCheckPolicy/sightline-console",
            ]
          : []),
      ].sort(),
    );
    // The overlay is the one source of the namespace and the environment label, for the console as for serving.
    for (const o of objects) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("sightline");
      expect(o.metadata.labels?.["sightline.dev/environment"], `${o.kind}/${o.metadata.name}`).toBe(overlay);
    }
    // Serving's objects are not labelled as the console's (CD splits the two by this label).
    expect(deploymentOf(built[overlay]!, "sightline-serving")).toBeDefined();
    expect(built[overlay]!.filter((o) => !isConsole(o)).some((o) => o.metadata.name.includes("console"))).toBe(false);
  });

  it.each(OVERLAYS)("%s: ClusterIP only, the read-only service account, writes off (and IAP in prod)", (overlay) => {
    expect(consoleProblems(built[overlay]!, overlay)).toEqual([]);
    const services = built[overlay]!.filter((o) => o.kind === "Service" && isConsole(o)) as unknown as {
      spec: { type?: string; ports: { targetPort: string }[] };
    }[];
    expect(services.map((s) => [s.spec.type, s.spec.ports.map((p) => p.targetPort)])).toEqual([
      ["ClusterIP", ["http"]],
    ]);
  });

  it("the same rules fail on a LoadBalancer, writes on, another identity, or IAP off", () => {
    const cases: [Overlay, string, string, string, RegExp][] = [
      [
        "dev",
        "k8s/console/base/service.yaml",
        "type: ClusterIP",
        "type: LoadBalancer",
        /sightline-console is LoadBalancer/,
      ],
      ["prod", "k8s/console/base/deployment.yaml", 'value: "off"', 'value: "on"', /SIGHTLINE_CONSOLE_WRITES is on/],
      [
        "prod",
        "k8s/console/base/deployment.yaml",
        "serviceAccountName: sightline-console",
        "serviceAccountName: sightline-serving",
        /runs as sightline-serving/,
      ],
      ["prod", "k8s/console/iap/gateway.yaml", "enabled: true", "enabled: false", /IAP is not enabled/],
      ["prod", "k8s/overlays/prod/kustomization.yaml", "  - ../../console/iap\n", "", /Gateway listens on nothing/],
    ];
    for (const [overlay, file, from, to, problem] of cases) {
      const root = mutated(file, from, to);
      expect(consoleProblems(kustomize(`k8s/overlays/${overlay}`, root), overlay).join("\n"), file).toMatch(problem);
    }
  });

  it("prod: an HTTPS-only Gateway routes to the console's Service; dev is reached by a port-forward", () => {
    const objects = built.prod!;
    const one = <T>(kind: string) => objects.find((o) => o.kind === kind) as unknown as T;
    const gateway = one<{ spec: { gatewayClassName: string } }>("Gateway");
    expect(gateway.spec.gatewayClassName).toMatch(/^gke-l7-/);
    const route = one<{ spec: { rules: { backendRefs: { name: string; port: number }[] }[] } }>("HTTPRoute");
    expect(route.spec.rules.flatMap((r) => r.backendRefs)).toEqual([{ name: "sightline-console", port: 80 }]);
    expect(one<{ apiVersion: string }>("GCPBackendPolicy").apiVersion).toBe("networking.gke.io/v1");
    expect(read("k8s/overlays/dev/kustomization.yaml")).toMatch(
      /kubectl -n sightline port-forward svc\/sightline-console/,
    );
    // The cluster has the Gateway API that prod's console needs.
    expect(read("terraform/gke.tf")).toMatch(/gateway_api_config \{\s+channel = "CHANNEL_STANDARD"/);
  });

  it.each(OVERLAYS)(
    "%s: non-root, read-only root filesystem, and a readiness probe the console answers",
    async (overlay) => {
      const pod = deploymentOf(built[overlay]!)!.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      const c = pod.containers[0]!;
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(c.args).toEqual(["--host", "0.0.0.0", "--port", "8080"]);
      const path = c.readinessProbe!.httpGet!.path;
      // The probe's path is one the console serves, without credentials or a Host it knows.
      const app = createConsoleApp({
        meta: undefined as never,
        blobs: undefined as never,
        log: createLogger({}, { level: "CRITICAL" }),
      });
      const server = await new Promise<Server>((resolve) => {
        const s = app.listen(0, "127.0.0.1", () => resolve(s));
      });
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
        expect(res.status).toBe(200);
      } finally {
        await new Promise((r) => server.close(r));
      }
    },
  );

  it.each(OVERLAYS)("%s: the environment names only registered settings, each of which parses", (overlay) => {
    const objects = built[overlay]!;
    const c = deploymentOf(objects)!.spec.template.spec.containers[0]!;
    const config = objects.find(
      (o) => o.kind === "ConfigMap" && o.metadata.name === c.envFrom?.[0]?.configMapRef?.name,
    ) as unknown as { data: Record<string, string> };
    expect(config, "the Deployment reads the overlay's generated ConfigMap").toBeDefined();
    // GSA_DOMAIN only completes the Workload Identity annotation (a kustomize replacement); NODE_ENV is Node's.
    const env: Record<string, string> = {
      ...Object.fromEntries(Object.entries(config.data).filter(([k]) => k !== "GSA_DOMAIN")),
      ...Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ""])),
    };
    for (const name of Object.keys(env)) {
      if (name === "NODE_ENV") continue;
      const setting = SETTINGS_BY_NAME.get(name);
      expect(setting, `${name} is not a registered setting`).toBeDefined();
      expect(setting!.safeRead(env).ok, `${name}=${env[name]}`).toBe(true);
    }
  });

  it.each(OVERLAYS)("%s: the same stores as serving, from the overlay's one gcp.env", (overlay) => {
    expect(configMapData(built[overlay]!, "sightline-console-gcp-")).toEqual(
      configMapData(built[overlay]!, "sightline-gcp-"),
    );
    // k8s/console holds no environment of its own: no gcp.env, no namespace, no overlay.
    const files = (dir: string): string[] =>
      readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(`${dir}/${e.name}`) : [`${dir}/${e.name}`],
      );
    expect(files("k8s/console").filter((f) => f.endsWith("gcp.env") || f.includes("/overlays/"))).toEqual([]);
    for (const k of ["k8s/console/base/kustomization.yaml", "k8s/console/iap/kustomization.yaml"])
      expect(yamlFile<{ namespace?: string }>(k).namespace, k).toBeUndefined();
  });
});

// --- CD ------------------------------------------------------------------------------------------------------------

type Step = { name?: string; id?: string; if?: string; run?: string; env?: Record<string, string> };
type WorkflowJob = {
  needs?: string | string[];
  env?: Record<string, string>;
  outputs?: Record<string, string>;
  steps?: Step[];
};
const cd = yamlFile<{ env: Record<string, string>; jobs: Record<string, WorkflowJob> }>(".github/workflows/cd.yml");
const needs = (job: string): string[] => [cd.jobs[job]?.needs ?? []].flat();
const stepOf = (job: string, name: string): Step => {
  const step = cd.jobs[job]?.steps?.find((s) => s.name === name);
  if (!step) throw new Error(`cd.yml: job ${job} has no step ${JSON.stringify(name)}`);
  return step;
};
const SERVING_IMAGE = `europe-west1-docker.pkg.dev/p-1234/sightline/serving@sha256:${"ab".repeat(32)}`;
const CONSOLE_IMAGE = `europe-west1-docker.pkg.dev/p-1234/sightline/console@sha256:${"cd".repeat(32)}`;

/** A copy of the repository's k8s/ and .github/scripts with a kubectl stand-in: `kustomize` is the real one. */
function workdir(fakeKubectl: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cd-console-"));
  cpSync(join(ROOT, "k8s"), join(dir, "k8s"), { recursive: true });
  cpSync(join(ROOT, ".github/scripts"), join(dir, ".github/scripts"), { recursive: true });
  mkdirSync(join(dir, "bin"));
  writeFileSync(
    join(dir, "bin/kubectl"),
    `#!/bin/bash\nif [ "$1" = kustomize ]; then exec ${kubectl.path} "$@"; fi\necho "$@" >> "${dir}/calls"\n${fakeKubectl}\n`,
  );
  chmodSync(join(dir, "bin/kubectl"), 0o755);
  return dir;
}

async function runStep(
  dir: string,
  step: Step,
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  try {
    const r = await run("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", step.run!], {
      cwd: dir,
      env: {
        ...process.env,
        PATH: `${dir}/bin:${process.env.PATH}`,
        OVERLAY: cd.env.OVERLAY!,
        NAMESPACE: cd.env.NAMESPACE!,
        MODEL: "fmnist",
        GITHUB_SHA: "0123abc",
        SERVING_IMAGE,
        CONSOLE_IMAGE,
        ...env,
      },
    });
    return { code: 0, out: `${r.stdout}${r.stderr}` };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: `${e.stdout}${e.stderr}` };
  }
}
const objectsIn = (file: string): K8sObject[] =>
  parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS() as K8sObject);

describe("CD: the console image is built, pushed and deployed by digest, after serving", () => {
  it("is built from console/Dockerfile with serving and the trainer, and pushed the same way (tag = commit, digest out)", () => {
    for (const job of ["build", "images"]) expect(cd.jobs[job]!.env!.IMAGES!.split(/\s+/), job).toContain("console");
    expect(existsSync(join(ROOT, "console/Dockerfile"))).toBe(true);
    expect(cd.jobs.images!.outputs!.console).toBe("${{ steps.push.outputs.console }}");
    for (const [job, step] of [
      ["deploy", "Deploy serving (kustomize, image by digest)"],
      ["console", "Deploy the console (kustomize, image by digest)"],
      ["console", "Smoke test in the cluster"],
    ] as const)
      expect(stepOf(job, step).env!.CONSOLE_IMAGE, step).toBe("${{ needs.images.outputs.console }}");
    // Both deploy steps build the one environment the workflow names.
    expect(cd.env.OVERLAY).toBe("prod");
    for (const [job, step] of [
      ["deploy", "Deploy serving (kustomize, image by digest)"],
      ["console", "Deploy the console (kustomize, image by digest)"],
    ] as const)
      expect(stepOf(job, step).run).toMatch(/cd-overlay\.sh "\$OVERLAY" "\$SERVING_IMAGE" "\$CONSOLE_IMAGE"/);
  });

  it("runs after serving is deployed and smoke-tested; nothing waits for it; its failure rolls back the console only", () => {
    expect(needs("console").sort()).toEqual(["deploy", "images"]);
    const waiting = Object.keys(cd.jobs).filter((j) => needs(j).includes("console"));
    expect(waiting, "no job waits for the console").toEqual([]);
    // Serving's rollback lives in the deploy job, which has finished (green) before the console job starts.
    const servingSteps = cd.jobs.deploy!.steps!.map((s) => s.name);
    expect(servingSteps.indexOf("Smoke test through the LoadBalancer")).toBeGreaterThan(-1);
    expect(JSON.stringify(cd.jobs.deploy!.steps)).not.toMatch(/sightline-console|cd\/console/);
    const rollback = stepOf("console", "Roll back the console (serving stays)");
    expect(rollback.if).toBe("failure() && steps.apply.outcome == 'success'");
    expect(stepOf("console", "Deploy the console (kustomize, image by digest)").id).toBe("apply");
    expect(rollback.run).toMatch(/kubectl rollout undo deployment\/sightline-console/);
    expect(rollback.run).not.toMatch(/sightline-serving|sightline rollback|npx/);
    expect(cd.jobs.console!.steps!.map((s) => s.name).filter(Boolean)).toEqual([
      "Deploy the console (kustomize, image by digest)",
      "Wait for the console's rollout",
      "Smoke test in the cluster",
      "Roll back the console (serving stays)",
    ]);
    expect(stepOf("console", "Wait for the console's rollout").run).toMatch(
      /kubectl rollout status deployment\/sightline-console -n "\$NAMESPACE"/,
    );
  });

  it.skipIf(kubectl.skip)(
    "serving's step applies no console object; the console's applies only the console, pinned by digest",
    async () => {
      const dir = workdir("");
      expect((await runStep(dir, stepOf("deploy", "Deploy serving (kustomize, image by digest)"))).code).toBe(0);
      const serving = objectsIn(join(dir, "serving.yaml"));
      expect(serving.filter(isConsole)).toEqual([]);
      expect(deploymentOf(serving, "sightline-serving")).toBeDefined();
      const console = await runStep(dir, stepOf("console", "Deploy the console (kustomize, image by digest)"));
      expect(console.code, console.out).toBe(0);
      expect(readFileSync(join(dir, "calls"), "utf8").trim().split("\n")).toEqual([
        "apply -f serving.yaml",
        "apply -f console.yaml",
      ]);
      const applied = objectsIn(join(dir, "console.yaml"));
      expect(applied.length).toBeGreaterThan(5);
      expect(applied.filter((o) => !isConsole(o)).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([]);
      expect(consoleProblems([...applied, ...serving], "prod")).toEqual([]);
      expect(deploymentOf(applied)!.spec.template.spec.containers.map((c) => c.image)).toEqual([CONSOLE_IMAGE]);
      expect([...readFileSync(join(dir, "console.yaml"), "utf8").matchAll(/image: (\S+)/g)].map((m) => m[1])).toEqual([
        CONSOLE_IMAGE,
      ]);
    },
  );

  it.skipIf(kubectl.skip)("the overlay script refuses an image that is not pinned by digest", async () => {
    const dir = workdir("");
    const r = await runStep(dir, stepOf("console", "Deploy the console (kustomize, image by digest)"), {
      CONSOLE_IMAGE: "europe-west1-docker.pkg.dev/p-1234/sightline/console:0123abc",
    });
    expect(r.code).toBe(64);
    expect(r.out).toMatch(/console:0123abc is not pinned by digest/);
    expect(existsSync(join(dir, "calls"))).toBe(false);
  });

  it("the smoke step creates the Job with the deployed image and the model, and passes or fails on its status", async () => {
    const step = stepOf("console", "Smoke test in the cluster");
    // `create` keeps the manifest it was given; `get` answers the Job's true conditions.
    const fake = (conditions: string) =>
      `if [ "$1" = create ]; then cat > "$(dirname "$0")/../job.yaml"; echo job.batch/sightline-console-smoke-x7k2p; fi\nif [ "$1" = get ]; then echo "${conditions}"; fi`;
    const passed = workdir(fake("SuccessCriteriaMet Complete"));
    const ok = await runStep(passed, step);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain("console smoke test passed");
    expect(readFileSync(join(passed, "calls"), "utf8").trim().split("\n")).toEqual([
      "create -n sightline -f - -o name",
      `get job.batch/sightline-console-smoke-x7k2p -n sightline -o jsonpath={.status.conditions[?(@.status=="True")].type}`,
    ]);
    const created = objectsIn(join(passed, "job.yaml"))[0] as unknown as Job;
    expect(() => new Job(structuredClone(created) as never).validate()).not.toThrow();
    const container = created.spec!.template.spec!.containers[0]!;
    expect(container.image).toBe(CONSOLE_IMAGE);
    expect(container.command!.slice(-2)).toEqual(["http://sightline-console", "fmnist"]);

    // A model name YAML would read as a number stays the string the console is asked for.
    const numeric = workdir(fake("Complete"));
    expect((await runStep(numeric, step, { MODEL: "1e3" })).code).toBe(0);
    expect(
      (objectsIn(join(numeric, "job.yaml"))[0] as unknown as Job).spec!.template.spec!.containers[0]!.command!.at(-1),
    ).toBe("1e3");

    const failed = await runStep(workdir(fake("FailureTarget Failed")), step);
    expect(failed.code).toBe(1);
    expect(failed.out).toMatch(
      /::error::the console's smoke test job\.batch\/sightline-console-smoke-x7k2p did not pass \(FailureTarget Failed\)/,
    );
  });

  it("the smoke Job meets Pod Security 'restricted', runs once, has no Google identity, and cleans up", () => {
    const job = yamlFile<Job>("k8s/console/smoke-job.yaml");
    expect(() => new Job(structuredClone(job) as never).validate()).not.toThrow();
    const pod = job.spec!.template.spec!;
    expect([job.spec!.backoffLimit, pod.restartPolicy, pod.serviceAccountName]).toEqual([0, "Never", undefined]);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(job.spec!.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(job.spec!.activeDeadlineSeconds).toBeGreaterThan(0);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(pod.containers[0]!.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    // Its NetworkPolicy selects it (the pod's label) and its target is the console Service's name.
    const policy = parseAllDocuments(read("k8s/console/base/networkpolicy.yaml"))
      .map((d) => d.toJS() as NetworkPolicy)
      .find((p) => p.metadata?.name === "sightline-console-smoke")!;
    expect(policy.spec!.podSelector?.matchLabels).toEqual({
      "app.kubernetes.io/name": job.spec!.template.metadata!.labels!["app.kubernetes.io/name"],
    });
    expect(policy.spec!.ingress).toBeUndefined();
    expect(pod.containers[0]!.command!.at(-2)).toBe(
      `http://${yamlFile<{ metadata: { name: string } }>("k8s/console/base/service.yaml").metadata.name}`,
    );
  });
});

describe("CD: the console smoke script, against a real console", { timeout: 60_000 }, () => {
  const job = yamlFile<Job>("k8s/console/smoke-job.yaml");
  const [node, flag, script] = job.spec!.template.spec!.containers[0]!.command!;
  let home: string;
  let meta: SqliteStore;
  const servers: Server[] = [];

  beforeAll(async () => {
    expect([node, flag]).toEqual(["node", "-e"]);
    home = mkdtempSync(join(tmpdir(), "console-smoke-"));
    meta = new SqliteStore(join(home, "meta.db"));
    await putDataset(meta, "5".repeat(64));
    await registerTestVersion(meta, "fmnist", "5".repeat(64), GOOD);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await meta.close();
  });

  const listen = async (server: Server): Promise<string> => {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const smoke = async (base: string, model: string): Promise<{ code: number; out: string }> => {
    try {
      const r = await run(process.execPath, ["-e", script!, base, model]);
      return { code: 0, out: r.stdout + r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, out: e.stdout + e.stderr };
    }
  };

  it("passes against the read-only console that lists the model, fails when it does not list it", async () => {
    const base = await listen(
      createServer(createConsoleApp({ meta, blobs: undefined as never, log: createLogger({}, { level: "CRITICAL" }) })),
    );
    const ok = await smoke(base, "fmnist");
    expect(ok.out).toContain("GET /health: 200");
    expect(ok.out).toContain("GET /api/models: 200");
    expect(ok.out).toContain("POST /api/models/fmnist/promote: 405");
    expect(ok.code, ok.out).toBe(0);
    const missing = await smoke(base, "other-model");
    expect(missing.code).toBe(1);
    expect(missing.out).toContain("console smoke test failed: /api/models does not list other-model");
  });

  it("fails against a console that accepts an anonymous write, or cannot read its store", async () => {
    const fake = (promote: number, models: number) =>
      createServer((req, res) => {
        const [status, body] =
          req.url === "/health"
            ? [200, { status: "ok" }]
            : req.url === "/api/models"
              ? [models, models === 200 ? { models: [{ name: "fmnist" }] } : { error: { code: "internal" } }]
              : [promote, {}];
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      });
    const writable = await smoke(await listen(fake(200, 200)), "fmnist");
    expect(writable.code).toBe(1);
    expect(writable.out).toMatch(/POST \/api\/models\/fmnist\/promote: 200/);
    const unreadable = await smoke(await listen(fake(405, 500)), "fmnist");
    expect(unreadable.code).toBe(1);
    expect(unreadable.out).toMatch(/GET \/api\/models: 500/);
    // A console that is not there at all.
    const down = await smoke("http://127.0.0.1:9", "fmnist");
    expect(down.code).toBe(1);
  });

  it.each(OVERLAYS)(
    "%s: the Predict page reaches serving's in-cluster Service, and only its pods' port is let out for it",
    (overlay) => {
      const objects = built[overlay]!;
      const c = deploymentOf(objects)!.spec.template.spec.containers[0]! as unknown as {
        env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; optional?: boolean } } }[];
      };
      const serving = objects;
      const service = serving.find(
        (o) => o.kind === "Service" && o.metadata.name === "sightline-serving",
      ) as unknown as {
        metadata: { name: string; namespace: string };
        spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] };
      };
      const url = new URL(c.env.find((e) => e.name === "SIGHTLINE_CONSOLE_SERVING_URL")!.value!);
      expect(url.hostname).toBe(`${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`);
      expect(Number(url.port || 80)).toBe(service.spec.ports[0]!.port);
      // Where that Service sends it: the serving container's named port.
      const pods = serving.find(
        (o) => o.kind === "Deployment" && o.metadata.name === "sightline-serving",
      ) as unknown as {
        spec: { template: { spec: { containers: { ports: { name: string; containerPort: number }[] }[] } } };
      };
      const target = pods.spec.template.spec.containers[0]!.ports.find(
        (p) => p.name === service.spec.ports[0]!.targetPort,
      )!.containerPort;
      const policy = objects.find((o) => o.kind === "NetworkPolicy" && isConsole(o)) as unknown as {
        spec: {
          egress: {
            to: { podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: unknown }[];
            ports: { port: number }[];
          }[];
        };
      };
      const toServing = policy.spec.egress.filter((e) => e.to.some((t) => t.podSelector && !t.namespaceSelector));
      expect(toServing).toEqual([
        { to: [{ podSelector: { matchLabels: service.spec.selector } }], ports: [{ port: target, protocol: "TCP" }] },
      ]);
      // Prod's serving checks API keys: the console's comes from a Secret, never a literal in the manifests.
      const key = c.env.find((e) => e.name === "SIGHTLINE_CONSOLE_SERVING_API_KEY");
      if (overlay === "prod")
        expect(key?.valueFrom?.secretKeyRef).toMatchObject({ name: "sightline-console-serving-key" });
      else expect(key).toBeUndefined();
      expect(key?.value).toBeUndefined();
    },
  );
});

describe("terraform: the console's Google identity only reads", () => {
  const iam = read("terraform/iam.tf");
  const grants = [...iam.matchAll(/\{ sa = "console", role = "([^"]+)" \}/g)].map((m) => m[1]);

  it("gets datastore.viewer and storage.objectViewer; write roles only under var.console_writes (default false)", () => {
    expect(grants.sort()).toEqual(["roles/datastore.user", "roles/datastore.viewer", "roles/storage.objectViewer"]);
    for (const role of grants) expect(role).not.toMatch(/admin|editor|owner|roles\/viewer\b/);
    // Each write grant sits in a `var.console_writes ? … : []` expression.
    expect(iam).toMatch(
      /console_write_roles = var\.console_writes \? \[\{ sa = "console", role = "roles\/datastore\.user" \}\] : \[\]/,
    );
    expect(iam).toMatch(
      /console\s+= var\.console_writes \? \["sightline\.model\.promoted", "sightline\.model\.rolled_back"\] : \[\]/,
    );
    expect(read("terraform/variables.tf")).toMatch(
      /variable "console_writes" \{[^}]*type\s+= bool\s+default\s+= false/,
    );
  });

  it("the deployer pushes and deploys the console with the grants it had: the repository's writer, no new role", async () => {
    type Hcl = {
      locals: Record<string, unknown>[];
      resource: Record<string, Record<string, { for_each: unknown; repository?: string }[]>>;
    };
    const tf = (await parseHcl("iam.tf", iam)) as Hcl;
    const roles = (Object.assign({}, ...tf.locals).project_roles as { sa: string; role: string }[])
      .filter((r) => r.sa === "deployer")
      .map((r) => r.role);
    expect(roles.sort()).toEqual([
      "${local.gke_connect_role}",
      "roles/cloudfunctions.developer",
      "roles/datastore.user",
    ]);
    const repo = tf.resource.google_artifact_registry_repository_iam_member!.images![0]!;
    expect(repo.for_each).toEqual({
      deployer: "roles/artifactregistry.writer",
      "gke-nodes": "roles/artifactregistry.reader",
    });
    expect(repo.repository).toBe("${google_artifact_registry_repository.images.name}");
    // The Role the deployer has inside the cluster names the console's kinds, and grants no Pod or proxy access.
    const rbac = read("k8s/base/rbac.yaml");
    expect(rbac).toMatch(/resources: \["gateways", "httproutes"\]/);
    expect(rbac).not.toMatch(/pods|proxy|portforward/);
  });

  it("is what the console's Kubernetes service account acts as, through Workload Identity", () => {
    expect(iam).toMatch(/console\s+= "Web console pods/);
    expect(iam).toMatch(/console = "sightline-console"/);
    expect(read("k8s/console/base/serviceaccount.yaml")).toMatch(
      /name: sightline-console\n\s+annotations:\n\s+iam\.gke\.io\/gcp-service-account: sightline-console@/,
    );
  });
});

describe("the console's Jobs page on GKE (k8s/console/gke-jobs, k8s/console/rbac.yaml)", () => {
  it("grants the console's ServiceAccount only get/list on Jobs and Pods and get on pods/log, outside what CD applies", () => {
    const rbac = parseAllDocuments(read("k8s/console/rbac.yaml")).map((d) => d.toJS() as K8sObject);
    const role = rbac.find((o) => o.kind === "Role") as K8sObject & {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    expect(role.rules).toEqual([
      { apiGroups: ["batch"], resources: ["jobs"], verbs: ["get", "list"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
      { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
    ]);
    const binding = rbac.find((o) => o.kind === "RoleBinding") as K8sObject & { subjects: unknown[] };
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "sightline-console", namespace: "sightline" }]);
    expect(yamlFile<{ resources: string[] }>("k8s/console/base/kustomization.yaml").resources).not.toContain(
      "../rbac.yaml",
    );
  });

  it("composed into an overlay: SIGHTLINE_JOBS, one projected short-lived token in the console container, egress kept", () => {
    const root = mkdtempSync(join(tmpdir(), "gke-jobs-"));
    cpSync(join(ROOT, "k8s"), join(root, "k8s"), { recursive: true });
    writeFileSync(
      join(root, "k8s/overlays/dev/kustomization.yaml"),
      read("k8s/overlays/dev/kustomization.yaml") + "components:\n  - ../../console/gke-jobs\n",
    );
    const objects = kustomize("k8s/overlays/dev", root);
    const deployment = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "sightline-console")!;
    const pod = (deployment as unknown as { spec: { template: { spec: Record<string, unknown> } } }).spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    const volume = (pod.volumes as { name: string; projected?: { sources: Record<string, unknown>[] } }[]).find(
      (v) => v.name === "kube-api-token",
    )!;
    expect(volume.projected!.sources[0]).toEqual({ serviceAccountToken: { path: "token", expirationSeconds: 3600 } });
    const console = (pod.containers as { name: string; env: { name: string; value: string }[] }[])[0]!;
    expect(console.env).toContainEqual({ name: "SIGHTLINE_JOBS", value: "k8s://sightline" });
    const policy = objects.find((o) => o.kind === "NetworkPolicy" && o.metadata.name === "sightline-console")!;
    const egress = (policy as unknown as { spec: { egress: unknown[] } }).spec.egress;
    expect(JSON.stringify(egress)).toMatch(/"port":53/);
    expect(JSON.stringify(egress.at(-1))).toMatch(/192\.0\.2\.1\/32.*443|443.*192\.0\.2\.1\/32/);
  });
});
