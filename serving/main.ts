// The serving container's command: configuration from the environment (ARCHITECTURE.md, Configuration), then
// serve until SIGTERM. Exit 78 on a configuration error, 1 on any other failure to start.
import { loadConfig } from "../core/config/config.ts";
import { errorKind } from "../core/errors.ts";
import { createLogger, flushLogs } from "../core/telemetry/logger.ts";
import { loadServingConfig } from "./config.ts";
import { runServing } from "./run.ts";

// Asynchronous writes: a log line never blocks a request; the buffer is flushed before exit.
const log = createLogger({ component: "serving" }, { async: true });
try {
  const serving = await runServing(loadConfig(), loadServingConfig(), log);
  const stop = (signal: string): void => {
    log.info("stopping", { signal });
    void serving
      .stop()
      .then(() => flushLogs())
      .then(() => process.exit(0));
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
} catch (err) {
  log.error("serving failed to start", { err });
  // A wrong setting exits 78 (EX_CONFIG), as the CLI does: restarting will not help.
  process.exit(errorKind(err) === "config" ? 78 : 1);
}
