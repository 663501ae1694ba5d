import cluster, { type Worker } from "node:cluster";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import express from "express";
import type { Config } from "../core/config/config.ts";
import { SIGHTLINE_SERVE_WORKER } from "../core/config/settings/serving.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { finish } from "./app.ts";
import { askWorkers, clusterMetricsText, type FromWorker, type ToWorker } from "./cluster-metrics.ts";
import type { ServingConfig } from "./config.ts";
import { bearer } from "./routes/admin.ts";

/** How the primary hands its configuration to workers (they re-open the adapters themselves). */
export const WORKER_ENV = SIGHTLINE_SERVE_WORKER.name;
export interface WorkerSetup {
  runtime: Config;
  serving: ServingConfig;
}

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));
const RESPAWN_DELAY_MS = 1_000;
// A reload loads and warms up a model: much longer than a metrics collection.
const RELOAD_TIMEOUT_MS = 60_000;

export interface ClusterHandle {
  url: string;
  /** The primary's internal listener (/metrics, /admin/*), when `internalPort` is set. */
  internalUrl: string | undefined;
  workers: number;
  shutdown(): Promise<void>;
}

/**
 * One worker process per core, sharing the port: each has its own ONNX session, batcher and model host (so every
 * core runs preprocessing, inference and HTTP). The primary restarts a worker that dies and aggregates the
 * workers' metrics, waiting for each at most `metricsWorkerTimeoutMs`, so a blocked worker cannot blank a scrape.
 * With an internal port, the primary itself answers it: /metrics for the whole pod and /admin/reload for every
 * worker; without one, a worker's /metrics asks the primary.
 */
export async function startCluster(setup: WorkerSetup, log: Logger): Promise<ClusterHandle> {
  const { serving } = setup;
  cluster.setupPrimary({ exec: WORKER, execArgv: process.execArgv, silent: false });
  let stopping = false;
  // Started once every first-generation worker listens with its model loaded (or knowing there is none yet).
  let started = 0;
  let allStarted: (url: string) => void = () => undefined;
  const listening = new Promise<string>((resolve) => (allStarted = resolve));
  const live = (): Worker[] =>
    Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
  const metricsText = () => clusterMetricsText(live(), serving.metricsWorkerTimeoutMs);

  const fork = (): Worker => {
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(setup) });
    worker.on("message", (msg: FromWorker) => {
      if (msg?.sightline === "listening" && ++started === serving.workers) allStarted(msg.url);
      if (msg?.sightline === "metrics?") {
        void metricsText().then(
          (text) => worker.send({ sightline: "metrics!", id: msg.id, ...text } satisfies ToWorker),
          (err: unknown) =>
            worker.send({
              sightline: "metrics!",
              id: msg.id,
              contentType: "text/plain",
              body: `# metrics unavailable: ${(err as Error).message}\n`,
            } satisfies ToWorker),
        );
      }
    });
    return worker;
  };
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    log.error("serving worker died; starting another", { pid: worker.process.pid, code, signal });
    setTimeout(() => !stopping && fork(), RESPAWN_DELAY_MS).unref();
  });
  for (let i = 0; i < serving.workers; i++) fork();
  const url = await listening;

  let internal: Server | undefined;
  if (serving.internalPort !== undefined) {
    const app = express();
    app.disable("x-powered-by");
    app.get("/metrics", async (_req, res) => {
      const { contentType, body } = await metricsText();
      res.type(contentType).send(body);
    });
    if (serving.adminToken !== undefined) {
      app.post("/admin/reload", bearer(serving.adminToken), async (_req, res) => {
        const workers = live();
        const answers = await askWorkers(workers, "reload", "reloaded", RELOAD_TIMEOUT_MS);
        const results = answers.map((a, i) => ({
          pid: workers[i]!.process.pid ?? null,
          ...(a
            ? { ...a.result, version: a.result.version ?? null }
            : { changed: false, version: null, error: "no answer" }),
        }));
        const failed = results.filter((r) => "error" in r && r.error !== undefined);
        res.status(failed.length > 0 ? 409 : 200).json({
          changed: results.some((r) => r.changed),
          version: results[0]?.version ?? null,
          workers: results,
          ...(failed.length > 0
            ? {
                error: {
                  code: "reload_failed",
                  message: failed.map((r) => `worker ${r.pid}: ${"error" in r ? r.error : ""}`).join("; "),
                },
              }
            : {}),
        });
      });
    }
    internal = createServer(finish(app, log));
    await new Promise<void>((resolve, reject) => {
      internal!.once("error", reject);
      internal!.listen(serving.internalPort, serving.host, () => resolve());
    });
  }
  const internalPort = internal ? (internal.address() as AddressInfo).port : undefined;
  const internalUrl =
    internalPort === undefined
      ? undefined
      : `http://${serving.host === "0.0.0.0" ? "127.0.0.1" : serving.host}:${internalPort}`;
  if (internalUrl) log.info("internal port", { url: internalUrl });
  return {
    url,
    internalUrl,
    workers: serving.workers,
    shutdown: async () => {
      stopping = true;
      await Promise.all(
        live().map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              w.once("exit", () => resolve());
              w.process.kill("SIGTERM");
            }),
        ),
      );
      if (internal) {
        const closed = new Promise<void>((resolve) => internal.close(() => resolve()));
        internal.closeAllConnections();
        await closed;
      }
    },
  };
}
