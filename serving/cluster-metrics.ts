import type { Worker } from "node:cluster";
import client from "prom-client";

// IPC between the primary and the workers for metrics and reloads (each request carries an id; answers echo it).
export type ToWorker =
  | { sightline: "collect"; id: number }
  | { sightline: "reload"; id: number }
  | { sightline: "metrics!"; id: number; contentType: string; body: string };
export type FromWorker =
  | { sightline: "listening"; url: string }
  | { sightline: "metrics?"; id: number }
  | { sightline: "collected"; id: number; metrics: client.MetricObjectWithValues<client.MetricValue<string>>[] }
  | { sightline: "reloaded"; id: number; result: { changed: boolean; version: number | undefined; error?: string } };

type Answer = Extract<FromWorker, { id: number; sightline: "collected" | "reloaded" }>;

let nextId = 0;

/**
 * Asks every worker and waits for each at most `timeoutMs`: a blocked or dying worker costs the caller that long,
 * never the answers of the others. Resolves with the answer (or undefined) per worker, in order.
 */
export function askWorkers<K extends Answer["sightline"]>(
  workers: Worker[],
  question: "collect" | "reload",
  answer: K,
  timeoutMs: number,
): Promise<(Extract<Answer, { sightline: K }> | undefined)[]> {
  return Promise.all(
    workers.map(
      (worker) =>
        new Promise<Extract<Answer, { sightline: K }> | undefined>((resolve) => {
          if (!worker.isConnected()) return resolve(undefined);
          const id = nextId++;
          const done = (value: Extract<Answer, { sightline: K }> | undefined): void => {
            clearTimeout(timer);
            worker.off("message", onMessage);
            worker.off("exit", onExit);
            resolve(value);
          };
          const onMessage = (msg: FromWorker): void => {
            if (msg?.sightline === answer && "id" in msg && msg.id === id)
              done(msg as Extract<Answer, { sightline: K }>);
          };
          const onExit = (): void => done(undefined);
          const timer = setTimeout(() => done(undefined), timeoutMs);
          worker.on("message", onMessage);
          worker.once("exit", onExit);
          try {
            worker.send({ sightline: question, id } satisfies ToWorker);
          } catch {
            done(undefined);
          }
        }),
    ),
  );
}

/**
 * The cluster's /metrics: every answering worker's registry aggregated (prom-client's cluster aggregation rules),
 * plus `sightline_metrics_workers{state}` saying how many workers answered and how many did not in time.
 */
export async function clusterMetricsText(
  workers: Worker[],
  timeoutMs: number,
): Promise<{ contentType: string; body: string }> {
  const answers = await askWorkers(workers, "collect", "collected", timeoutMs);
  const got = answers.filter((a) => a !== undefined);
  const aggregated = client.AggregatorRegistry.aggregate<client.PrometheusContentType>(got.map((a) => a.metrics));
  const own = new client.Registry();
  const state = new client.Gauge({
    name: "sightline_metrics_workers",
    help: "Serving workers whose metrics this scrape includes (answered) or lacks (missing: blocked, busy or restarting)",
    labelNames: ["state"] as const,
    registers: [own],
  });
  state.set({ state: "answered" }, got.length);
  state.set({ state: "missing" }, answers.length - got.length);
  const merged = client.Registry.merge([aggregated, own]);
  return { contentType: merged.contentType, body: await merged.metrics() };
}
