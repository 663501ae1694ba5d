import type { z } from "zod";
import { ConfigError } from "./config.ts";

/** Who reads a variable; the README table lists it so an operator knows which deployment needs it. */
export type EnvComponent = "cli" | "serving" | "trainer" | "functions" | "jobs" | "bench";

export interface EnvSpec<T> {
  name: string;
  /** Parses the raw string; the value a program sees. */
  schema: z.ZodType<T>;
  /** Raw string used when the variable is unset (parsed like a set value); undefined means no default. */
  default?: string;
  /** One line: what it does and its unit. */
  doc: string;
  /** Hidden from logs, errors and docs. */
  secret?: boolean;
  components: readonly EnvComponent[];
  /** Old names still accepted for one release. */
  deprecatedAliases?: readonly string[];
}

export interface EnvVar<T> extends EnvSpec<T> {
  /** The parsed value from `env` (default process.env); undefined when unset and no default. */
  read(env?: Readonly<Record<string, string | undefined>>): T | undefined;
}

export function defineEnv<T>(spec: EnvSpec<T>): EnvVar<T> {
  return {
    ...spec,
    read(env = process.env) {
      const raw = env[spec.name] ?? spec.deprecatedAliases?.map((a) => env[a]).find((v) => v !== undefined) ?? spec.default;
      if (raw === undefined) return undefined;
      const parsed = spec.schema.safeParse(raw);
      if (parsed.success) return parsed.data;
      const shown = spec.secret ? "<secret>" : JSON.stringify(raw);
      throw new ConfigError(`${spec.name}=${shown} is invalid: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
    },
  };
}
