import { InvalidArgumentError, type Command } from "commander";
import { isLoopback, startConsole } from "../../console/server/start.ts";
import { SIGHTLINE_CONSOLE_SERVING_URL } from "../../core/config/settings/console.ts";
import type { Runtime } from "../../core/config/runtime.ts";
import { OnnxEvaluator } from "../../evaluation/onnx-evaluator.ts";
import { withRuntime, type CliContext } from "../context.ts";
import { registerUiExport } from "./ui-export.ts";

export const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("expected a port number (0 picks a free one)");
  return n;
};

export const UI_PORT = 4170;

/** `--serving-url`: an http(s) URL, checked as SIGHTLINE_CONSOLE_SERVING_URL is. */
export const servingUrl = (value: string): string => {
  const r = SIGHTLINE_CONSOLE_SERVING_URL.schema.safeParse(value);
  if (!r.success) throw new InvalidArgumentError("expected an http:// or https:// URL, e.g. http://127.0.0.1:8080");
  return r.data;
};

/** `sightline ui`: the console over the configured stores (the ones every other command reads), until Ctrl-C. */
export function registerUi(program: Command, ctx: CliContext): void {
  const ui = program
    .command("ui")
    .description(
      "open the web console (models, lineage, drift) over the configured stores, on this machine by default; writes need the printed sign-in link",
    )
    .option("--port <n>", "port (0 picks a free one)", port, UI_PORT)
    .option(
      "--host <addr>",
      "address to listen on (reads need no token: keep it on loopback unless the network is yours)",
      "127.0.0.1",
    )
    .option(
      "--serving-url <url>",
      "the inference API the Predict page sends images to, through the console (default: SIGHTLINE_CONSOLE_SERVING_URL)",
      servingUrl,
    )
    .action(async (opts: { port: number; host: string; servingUrl?: string }) =>
      withRuntime(ctx, (rt) => serveConsoleUntilStopped(rt, ctx, opts)),
    );
  registerUiExport(ui, ctx);
}

/** Serves the console over `rt`'s stores until SIGINT or SIGTERM (`sightline ui`, and `sightline demo --ui`). */
export async function serveConsoleUntilStopped(
  rt: Runtime,
  ctx: CliContext,
  opts: { port: number; host: string; servingUrl?: string },
  /** Runs once the console has stopped (the demo stops the inference API it kept up for the Predict page). */
  onStop?: () => Promise<void>,
): Promise<void> {
  if (!isLoopback(opts.host))
    ctx.log.warn(
      "the console answers reads and Predict without a token: anyone who can reach this address can read the registry and lineage, and send images to the serving API",
      { host: opts.host },
    );
  const running = await startConsole(rt, {
    host: opts.host,
    port: opts.port,
    env: ctx.env,
    actor: ctx.actor,
    evaluator: new OnnxEvaluator(rt),
    ...(opts.servingUrl !== undefined ? { servingUrl: opts.servingUrl } : {}),
    say: (line) => process.stderr.write(`${line}\n`),
  });
  ctx.out(`Sightline console at ${running.url} (state in ${rt.config.home}). Ctrl-C stops.`);
  const serving = opts.servingUrl ?? SIGHTLINE_CONSOLE_SERVING_URL.read(ctx.env);
  ctx.out(
    serving
      ? `Predict page: images go to the serving API at ${serving}`
      : "Predict page: no serving API (--serving-url http://127.0.0.1:8080, or SIGHTLINE_CONSOLE_SERVING_URL)",
  );
  // The link carries the token: only this terminal (and whoever reads the 0600 file) sees it.
  if (running.signIn)
    ctx.out(
      `To promote, roll back or approve as ${ctx.actor}, open once in your browser: ${running.signIn.url}  (token in ${running.signIn.tokenFile})`,
    );
  await new Promise<void>((resolve) => {
    const stop = (): void =>
      void running
        .stop()
        .then(() => onStop?.())
        .then(resolve);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
