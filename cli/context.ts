import { loadConfig } from "../core/config/config.ts";
import { openRuntime, type Runtime } from "../core/config/runtime.ts";
import { createLogger, type Logger } from "../core/telemetry/logger.ts";

/** Ends the command with a message and an exit code, without a stack trace. */
export class CliExit extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CliExit";
    this.exitCode = exitCode;
  }
}

export interface CliContext {
  log: Logger;
  env: Record<string, string | undefined>;
  cwd: string;
  out(line: string): void;
  fail(message: string, exitCode?: number): never;
}

export function createCliContext(): CliContext {
  return {
    log: createLogger({ component: "cli" }, { level: "WARNING" }),
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
