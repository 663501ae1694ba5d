import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { SightlineError, type SightlineErrorOptions } from "../errors.ts";
import {
  SIGHTLINE_BLOBS,
  SIGHTLINE_BUS,
  SIGHTLINE_CONFIG,
  SIGHTLINE_HOME,
  SIGHTLINE_JOBS,
  SIGHTLINE_META,
} from "./settings/stores.ts";

/** Where each port's adapter points; the scheme of the URI picks the adapter (ARCHITECTURE.md, Configuration). */
export type BlobsTarget = { kind: "file"; dir: string } | { kind: "gcs"; bucket: string; prefix: string };
export type MetaTarget = { kind: "sqlite"; path: string } | { kind: "firestore"; project: string; database: string };
export type BusTarget = { kind: "local"; path: string } | { kind: "pubsub"; project: string };
export type JobsTarget = { kind: "local" } | { kind: "k8s"; namespace: string };

export interface Config {
  home: string;
  blobs: BlobsTarget;
  meta: MetaTarget;
  bus: BusTarget;
  jobs: JobsTarget;
  /** The file the values came from, if any. */
  file?: string;
}

/** A wrong setting (environment, config or policy file): the CLI exits 78, a server refuses to start. */
export class ConfigError extends SightlineError {
  constructor(message: string, options?: SightlineErrorOptions) {
    super("config", "config_invalid", message, options);
  }
}

/** The optional YAML file: the same settings as the environment, in lower case. */
const FileSchema = z
  .object({
    home: z.string().min(1),
    blobs: z.string().min(1),
    meta: z.string().min(1),
    bus: z.string().min(1),
    jobs: z.string().min(1),
  })
  .partial()
  .strict();

type Env = Record<string, string | undefined>;

/** The file's keys and the variables that win over them. */
const STORE_VARIABLES = {
  home: SIGHTLINE_HOME,
  blobs: SIGHTLINE_BLOBS,
  meta: SIGHTLINE_META,
  bus: SIGHTLINE_BUS,
  jobs: SIGHTLINE_JOBS,
} as const;

/**
 * Reads the configuration: environment first, then the YAML file named by SIGHTLINE_CONFIG (or ./sightline.yaml
 * when present), then the embedded defaults. Anything wrong throws a ConfigError naming the variable or key.
 */
export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const file =
    SIGHTLINE_CONFIG.lookup(env).raw ??
    (existsSync(join(cwd, "sightline.yaml")) ? join(cwd, "sightline.yaml") : undefined);
  const fromFile = file === undefined ? {} : readConfigFile(resolve(cwd, file));
  const pick = (key: keyof z.infer<typeof FileSchema>): { value: string | undefined; name: string } => {
    const variable = STORE_VARIABLES[key];
    const fromEnv = variable.lookup(env);
    if (fromEnv.raw !== undefined) return { value: fromEnv.raw, name: fromEnv.from ?? variable.name };
    return { value: fromFile[key], name: file === undefined ? variable.name : `${key} in ${file}` };
  };

  const home = resolve(cwd, pick("home").value ?? ".sightline");
  const metaPath = join(home, "meta.db");
  const config: Config = {
    home,
    blobs: parseBlobs(pick("blobs"), join(home, "blobs"), cwd),
    meta: parseMeta(pick("meta"), metaPath, cwd),
    bus: parseBus(pick("bus"), metaPath, cwd),
    jobs: parseJobs(pick("jobs")),
  };
  if (file !== undefined) config.file = resolve(cwd, file);
  return config;
}

function readConfigFile(path: string): z.infer<typeof FileSchema> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`SIGHTLINE_CONFIG: cannot read ${path}: ${(err as Error).message}`);
  }
  const parsed = FileSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(`SIGHTLINE_CONFIG: ${path} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** For readYamlFile: a policy or trainers file an operator names is configuration, so its errors exit 78. */
export const configFileError = (message: string, options?: ErrorOptions): ConfigError =>
  new ConfigError(message, options);

type Setting = { value: string | undefined; name: string };

function scheme(setting: Setting, expected: string): { scheme: string; rest: string } {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(setting.value ?? "");
  if (!m?.[1])
    throw new ConfigError(`${setting.name}: ${JSON.stringify(setting.value)} is not a URI (expected ${expected})`);
  return { scheme: m[1].toLowerCase(), rest: m[2] ?? "" };
}

function unsupported(setting: Setting, expected: string): ConfigError {
  return new ConfigError(`${setting.name}: unsupported value ${JSON.stringify(setting.value)} (expected ${expected})`);
}

function localPath(rest: string, cwd: string, setting: Setting, expected: string): string {
  if (rest === "") throw unsupported(setting, expected);
  return isAbsolute(rest) ? rest : resolve(cwd, rest);
}

const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const GCP_PROJECT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

function parseBlobs(setting: Setting, fallback: string, cwd: string): BlobsTarget {
  if (setting.value === undefined) return { kind: "file", dir: fallback };
  const expected = "file://PATH or gs://BUCKET[/PREFIX]";
  const { scheme: s, rest } = scheme(setting, expected);
  if (s === "file") return { kind: "file", dir: localPath(rest, cwd, setting, expected) };
  if (s === "gs") {
    const [bucket = "", ...prefix] = rest.split("/");
    if (!GCS_BUCKET.test(bucket))
      throw new ConfigError(`${setting.name}: ${JSON.stringify(bucket)} is not a valid bucket name`);
    return { kind: "gcs", bucket, prefix: prefix.filter(Boolean).join("/") };
  }
  throw unsupported(setting, expected);
}

function parseMeta(setting: Setting, fallback: string, cwd: string): MetaTarget {
  if (setting.value === undefined) return { kind: "sqlite", path: fallback };
  const expected = "sqlite://PATH or firestore://PROJECT[/DATABASE]";
  const { scheme: s, rest } = scheme(setting, expected);
  if (s === "sqlite") return { kind: "sqlite", path: localPath(rest, cwd, setting, expected) };
  if (s === "firestore") {
    const [project = "", database = "(default)", ...extra] = rest.split("/");
    if (!GCP_PROJECT.test(project) || extra.length > 0) throw unsupported(setting, expected);
    return { kind: "firestore", project, database: database || "(default)" };
  }
  throw unsupported(setting, expected);
}

function parseBus(setting: Setting, fallback: string, cwd: string): BusTarget {
  if (setting.value === undefined) return { kind: "local", path: fallback };
  const expected = "local://PATH or pubsub://PROJECT";
  const { scheme: s, rest } = scheme(setting, expected);
  if (s === "local") return { kind: "local", path: localPath(rest, cwd, setting, expected) };
  if (s === "pubsub") {
    if (!GCP_PROJECT.test(rest)) throw unsupported(setting, expected);
    return { kind: "pubsub", project: rest };
  }
  throw unsupported(setting, expected);
}

function parseJobs(setting: Setting): JobsTarget {
  if (setting.value === undefined) return { kind: "local" };
  const expected = "local:// or k8s://NAMESPACE";
  const { scheme: s, rest } = scheme(setting, expected);
  if (s === "local" && rest === "") return { kind: "local" };
  if (s === "k8s" && /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(rest)) return { kind: "k8s", namespace: rest };
  throw unsupported(setting, expected);
}
