// Kubernetes manifests, offline: both overlays build with `kubectl kustomize`; every object validates against its
// API schema (kubernetes-models) with unknown or misspelt keys rejected (a round trip through the typed models of
// @kubernetes/client-node drops them, as the API server's strict field validation would refuse them); the
// PodMonitoring validates against the checked-in CRD schema (test/fixtures/deploy/podmonitoring-v1.schema.json);
// and the production requirements of issue 7 hold in the built output.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { ObjectSerializer } from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js";
import { Ajv } from "ajv";
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Job } from "kubernetes-models/batch/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { Role, RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Namespace, Service, ServiceAccount } from "kubernetes-models/v1";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { DEFAULT_TEMPLATE } from "../../core/jobs/gke-runner.ts";
import { loadServingConfig } from "../../serving/config.ts";
import { shutdownSeconds } from "../../serving/server.ts";
import { kustomize, OVERLAYS, ROOT, tool, yamlFile, type K8sObject } from "../fixtures/deploy/support.ts";

interface Validatable {
  validate(): void;
}
/** apiVersion/kind → schema class (kubernetes-models) and the client's model type name (ObjectSerializer). */
const KINDS: Record<string, { model: new (data: never) => Validatable; type: string }> = {
  "v1/Namespace": { model: Namespace, type: "V1Namespace" },
  "v1/ServiceAccount": { model: ServiceAccount, type: "V1ServiceAccount" },
  "v1/ConfigMap": { model: ConfigMap, type: "V1ConfigMap" },
  "v1/Service": { model: Service, type: "V1Service" },
  "apps/v1/Deployment": { model: Deployment, type: "V1Deployment" },
  "autoscaling/v2/HorizontalPodAutoscaler": { model: HorizontalPodAutoscaler, type: "V2HorizontalPodAutoscaler" },
  "policy/v1/PodDisruptionBudget": { model: PodDisruptionBudget, type: "V1PodDisruptionBudget" },
  "networking.k8s.io/v1/NetworkPolicy": { model: NetworkPolicy, type: "V1NetworkPolicy" },
  "batch/v1/Job": { model: Job, type: "V1Job" },
  "rbac.authorization.k8s.io/v1/Role": { model: Role, type: "V1Role" },
  "rbac.authorization.k8s.io/v1/RoleBinding": { model: RoleBinding, type: "V1RoleBinding" },
};

const podMonitoringSchema = JSON.parse(
  readFileSync(join(ROOT, "test/fixtures/deploy/podmonitoring-v1.schema.json"), "utf8"),
) as object;
const validatePodMonitoring = new Ajv({ allErrors: true, strict: false }).compile(podMonitoringSchema);

/** The paths present in `a` and absent from `b` (what a typed round trip dropped). */
function dropped(a: unknown, b: unknown, path = ""): string[] {
  if (a && typeof a === "object" && !Array.isArray(a)) {
    const bo = (b ?? {}) as Record<string, unknown>;
    return Object.entries(a).flatMap(([k, v]) => (k in bo ? dropped(v, bo[k], `${path}.${k}`) : [`${path}.${k}`]));
  }
  if (Array.isArray(a)) return a.flatMap((v, i) => dropped(v, (b as unknown[] | undefined)?.[i], `${path}[${i}]`));
  return [];
}

/** Problems with one object: schema violations and unknown keys; empty when it is valid. */
export function k8sProblems(obj: K8sObject): string[] {
  const where = `${obj.kind}/${obj.metadata?.name}`;
  if (obj.apiVersion === "monitoring.googleapis.com/v1" && obj.kind === "PodMonitoring") {
    return validatePodMonitoring(obj)
      ? []
      : (validatePodMonitoring.errors ?? []).map(
          (e) => `${where}${e.instancePath}: ${e.message} ${JSON.stringify(e.params)}`,
        );
  }
  const kind = KINDS[`${obj.apiVersion}/${obj.kind}`];
  if (!kind) return [`${where}: no schema known for ${obj.apiVersion} ${obj.kind} (add it to KINDS)`];
  const problems: string[] = [];
  try {
    new kind.model(structuredClone(obj) as never).validate();
  } catch (err) {
    problems.push(`${where}: ${(err as Error).message}`);
  }
  const back = JSON.parse(
    JSON.stringify(
      ObjectSerializer.serialize(ObjectSerializer.deserialize(structuredClone(obj), kind.type, ""), kind.type, ""),
    ),
  ) as unknown;
  if (!isDeepStrictEqual(back, obj))
    problems.push(
      ...dropped(obj, back).map((p) => `${where}: unknown field ${p}`),
      ...(dropped(obj, back).length ? [] : [`${where}: changed by a typed round trip`]),
    );
  return problems;
}

const kubectl = tool("kubectl");
const built: Record<string, K8sObject[]> = {};
const CRD_GROUPS = new Set(["gateway.networking.k8s.io", "networking.gke.io"]);
const SERVING = (o: K8sObject): boolean => o.kind === "Deployment" && o.metadata.name === "sightline-serving";

/** The container's environment as the process would see it; a Secret's value stands in as a valid SHA-256 hash. */
function servingEnv(
  env: { name: string; value?: string; valueFrom?: { secretKeyRef?: unknown } }[] | undefined,
): Record<string, string | undefined> {
  return Object.fromEntries((env ?? []).map((e) => [e.name, e.valueFrom?.secretKeyRef ? "0".repeat(64) : e.value]));
}

describe.skipIf(kubectl.skip)("k8s: kustomize overlays", () => {
  beforeAll(() => {
    for (const overlay of OVERLAYS) built[overlay] = kustomize(`k8s/overlays/${overlay}`);
  });

  it.each(OVERLAYS)(
    "%s builds offline and every object validates against its schema, unknown keys rejected",
    (overlay) => {
      const objects = built[overlay] ?? [];
      // Serving's and the trainer's objects, then the console's (k8s/console/base; prod adds its Gateway and IAP).
      expect(objects.map((o) => o.kind).sort()).toEqual(
        [
          "ConfigMap",
          "Deployment",
          "HorizontalPodAutoscaler",
          "Namespace",
          "NetworkPolicy",
          "NetworkPolicy",
          "PodDisruptionBudget",
          "PodMonitoring",
          "Role",
          "Role",
          "RoleBinding",
          "RoleBinding",
          "Service",
          "ServiceAccount",
          "ServiceAccount",
          ...["ConfigMap", "Deployment", "NetworkPolicy", "NetworkPolicy", "Service", "ServiceAccount"],
          ...(overlay === "prod" ? ["GCPBackendPolicy", "Gateway", "HTTPRoute", "HealthCheckPolicy"] : []),
        ].sort(),
      );
      // Gateway API and GKE policy kinds have no schema here: test/unit/deploy-console.test.ts checks them.
      expect(objects.filter((o) => !CRD_GROUPS.has(o.apiVersion.split("/")[0]!)).flatMap(k8sProblems)).toEqual([]);
      // Everything lands in the namespace the runner and the functions use (SIGHTLINE_JOBS=k8s://sightline).
      expect(objects.filter((o) => o.kind !== "Namespace").map((o) => o.metadata.namespace)).toEqual(
        objects.filter((o) => o.kind !== "Namespace").map(() => "sightline"),
      );
    },
  );

  it.each(OVERLAYS)("%s: serving Deployment is production-grade", (overlay) => {
    const objects = built[overlay] ?? [];
    const deployment = objects.find(SERVING) as unknown as Deployment;
    const spec = deployment.spec!;
    const pod = spec.template.spec!;
    const [container] = pod.containers;
    expect(spec.replicas).toBeGreaterThanOrEqual(2);
    expect(container?.livenessProbe?.httpGet?.path).toBe("/health");
    expect(container?.readinessProbe?.httpGet?.path).toBe("/ready");
    expect(container?.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container?.resources?.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container?.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    // Read-only root: /tmp is the writable emptyDir (SIGHTLINE_HOME points into it).
    expect(container?.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    expect(pod.volumes?.find((v) => v.name === "tmp")?.emptyDir).toBeDefined();
    expect(pod.topologySpreadConstraints?.map((t) => t.topologyKey)).toEqual([
      "topology.kubernetes.io/zone",
      "kubernetes.io/hostname",
    ]);
    // preStop + the whole in-process shutdown (drain, hard stop, last flush), as the serving code computes it from
    // the manifest's own settings, fit in the grace period.
    const preStop = container?.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const drain = Number(container?.env?.find((e) => e.name === "SIGHTLINE_DRAIN_SECONDS")?.value);
    expect(preStop).toBeGreaterThan(0);
    expect(drain).toBeGreaterThan(0);
    const config = loadServingConfig(servingEnv(container?.env));
    expect(config.drainSeconds).toBe(drain);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + shutdownSeconds(config));
    expect(pod.serviceAccountName).toBe("sightline-serving");
    // The image is the placeholder the CD workflow replaces with the digest it pushed.
    expect(container?.image).toBe("sightline-serving");
  });

  it.each(OVERLAYS)(
    "%s: Service, HPA, PDB, PodMonitoring, service accounts and network policies fit together",
    (overlay) => {
      const objects = built[overlay] ?? [];
      const one = <T>(kind: string, name = "sightline-serving"): T =>
        objects.find((o) => o.kind === kind && o.metadata.name === name) as unknown as T;
      const deployment = one<Deployment>("Deployment");
      const podLabels = deployment.spec!.template.metadata!.labels!;
      const matches = (selector: Record<string, string> | undefined): boolean =>
        Object.entries(selector ?? {}).every(([k, v]) => podLabels[k] === v) && Object.keys(selector ?? {}).length > 0;

      const service = one<Service>("Service");
      expect(service.spec?.type).toBe("LoadBalancer");
      expect(matches(service.spec?.selector)).toBe(true);
      expect(service.spec?.ports?.[0]?.targetPort).toBe("http");

      // /metrics and /admin/* listen on the internal port, which PodMonitoring scrapes and the Service never exposes.
      const container = deployment.spec!.template.spec!.containers[0]!;
      const internalPort = loadServingConfig(servingEnv(container.env)).internalPort;
      const ports = container.ports ?? [];
      const internal = ports.find((p) => p.name === "internal");
      expect(internal?.containerPort).toBe(internalPort);
      expect(internalPort).not.toBe(ports.find((p) => p.name === "http")?.containerPort);
      const exposed = (service.spec?.ports ?? []).map((p) => p.targetPort);
      expect(exposed).not.toContain("internal");
      expect(exposed).not.toContain(internalPort);
      expect(exposed).toEqual(["http"]);

      const hpa = one<HorizontalPodAutoscaler>("HorizontalPodAutoscaler");
      expect(hpa.spec?.scaleTargetRef).toEqual({
        apiVersion: "apps/v1",
        kind: "Deployment",
        name: "sightline-serving",
      });
      expect(hpa.spec?.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa.spec?.minReplicas).toBeLessThanOrEqual(deployment.spec!.replicas!);
      expect(hpa.spec?.maxReplicas).toBeGreaterThan(hpa.spec!.minReplicas!);

      expect(matches(one<PodDisruptionBudget>("PodDisruptionBudget").spec?.selector?.matchLabels)).toBe(true);

      const monitor = one<{
        spec: {
          selector: { matchLabels: Record<string, string> };
          endpoints: { port: string; path: string; timeout: string }[];
        };
      }>("PodMonitoring");
      expect(matches(monitor.spec.selector.matchLabels)).toBe(true);
      expect(monitor.spec.endpoints).toMatchObject([{ port: "internal", path: "/metrics" }]);
      // A scrape with a blocked worker still answers before the scraper gives up.
      expect(loadServingConfig(servingEnv(container.env)).metricsWorkerTimeoutMs).toBeLessThan(
        Number.parseFloat(monitor.spec.endpoints[0]!.timeout) * 1000,
      );
      // The internal port admits the Managed Prometheus collectors only; the public one anyone (through the LB).
      const servingPolicy = one<NetworkPolicy>("NetworkPolicy");
      const internalRules = (servingPolicy.spec?.ingress ?? []).filter((r) =>
        r.ports?.some((p) => p.port === internalPort),
      );
      expect(internalRules).toHaveLength(1);
      expect(internalRules[0]!.from).toEqual([
        { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "gmp-system" } } },
      ]);

      for (const name of ["sightline-serving", "sightline-trainer"]) {
        const sa = one<ServiceAccount>("ServiceAccount", name);
        expect(sa.metadata?.annotations?.["iam.gke.io/gcp-service-account"]).toMatch(
          new RegExp(`^${name}@[a-z][a-z0-9-]{4,28}[a-z0-9]\\.iam\\.gserviceaccount\\.com$`),
        );
      }
      expect(matches(one<NetworkPolicy>("NetworkPolicy").spec?.podSelector?.matchLabels)).toBe(true);
      const trainerPolicy = one<NetworkPolicy>("NetworkPolicy", "sightline-trainer");
      const template = yamlFile<Job>("k8s/base/trainer-job.yaml");
      expect(trainerPolicy.spec?.podSelector?.matchLabels).toEqual({
        "app.kubernetes.io/name": template.spec!.template.metadata!.labels!["app.kubernetes.io/name"],
      });
      // The configMap the Deployment reads its stores from is the overlay's generated one.
      const configMap = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("sightline-gcp-"))!;
      expect(deployment.spec!.template.spec!.containers[0]!.envFrom?.[0]?.configMapRef?.name).toBe(
        configMap.metadata.name,
      );
      expect(Object.values((configMap as unknown as ConfigMap).data ?? {}).join("\n")).not.toMatch(/PROJECT_ID/);
    },
  );
});

describe.skipIf(kubectl.skip)("k8s: authenticated inference in production", () => {
  it("prod requires API keys from the Secret; the serving config accepts what it sets", () => {
    const objects = built.prod ?? kustomize("k8s/overlays/prod");
    const container = (objects.find(SERVING) as unknown as Deployment).spec!.template.spec!.containers[0]!;
    const env = container.env ?? [];
    expect(env.filter((e) => e.name === "SIGHTLINE_SERVE_AUTH").map((e) => e.value)).toEqual(["api-key"]);
    const hashes = env.find((e) => e.name === "SIGHTLINE_SERVE_API_KEY_HASHES");
    expect(hashes?.valueFrom?.secretKeyRef).toEqual({
      name: "sightline-serving-api-keys",
      key: "sha256",
      optional: false,
    });
    expect(loadServingConfig(servingEnv(env)).auth.mode).toBe("api-key");
    // Without the Secret's value the configuration refuses to start rather than serving openly.
    expect(() => loadServingConfig({ ...servingEnv(env), SIGHTLINE_SERVE_API_KEY_HASHES: undefined })).toThrow(
      /SIGHTLINE_SERVE_API_KEY_HASHES/,
    );
  });

  it("dev stays open, with the Secret optional", () => {
    const objects = built.dev ?? kustomize("k8s/overlays/dev");
    const env = (objects.find(SERVING) as unknown as Deployment).spec!.template.spec!.containers[0]!.env ?? [];
    expect(env.find((e) => e.name === "SIGHTLINE_SERVE_AUTH")?.value).toBe("none");
    expect(env.find((e) => e.name === "SIGHTLINE_SERVE_API_KEY_HASHES")?.valueFrom?.secretKeyRef?.optional).toBe(true);
  });
});

describe("k8s: the trainer Job template (read by GkeJobRunner, not applied by kustomize)", () => {
  it("validates against batch/v1 Job with unknown keys rejected, and is not a kustomize resource", () => {
    expect(DEFAULT_TEMPLATE).toBe(join(ROOT, "k8s/base/trainer-job.yaml"));
    expect(k8sProblems(yamlFile<K8sObject>("k8s/base/trainer-job.yaml"))).toEqual([]);
    expect(yamlFile<{ resources: string[] }>("k8s/base/kustomization.yaml").resources).not.toContain(
      "trainer-job.yaml",
    );
  });

  it("runs as the trainer service account of the base, with the same hardening as serving", () => {
    const job = yamlFile<Job>("k8s/base/trainer-job.yaml");
    const accounts = parseAllDocuments(readFileSync(join(ROOT, "k8s/base/serviceaccounts.yaml"), "utf8")).map(
      (d) => d.toJS() as K8sObject,
    );
    expect(accounts.map((a) => a.metadata.name)).toContain(job.spec!.template.spec!.serviceAccountName);
    expect(job.spec!.template.spec!.containers[0]?.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
  });
});

describe("k8s: the validator itself", () => {
  const deployment = (): K8sObject => structuredClone(kustomizedOrBase());
  function kustomizedOrBase(): K8sObject {
    return (built.prod ?? [yamlFile<K8sObject>("k8s/base/serving-deployment.yaml")]).find(SERVING)!;
  }

  it("rejects a misspelt key, a wrong type and a missing required field", () => {
    const misspelt = deployment() as unknown as {
      spec: { template: { spec: { containers: Record<string, unknown>[] } } };
    };
    misspelt.spec.template.spec.containers[0]!.readinesProbe = { httpGet: { path: "/ready", port: 8080 } };
    expect(k8sProblems(misspelt as unknown as K8sObject)).toEqual([
      expect.stringMatching(/unknown field .*readinesProbe/),
    ]);

    const wrongType = deployment() as unknown as { spec: { replicas: unknown } };
    wrongType.spec.replicas = "three";
    expect(k8sProblems(wrongType as unknown as K8sObject).join("\n")).toMatch(/replicas/);

    const missing = deployment() as unknown as { spec: { selector?: unknown } };
    delete missing.spec.selector;
    expect(k8sProblems(missing as unknown as K8sObject).join("\n")).toMatch(/selector/);
  });

  it("rejects a PodMonitoring with an unknown key or without its scrape interval", () => {
    const pm = yamlFile<K8sObject & { spec: { endpoints: Record<string, unknown>[] } }>(
      "k8s/base/serving-podmonitoring.yaml",
    );
    expect(k8sProblems(pm)).toEqual([]);
    const unknown = structuredClone(pm);
    unknown.spec.endpoints[0]!.scrapeInterval = "30s";
    expect(k8sProblems(unknown).join("\n")).toMatch(/additional properties.*scrapeInterval/);
    const noInterval = structuredClone(pm);
    delete noInterval.spec.endpoints[0]!.interval;
    expect(k8sProblems(noInterval).join("\n")).toMatch(/interval/);
  });
});
