import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import client from "prom-client";
import type { Config } from "../core/config/config.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import type { ServingConfig } from "./config.ts";

/** How the primary hands its configuration to workers (they re-open the adapters themselves). */
export const WORKER_ENV = "SIGHTLINE_SERVE_WORKER";
export interface WorkerSetup {
  runtime: Config;
  serving: ServingConfig;
}

// IPC between workers and the primary.
export type WorkerMessage = { sightline: "listening"; url: string } | { sightline: "metrics?"; id: number };
export type PrimaryMessage = { sightline: "metrics!"; id: number; contentType: string; body: string };

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));
const RESPAWN_DELAY_MS = 1_000;

export interface ClusterHandle {
  url: string;
  workers: number;
  shutdown(): Promise<void>;
}

/**
 * One worker process per core, sharing the port: each has its own ONNX session, batcher and model host (so every
 * core runs preprocessing, inference and HTTP). The primary answers only the workers' requests for the aggregated
 * /metrics and restarts a worker that dies.
 */
export async function startCluster(setup: WorkerSetup, log: Logger): Promise<ClusterHandle> {
  const aggregator = new client.AggregatorRegistry();
  cluster.setupPrimary({ exec: WORKER, execArgv: process.execArgv, silent: false });
  let stopping = false;
  // Started once every first-generation worker listens with its model loaded (or knowing there is none yet).
  let started = 0;
  let allStarted: (url: string) => void = () => undefined;
  const listening = new Promise<string>((resolve) => (allStarted = resolve));

  const fork = (): Worker => {
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(setup) });
    worker.on("message", (msg: WorkerMessage) => {
      if (msg.sightline === "listening" && ++started === setup.serving.workers) allStarted(msg.url);
      if (msg.sightline === "metrics?") {
        void aggregator.clusterMetrics().then(
          (body) => worker.send({ sightline: "metrics!", id: msg.id, contentType: aggregator.contentType, body } satisfies PrimaryMessage),
          (err: unknown) => worker.send({ sightline: "metrics!", id: msg.id, contentType: "text/plain", body: `# metrics unavailable: ${(err as Error).message}\n` } satisfies PrimaryMessage),
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
  for (let i = 0; i < setup.serving.workers; i++) fork();
  const url = await listening;
  return {
    url,
    workers: setup.serving.workers,
    shutdown: async () => {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.isDead()) return resolve();
              w.once("exit", () => resolve());
              w.process.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}
