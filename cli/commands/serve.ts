import { InvalidArgumentError, type Command } from "commander";
import { loadConfig } from "../../core/config/config.ts";
import { createLogger, flushLogs } from "../../core/telemetry/logger.ts";
import { DEFAULT_MODEL, loadServingConfig, refText } from "../../serving/config.ts";
import { runServing } from "../../serving/run.ts";
import type { CliContext } from "../context.ts";
import { positiveInt } from "../options.ts";
import { PORT, SIGHTLINE_SERVE_HOST, SIGHTLINE_SERVE_MODEL } from "../../core/config/settings/serving.ts";

const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("expected a port number (0 picks a free one)");
  return n;
};

/** `sightline serve`: the inference API on this machine, until Ctrl-C. */
export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .description("serve a model over HTTP: POST /predict, Open Inference Protocol v2, /health, /ready, /metrics")
    .option(
      "--model <ref>",
      "NAME@ALIAS (follows the alias as it moves) or NAME:VERSION",
      SIGHTLINE_SERVE_MODEL.read(ctx.env) ?? DEFAULT_MODEL,
    )
    .option("--port <n>", "port (0 picks a free one)", port, PORT.read(ctx.env) ?? 8080)
    .option("--host <addr>", "address to listen on", SIGHTLINE_SERVE_HOST.read(ctx.env) ?? "127.0.0.1")
    .option("--workers <n>", "worker processes (default: one per core)", positiveInt)
    .action(async (opts: { model: string; port: number; host: string; workers?: number }) => {
      const env = { ...ctx.env, [SIGHTLINE_SERVE_MODEL.name]: opts.model };
      const serving = loadServingConfig(env, {
        port: opts.port,
        host: opts.host,
        ...(opts.workers ? { workers: opts.workers } : {}),
      });
      const log = createLogger({ component: "serving" }, { async: true });
      const running = await runServing(loadConfig(ctx.env, ctx.cwd), serving, log);
      ctx.out(`Serving ${refText(serving.model)} at ${running.url} with ${running.workers} worker(s). Ctrl-C stops.`);
      ctx.out(`  curl -F file=@image.png ${running.url}/predict`);
      await new Promise<void>((resolve) => {
        const stop = (): void =>
          void running
            .stop()
            .then(() => flushLogs())
            .then(resolve);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
