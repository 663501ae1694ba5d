import type { Command } from "commander";
import type { CliContext } from "../context.ts";

// Placeholder: replaced by the drift commands.
export function registerDrift(_program: Command, _ctx: CliContext): void {}
