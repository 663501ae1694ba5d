import { hostname, userInfo } from "node:os";
import { createInterface } from "node:readline/promises";
import { loadConfig } from "../core/config/config.ts";
import { openRuntime, type Runtime } from "../core/config/runtime.ts";
import { createLogger, type Logger } from "../core/telemetry/logger.ts";
import { CliExit } from "./exit-codes.ts";
import { CI, SIGHTLINE_ACTOR } from "../core/config/settings/platform.ts";

export { CliExit } from "./exit-codes.ts";

export interface CliContext {
  log: Logger;
  /** Who is acting, for audit records: SIGHTLINE_ACTOR, else user@host. */
  actor: string;
  /** Whether a person can answer questions on this terminal. */
  interactive: boolean;
  env: Record<string, string | undefined>;
  cwd: string;
  out(line: string): void;
  fail(message: string, exitCode?: number): never;
}

export function createCliContext(): CliContext {
  return {
    log: createLogger({ component: "cli" }, { level: "WARNING" }),
    actor: SIGHTLINE_ACTOR.read(process.env) ?? `${userInfo().username}@${hostname()}`,
    interactive: process.stdin.isTTY === true && process.stderr.isTTY === true && CI.read(process.env) !== "true",
    env: process.env,
    cwd: process.cwd(),
    out: (line) => process.stdout.write(`${line}\n`),
    fail: (message, exitCode = 1) => {
      throw new CliExit(message, exitCode);
    },
  };
}

/** Opens the configured adapters for one command and always closes them. */
export async function withRuntime<R>(ctx: CliContext, fn: (rt: Runtime) => Promise<R>): Promise<R> {
  const rt = await openRuntime(loadConfig(ctx.env, ctx.cwd), ctx.log);
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

/** Asks a yes/no question on the terminal (default no). */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
