import type { Command } from "commander";
import { loadConfig } from "../../core/config/config.ts";
import { createLogger } from "../../core/telemetry/logger.ts";
import { openFunctionContext } from "../../functions/context.ts";
import { startEmbeddedFunctions } from "../../functions/embedded.ts";
import { FUNCTION_NAMES } from "../../functions/handlers.ts";
import type { CliContext } from "../context.ts";
import { EXIT } from "../exit-codes.ts";

/** `sightline functions run`: the event-driven functions on the local queue, as Cloud Functions run them on GCP. */
export function registerFunctions(program: Command, ctx: CliContext): void {
  program
    .command("functions")
    .description("the event-driven functions (lineage, drift, retrain, gate)")
    .command("run")
    .description(`consume the local queue with ${FUNCTION_NAMES.join(", ")} until Ctrl-C`)
    .option("--only <names>", "comma-separated subset of the functions")
    .action(async (opts: { only?: string }) => {
      const only = opts.only ? opts.only.split(",").map((s) => s.trim()) : FUNCTION_NAMES;
      const unknown = only.filter((n) => !(FUNCTION_NAMES as string[]).includes(n));
      if (unknown.length)
        ctx.fail(`unknown function(s) ${unknown.join(", ")}; they are ${FUNCTION_NAMES.join(", ")}`, EXIT.usage);
      const fctx = await openFunctionContext({
        env: ctx.env,
        config: loadConfig(ctx.env, ctx.cwd),
        log: createLogger({ component: "functions" }),
      });
      const running = await startEmbeddedFunctions(fctx, only);
      ctx.out(`Running ${only.join(", ")} on the local queue in ${fctx.rt.config.home}. Ctrl-C stops.`);
      await new Promise<void>((resolve) => {
        const stop = (): void =>
          void running
            .stop()
            .then(() => fctx.close())
            .then(resolve);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
