import type { z } from "zod";
import { ConfigError } from "./config.ts";

/** Who reads a variable (`contract`: a contract trainer's program, which Sightline hands it); the README table lists it. */
export type EnvComponent = "cli" | "serving" | "trainer" | "functions" | "jobs" | "bench" | "ci" | "contract";

export type Env = Readonly<Record<string, string | undefined>>;

export interface EnvSpec<T, N extends string = string> {
  name: N;
  /** Parses the raw string; the value a program sees. */
  schema: z.ZodType<T>;
  /** Raw string used when the variable is unset (parsed like a set value); undefined means no default. */
  default?: string;
  /** The default as the README shows it, when it is computed rather than a fixed string (e.g. "one per core"). */
  defaultDoc?: string;
  /** One line: what it does and its unit. */
  doc: string;
  /** Hidden from logs, errors and docs. */
  secret?: boolean;
  components: readonly EnvComponent[];
  /** Old names still accepted for one release. */
  deprecatedAliases?: readonly string[];
  /** An empty value counts as unset (`VAR= cmd`, or a manifest's empty placeholder). */
  emptyIsUnset?: boolean;
}

/** An old name that supplied a value. */
export interface DeprecatedUse {
  alias: string;
  name: string;
}

export interface ReadOptions {
  /** Told when a deprecated alias supplied the value; by default one warning line per alias and process. */
  onDeprecated?: (use: DeprecatedUse) => void;
}

/** The raw value and the name it came from (the variable itself or an old alias); `from` is undefined when unset. */
export interface RawRead {
  raw: string | undefined;
  from: string | undefined;
}

export type SafeRead<T> =
  | { ok: true; value: T | undefined; from: string | undefined }
  | { ok: false; from: string; raw: string; issues: string[] };

export interface EnvVar<T, N extends string = string> extends EnvSpec<T, N> {
  /** The parsed value from `env` (default process.env); undefined when unset and no default. */
  read(env?: Env, options?: ReadOptions): T | undefined;
  /** Like read, but an invalid value is returned as issues for callers with their own message. */
  safeRead(env?: Env, options?: ReadOptions): SafeRead<T>;
  /** The raw string and the name that set it, without the default or parsing. */
  lookup(env?: Env, options?: ReadOptions): RawRead;
}

const warned = new Set<string>();

/** One structured line on stderr per alias and process: the logger itself reads settings, so it is not used here. */
export function warnDeprecatedOnce(use: DeprecatedUse): void {
  if (warned.has(use.alias)) return;
  warned.add(use.alias);
  const line = {
    severity: "WARNING",
    time: new Date().toISOString(),
    message: `${use.alias} is deprecated: set ${use.name} instead (the old name stops working in the next release)`,
    component: "config",
    variable: use.alias,
    replacement: use.name,
  };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

export function defineEnv<T, const N extends string = string>(spec: EnvSpec<T, N>): EnvVar<T, N> {
  const isSet = (v: string | undefined): v is string => v !== undefined && !(spec.emptyIsUnset === true && v === "");
  const lookup = (env: Env = process.env, options: ReadOptions = {}): RawRead => {
    if (isSet(env[spec.name])) return { raw: env[spec.name], from: spec.name };
    for (const alias of spec.deprecatedAliases ?? []) {
      const raw = env[alias];
      if (!isSet(raw)) continue;
      (options.onDeprecated ?? warnDeprecatedOnce)({ alias, name: spec.name });
      return { raw, from: alias };
    }
    return { raw: undefined, from: undefined };
  };
  const safeRead = (env: Env = process.env, options: ReadOptions = {}): SafeRead<T> => {
    const found = lookup(env, options);
    const raw = found.raw ?? spec.default;
    if (raw === undefined) return { ok: true, value: undefined, from: undefined };
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) return { ok: true, value: parsed.data, from: found.from };
    return { ok: false, from: found.from ?? spec.name, raw, issues: parsed.error.issues.map((i) => i.message) };
  };
  return {
    ...spec,
    lookup,
    safeRead,
    read(env = process.env, options = {}) {
      const r = safeRead(env, options);
      if (r.ok) return r.value;
      const shown = spec.secret ? "(hidden)" : JSON.stringify(r.raw);
      throw new ConfigError(`${r.from}=${shown}: ${r.issues.join("; ")}`);
    },
  };
}

/** The value of a variable that always has a default (a registry bug otherwise). */
export function readDefined<T>(v: EnvVar<T>, env?: Env, options?: ReadOptions): T {
  const value = v.read(env, options);
  if (value === undefined) throw new Error(`${v.name} has no default`);
  return value;
}
