import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { Runtime } from "../../core/config/runtime.ts";
import { catchUpLineage } from "../../core/lineage/emit.ts";
import { createConsoleApp } from "./app.ts";
import { ensureBuilt } from "./build.ts";

export type RunningConsole = { url: string; server: Server; stop(): Promise<void> };

const LOOPBACK = ["127.0.0.1", "localhost", "::1"];
export const isLoopback = (host: string): boolean => LOOPBACK.includes(host) || host.startsWith("127.");

/**
 * Builds the front end if needed and serves it with the API over the runtime's stores. On a loopback address the
 * Host header must name this machine, so a web page elsewhere cannot read the console through DNS rebinding.
 */
export async function startConsole(
  rt: Runtime,
  options: {
    host: string;
    port: number;
    env: Record<string, string | undefined>;
    buildDir?: string;
    say?: (line: string) => void;
  },
): Promise<RunningConsole> {
  const staticDir = await ensureBuilt(options.buildDir, options.say);
  // One catch-up at a time: two searches at once would read the same subscription twice.
  let catching: Promise<void> = Promise.resolve();
  const beforeLineage = (): Promise<void> =>
    (catching = catching
      .then(() => catchUpLineage(rt, options.env))
      .catch((err: unknown) => rt.log.warn("lineage catch-up failed; answering from what is recorded", { err })));
  await beforeLineage();
  const app = createConsoleApp({
    meta: rt.meta,
    blobs: rt.blobs,
    log: rt.log,
    staticDir,
    beforeLineage,
    ...(isLoopback(options.host) ? { allowedHosts: [...LOOPBACK, options.host] } : {}),
  });
  const server = await new Promise<Server>((resolve, reject) => {
    // Express 5 calls back with the listen error (a port in use) too.
    const s = app.listen(options.port, options.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/`,
    server,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
