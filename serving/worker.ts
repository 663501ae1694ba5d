// A cluster worker of the inference API (see cluster.ts): opens the adapters and serves on the shared port.
import client from "prom-client";
import { openRuntime } from "../core/config/runtime.ts";
import { createLogger } from "../core/telemetry/logger.ts";
import { WORKER_ENV, type PrimaryMessage, type WorkerMessage, type WorkerSetup } from "./cluster.ts";
import { startServer } from "./server.ts";

const setup = JSON.parse(process.env[WORKER_ENV] ?? "null") as WorkerSetup | null;
if (!setup || !process.send) throw new Error(`serving/worker.ts runs as a cluster worker with ${WORKER_ENV} set`);
const send = (msg: WorkerMessage): void => void process.send?.(msg);

const log = createLogger({ component: "serving", worker: process.pid });
const rt = await openRuntime(setup.runtime, log);

// /metrics asks the primary, which collects every worker's registry through prom-client's cluster support.
let nextId = 0;
const waiting = new Map<number, (text: { contentType: string; body: string }) => void>();
process.on("message", (msg: PrimaryMessage) => {
  if (msg?.sightline !== "metrics!") return;
  waiting.get(msg.id)?.({ contentType: msg.contentType, body: msg.body });
  waiting.delete(msg.id);
});
const server = await startServer(rt, setup.serving, log, {
  metricsText: async () => {
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      send({ sightline: "metrics?", id });
    });
  },
});
// prom-client answers the primary's collection requests only once an AggregatorRegistry exists in the worker.
new client.AggregatorRegistry();
client.AggregatorRegistry.setRegistries([server.context.metrics.registry]);
send({ sightline: "listening", url: server.url });

const stop = async (): Promise<void> => {
  await server.shutdown();
  await rt.close();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
// Ctrl-C reaches the whole process group; the primary decides when workers stop.
process.on("SIGINT", () => undefined);
