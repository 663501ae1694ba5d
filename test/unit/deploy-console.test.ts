// The console's Kubernetes manifests (k8s/console) and its Google identity (terraform/iam.tf), offline: both
// overlays build with `kubectl kustomize`; the core objects validate against their API schemas; nothing exposes
// the console but the prod Gateway, which has IAP; its identity only reads; its environment names only
// registered settings, each of which parses.
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { Deployment } from "kubernetes-models/apps/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { ConfigMap, Service, ServiceAccount } from "kubernetes-models/v1";
import { beforeAll, describe, expect, it } from "vitest";
import { createConsoleApp } from "../../console/server/app.ts";
import { SETTINGS_BY_NAME } from "../../core/config/settings/index.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { kustomize, OVERLAYS, read, tool, type K8sObject } from "../fixtures/deploy/support.ts";

const kubectl = tool("kubectl");
const built: Record<string, K8sObject[]> = {};
const CORE = { Deployment, Service, ServiceAccount, NetworkPolicy, ConfigMap } as const;

type Container = {
  args?: string[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string } }[];
  readinessProbe?: { httpGet?: { path: string; port: string } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
};
const deploymentOf = (objects: K8sObject[]) =>
  objects.find((o) => o.kind === "Deployment" && o.metadata.name === "sightline-console") as unknown as {
    spec: {
      template: {
        spec: { serviceAccountName: string; securityContext: { runAsNonRoot?: boolean }; containers: Container[] };
      };
    };
  };

describe.skipIf(kubectl.skip)("k8s/console: the console on GKE", () => {
  beforeAll(() => {
    for (const overlay of OVERLAYS) built[overlay] = kustomize(`k8s/console/overlays/${overlay}`);
  });

  it.each(OVERLAYS)("%s builds offline and its core objects validate against their schemas", (overlay) => {
    const objects = built[overlay]!;
    for (const o of objects) {
      const model = CORE[o.kind as keyof typeof CORE];
      if (model)
        expect(() => new model(structuredClone(o) as never).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
    expect(objects.map((o) => o.kind).sort()).toEqual(
      [
        "ConfigMap",
        "Deployment",
        "NetworkPolicy",
        "Service",
        "ServiceAccount",
        ...(overlay === "prod" ? ["GCPBackendPolicy", "Gateway", "HTTPRoute", "HealthCheckPolicy"] : []),
      ].sort(),
    );
  });

  it.each(OVERLAYS)("%s: only a ClusterIP Service, no LoadBalancer or NodePort", (overlay) => {
    const services = built[overlay]!.filter((o) => o.kind === "Service") as unknown as {
      metadata: { name: string };
      spec: { type?: string; ports: { targetPort: string }[] };
    }[];
    expect(services.map((s) => [s.metadata.name, s.spec.type])).toEqual([["sightline-console", "ClusterIP"]]);
    expect(services[0]!.spec.ports.map((p) => p.targetPort)).toEqual(["http"]);
  });

  it("prod: an HTTPS-only Gateway routes to the console's Service, whose backend has IAP enabled", () => {
    const objects = built.prod!;
    const one = <T>(kind: string) => objects.find((o) => o.kind === kind) as unknown as T;
    const gateway = one<{ spec: { gatewayClassName: string; listeners: { protocol: string; port: number }[] } }>(
      "Gateway",
    );
    expect(gateway.spec.gatewayClassName).toMatch(/^gke-l7-/);
    expect(gateway.spec.listeners.map((l) => `${l.protocol}:${l.port}`)).toEqual(["HTTPS:443"]);
    const route = one<{ spec: { rules: { backendRefs: { name: string; port: number }[] }[] } }>("HTTPRoute");
    expect(route.spec.rules.flatMap((r) => r.backendRefs)).toEqual([{ name: "sightline-console", port: 80 }]);
    const policy = one<{
      apiVersion: string;
      spec: { default: { iap?: { enabled: boolean } }; targetRef: { kind: string; name: string } };
    }>("GCPBackendPolicy");
    expect(policy.apiVersion).toBe("networking.gke.io/v1");
    expect(policy.spec.default.iap?.enabled).toBe(true);
    expect(policy.spec.targetRef).toMatchObject({ kind: "Service", name: "sightline-console" });
    // Dev has no way in but a port-forward.
    expect(built.dev!.some((o) => o.kind === "Gateway" || o.kind === "Ingress")).toBe(false);
    expect(read("k8s/console/overlays/dev/kustomization.yaml")).toMatch(
      /kubectl -n sightline port-forward svc\/sightline-console/,
    );
  });

  it.each(OVERLAYS)(
    "%s: non-root, read-only root filesystem, and a readiness probe the console answers",
    async (overlay) => {
      const pod = deploymentOf(built[overlay]!).spec.template.spec;
      expect(pod.serviceAccountName).toBe("sightline-console");
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
    const c = deploymentOf(objects).spec.template.spec.containers[0]!;
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
    // Read-only, as its identity is (below): no write is offered, so no identity is asked for.
    expect(env.SIGHTLINE_CONSOLE_WRITES).toBe("off");
  });

  it.each(OVERLAYS)(
    "%s: the Predict page reaches serving's in-cluster Service, and only its pods' port is let out for it",
    (overlay) => {
      const objects = built[overlay]!;
      const c = deploymentOf(objects).spec.template.spec.containers[0]! as unknown as {
        env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; optional?: boolean } } }[];
      };
      const serving = kustomize(`k8s/overlays/${overlay}`);
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
      const policy = objects.find((o) => o.kind === "NetworkPolicy") as unknown as {
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

  it.each(OVERLAYS)("%s: the same stores as the serving overlay (one gcp.env)", (overlay) => {
    expect(read(`k8s/console/overlays/${overlay}/gcp.env`)).toBe(read(`k8s/overlays/${overlay}/gcp.env`));
  });
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

  it("is what the console's Kubernetes service account acts as, through Workload Identity", () => {
    expect(iam).toMatch(/console\s+= "Web console pods/);
    expect(iam).toMatch(/console = "sightline-console"/);
    expect(read("k8s/console/base/serviceaccount.yaml")).toMatch(
      /name: sightline-console\n\s+annotations:\n\s+iam\.gke\.io\/gcp-service-account: sightline-console@/,
    );
  });
});
