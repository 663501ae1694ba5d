#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { ConfigError } from "../core/config/config.ts";
import { registerData } from "./commands/data.ts";
import { registerDemo } from "./commands/demo.ts";
import { registerDrift } from "./commands/drift.ts";
import { registerEvents } from "./commands/events.ts";
import { registerFunctions } from "./commands/functions.ts";
import { registerLineage } from "./commands/lineage.ts";
import { registerModels } from "./commands/models.ts";
import { registerPromotion } from "./commands/promote.ts";
import { registerRuns } from "./commands/runs.ts";
import { registerServe } from "./commands/serve.ts";
import { registerTrain } from "./commands/train.ts";
import { CliExit, createCliContext } from "./context.ts";

// `sightline … | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

const ctx = createCliContext();
const program = new Command("sightline")
  .description("Sightline: image classification from data to production, traceable end to end")
  .showHelpAfterError()
  .exitOverride();
registerData(program, ctx);
registerTrain(program, ctx);
registerModels(program, ctx);
registerPromotion(program, ctx);
registerRuns(program, ctx);
registerLineage(program, ctx);
registerDrift(program, ctx);
registerServe(program, ctx);
registerFunctions(program, ctx);
registerEvents(program, ctx);
registerDemo(program, ctx);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not failures; usage errors were already printed by commander.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof CliExit || err instanceof ConfigError) {
    process.stderr.write(`sightline: ${err.message}\n`);
    process.exitCode = err instanceof CliExit ? err.exitCode : 78;
  } else {
    process.stderr.write(`sightline: ${err instanceof Error ? err.message : String(err)}\n`);
    ctx.log.debug("command failed", { err });
    process.exitCode = 1;
  }
}
