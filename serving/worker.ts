// A cluster worker of the inference API (see cluster.ts): opens the adapters and serves on the shared port.
import { openRuntime } from "../core/config/runtime.ts";
import { SIGHTLINE_SERVE_WORKER } from "../core/config/settings/serving.ts";
import { createLogger, flushLogs } from "../core/telemetry/logger.ts";
import { WORKER_ENV, type WorkerSetup } from "./cluster.ts";
import type { FromWorker, ToWorker } from "./cluster-metrics.ts";
import { startServer } from "./server.ts";

const setup = JSON.parse(SIGHTLINE_SERVE_WORKER.read() ?? "null") as WorkerSetup | null;
if (!setup || !process.send) throw new Error(`serving/worker.ts runs as a cluster worker with ${WORKER_ENV} set`);
const send = (msg: FromWorker): void => void process.send?.(msg);

const log = createLogger({ component: "serving", worker: process.pid }, { async: true });
const rt = await openRuntime(setup.runtime, log);

// /metrics on the public port (no internal port) asks the primary, which collects every worker's registry.
let nextId = 0;
const waiting = new Map<number, (text: { contentType: string; body: string }) => void>();
const server = await startServer(rt, setup.serving, log, {
  internalListener: false,
  metricsText: async () => {
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      send({ sightline: "metrics?", id });
    });
  },
});
process.on("message", (msg: ToWorker) => {
  if (msg?.sightline === "metrics!") {
    waiting.get(msg.id)?.({ contentType: msg.contentType, body: msg.body });
    waiting.delete(msg.id);
  } else if (msg?.sightline === "collect") {
    void server.context.metrics.registry
      .getMetricsAsJSON()
      .then((metrics) => send({ sightline: "collected", id: msg.id, metrics }));
  } else if (msg?.sightline === "reload") {
    void server.context.host.check("admin").then((result) => send({ sightline: "reloaded", id: msg.id, result }));
  }
});
send({ sightline: "listening", url: server.url });

const stop = async (): Promise<void> => {
  await server.shutdown();
  await rt.close();
  await flushLogs();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
// Ctrl-C reaches the whole process group; the primary decides when workers stop.
process.on("SIGINT", () => undefined);
