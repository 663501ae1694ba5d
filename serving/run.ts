import type { Config } from "../core/config/config.ts";
import { openRuntime } from "../core/config/runtime.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { startCluster } from "./cluster.ts";
import type { ServingConfig } from "./config.ts";
import { startServer } from "./server.ts";

export interface Serving {
  url: string;
  /** The internal listener (/metrics, /admin/*), when configured. */
  internalUrl: string | undefined;
  workers: number;
  /** Graceful: drains, finishes requests in flight, flushes the prediction log, closes the adapters. */
  stop(): Promise<void>;
}

/** Serves in this process (one worker) or as a cluster of worker processes sharing the port. */
export async function runServing(runtime: Config, serving: ServingConfig, log: Logger): Promise<Serving> {
  if (serving.workers > 1) {
    const handle = await startCluster({ runtime, serving }, log);
    return { url: handle.url, internalUrl: handle.internalUrl, workers: handle.workers, stop: handle.shutdown };
  }
  const rt = await openRuntime(runtime, log);
  try {
    const server = await startServer(rt, serving, log);
    return {
      url: server.url,
      internalUrl: server.internalUrl,
      workers: 1,
      stop: async () => {
        await server.shutdown();
        await rt.close();
      },
    };
  } catch (err) {
    await rt.close();
    throw err;
  }
}
