import type { Command } from "commander";
import type { CliContext } from "../context.ts";

// Placeholder: replaced by the lineage commands.
export function registerLineage(_program: Command, _ctx: CliContext): void {}
