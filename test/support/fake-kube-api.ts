import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

/**
 * The slice of the Kubernetes API that GkeJobRunner uses (batch/v1 Jobs: create, read, list by label; core/v1 Pods:
 * list by label, a container's log with tailLines and limitBytes), on a loopback
 * HTTP port, answering the way an API server does: the stored object with server-set metadata, and `Status`
 * objects (AlreadyExists 409, NotFound 404) on errors. The real client is pointed at it through a KubeConfig.
 */
export interface FakeKubeApi {
  url: string;
  token: string;
  /** Stored Jobs by `namespace/name`, as the client sent them (plus server-set metadata and status). */
  jobs: Map<string, JsonJob>;
  requests: { method: string; path: string; query: URLSearchParams; authorization: string | undefined }[];
  /** A KubeConfig for the real client: this server, no TLS, a bearer token. */
  kubeConfig(): KubeConfig;
  /**
   * Adds a pod as the Job controller and kubelet would, with each started container's log text. A container with
   * no log here has not started: reading it answers 400, as the kubelet does for one waiting to start.
   */
  addPod(namespace: string, pod: JsonPod, logs: Record<string, string>): void;
  /** Replaces a Job's status, as the Job controller would. */
  setStatus(namespace: string, name: string, status: Record<string, unknown>): void;
  close(): Promise<void>;
}

export type JsonJob = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

export type JsonPod = {
  metadata: { name: string; labels?: Record<string, string>; creationTimestamp?: string; [key: string]: unknown };
  spec: { containers: { name: string }[]; initContainers?: { name: string }[]; [key: string]: unknown };
  status?: Record<string, unknown>;
};

const PODS = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+)\/(log))?$/;
const JOBS = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?$/;

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const token = `test-token-${randomUUID()}`;
  const jobs = new Map<string, JsonJob>();
  const requests: FakeKubeApi["requests"] = [];
  const pods = new Map<string, { namespace: string; pod: JsonPod; logs: Record<string, string> }>();
  let resourceVersion = 1;

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: Error) => send(res, 500, status(500, "InternalError", err.message)));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    requests.push({
      method: req.method ?? "",
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
    });
    if (req.headers.authorization !== `Bearer ${token}`)
      return send(res, 401, status(401, "Unauthorized", "Unauthorized"));
    const p = PODS.exec(url.pathname);
    if (p && req.method === "GET") return podsAnswer(res, url, decodeURIComponent(p[1] ?? ""), p[2]);
    const m = JOBS.exec(url.pathname);
    if (!m) return send(res, 404, status(404, "NotFound", `the server could not find the requested resource`));
    const namespace = decodeURIComponent(m[1] ?? "");
    const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);

    if (req.method === "POST" && name === undefined) {
      const job = JSON.parse(await body(req)) as JsonJob;
      const jobName = job.metadata?.name;
      if (!jobName)
        return send(res, 422, status(422, "Invalid", "Job.batch is invalid: metadata.name: Required value"));
      const key = `${namespace}/${jobName}`;
      if (jobs.has(key))
        return send(
          res,
          409,
          status(409, "AlreadyExists", `jobs.batch "${jobName}" already exists`, {
            name: jobName,
            group: "batch",
            kind: "jobs",
          }),
        );
      const stored: JsonJob = {
        ...job,
        metadata: {
          ...job.metadata,
          namespace,
          uid: randomUUID(),
          resourceVersion: String(resourceVersion++),
          creationTimestamp: new Date().toISOString(),
        },
        status: {},
      };
      jobs.set(key, stored);
      return send(res, 201, stored);
    }
    if (req.method === "GET" && name !== undefined) {
      const job = jobs.get(`${namespace}/${name}`);
      if (!job)
        return send(
          res,
          404,
          status(404, "NotFound", `jobs.batch "${name}" not found`, { name, group: "batch", kind: "jobs" }),
        );
      return send(res, 200, job);
    }
    if (req.method === "GET") {
      const selector = parseSelector(url.searchParams.get("labelSelector") ?? "");
      const items = [...jobs.values()].filter(
        (j) =>
          j.metadata.namespace === namespace &&
          Object.entries(selector).every(([k, v]) => j.metadata.labels?.[k] === v),
      );
      return send(res, 200, {
        apiVersion: "batch/v1",
        kind: "JobList",
        metadata: { resourceVersion: String(resourceVersion) },
        items,
      });
    }
    return send(
      res,
      405,
      status(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`),
    );
  }

  function podsAnswer(res: ServerResponse, url: URL, namespace: string, podName: string | undefined): void {
    if (podName === undefined) {
      const selector = parseSelector(url.searchParams.get("labelSelector") ?? "");
      const items = [...pods.values()]
        .filter((e) => e.namespace === namespace)
        .filter((e) => Object.entries(selector).every(([k, v]) => e.pod.metadata.labels?.[k] === v))
        .map((e) => ({ apiVersion: "v1", kind: "Pod", ...e.pod, metadata: { ...e.pod.metadata, namespace } }));
      return send(res, 200, { apiVersion: "v1", kind: "PodList", metadata: { resourceVersion: "1" }, items });
    }
    const name = decodeURIComponent(podName);
    const entry = pods.get(`${namespace}/${name}`);
    if (!entry) return send(res, 404, status(404, "NotFound", `pods "${name}" not found`, { name, kind: "pods" }));
    const names = [...(entry.pod.spec.initContainers ?? []), ...entry.pod.spec.containers].map((c) => c.name);
    const container = url.searchParams.get("container") ?? (names.length === 1 ? names[0] : undefined);
    if (container === undefined)
      return send(
        res,
        400,
        status(
          400,
          "BadRequest",
          `a container name must be specified for pod ${name}, choose one of: [${names.join(" ")}]`,
        ),
      );
    if (!names.includes(container))
      return send(res, 400, status(400, "BadRequest", `container ${container} is not valid for pod ${name}`));
    const log = entry.logs[container];
    if (log === undefined)
      return send(
        res,
        400,
        status(400, "BadRequest", `container "${container}" in pod "${name}" is waiting to start: PodInitializing`),
      );
    // As the kubelet: the last tailLines lines first, then at most limitBytes of them from their start.
    let text = log;
    const tail = url.searchParams.get("tailLines");
    if (tail !== null) {
      const lines = text.split(/(?<=\n)/);
      text = lines.slice(Math.max(0, lines.length - Number(tail))).join("");
    }
    const limit = url.searchParams.get("limitBytes");
    if (limit !== null) text = Buffer.from(text).subarray(0, Number(limit)).toString("utf8");
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    token,
    jobs,
    requests,
    kubeConfig: () => {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: "fake", server: url, skipTLSVerify: true }],
        users: [{ name: "tester", token }],
        contexts: [{ name: "fake", cluster: "fake", user: "tester" }],
        currentContext: "fake",
      });
      return kc;
    },
    addPod: (namespace, pod, logs) => {
      const metadata = {
        uid: randomUUID(),
        resourceVersion: String(resourceVersion++),
        creationTimestamp: new Date().toISOString(),
        ...pod.metadata,
      };
      pods.set(`${namespace}/${pod.metadata.name}`, { namespace, pod: { ...pod, metadata }, logs });
    },
    setStatus: (namespace, name, next) => {
      const job = jobs.get(`${namespace}/${name}`);
      if (!job) throw new Error(`no Job ${namespace}/${name} in the fake API`);
      job.status = next;
      job.metadata.resourceVersion = String(resourceVersion++);
    },
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}

/** Equality selectors only (`a=b,c==d`), which is all the runner sends. */
function parseSelector(selector: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const term of selector.split(",").filter(Boolean)) {
    const [k, v] = term.split(/==?/);
    if (k === undefined || v === undefined) throw new Error(`unsupported label selector term ${JSON.stringify(term)}`);
    out[k.trim()] = v.trim();
  }
  return out;
}

function status(
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
): Record<string, unknown> {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

function send(res: ServerResponse, code: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
