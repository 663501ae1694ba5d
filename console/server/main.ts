// The console container's command (k8s/console): the stores from the environment, the front end built into the
// image, until SIGTERM. Exit 78 on a configuration error, 1 on any other failure to start.
import { parseArgs } from "node:util";
import { loadConfig } from "../../core/config/config.ts";
import { openRuntime } from "../../core/config/runtime.ts";
import { errorKind } from "../../core/errors.ts";
import { createLogger, flushLogs } from "../../core/telemetry/logger.ts";
import { startConsole } from "./start.ts";

const log = createLogger({ component: "console" });
try {
  const { values } = parseArgs({
    options: { host: { type: "string", default: "0.0.0.0" }, port: { type: "string", default: "8080" } },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port} is not a port`);
  const rt = await openRuntime(loadConfig(), log);
  const running = await startConsole(rt, {
    host: values.host,
    port,
    env: process.env,
    catchUpLineage: false,
    say: (line) => log.info(line),
  });
  log.info("console listening", { url: running.url });
  const stop = (signal: string): void => {
    log.info("stopping", { signal });
    void running
      .stop()
      .then(() => rt.close())
      .then(() => flushLogs())
      .then(() => process.exit(0));
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
} catch (err) {
  log.error("console failed to start", { err });
  process.exit(errorKind(err) === "config" ? 78 : 1);
}
