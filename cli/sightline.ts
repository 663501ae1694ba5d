#!/usr/bin/env node
import { Command, CommanderError } from "commander";
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
import { registerUi } from "./commands/ui.ts";
import { createCliContext } from "./context.ts";
import { CliExit, exitCodeFor } from "./exit-codes.ts";

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
registerUi(program, ctx);
registerDemo(program, ctx);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Commander has already printed its usage errors (and help and version are not failures).
  if (!(err instanceof CommanderError)) {
    process.stderr.write(`sightline: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!(err instanceof CliExit)) ctx.log.debug("command failed", { err });
  }
  process.exitCode = exitCodeFor(err);
}
