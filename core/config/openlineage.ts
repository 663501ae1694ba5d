import { ConfigError } from "./config.ts";
import type { Env, EnvVar } from "./env.ts";
import {
  SIGHTLINE_GIT_REPO_URL,
  SIGHTLINE_OPENLINEAGE_API_KEY,
  SIGHTLINE_OPENLINEAGE_AUTH,
  SIGHTLINE_OPENLINEAGE_ENDPOINT,
  SIGHTLINE_OPENLINEAGE_NAMESPACE,
  SIGHTLINE_OPENLINEAGE_RETRIES,
  SIGHTLINE_OPENLINEAGE_TIMEOUT_MS,
  SIGHTLINE_OPENLINEAGE_URL,
} from "./settings/lineage.ts";

/** The OpenLineage HTTP transport's default path under its URL (Marquez and most servers answer there). */
export const DEFAULT_OPENLINEAGE_ENDPOINT = "api/v1/lineage";

/** Where lineage events go as they happen, and how they name jobs and source code. */
export interface OpenLineageSettings {
  /** Base URL of the OpenLineage server; null: nothing is sent as it happens (`lineage … --export` still works). */
  url: string | null;
  /** Path under `url` (the transport's `endpoint`), e.g. Dataplex's `v1/projects/P/locations/L:processOpenLineageRunEvent`. */
  endpoint: string;
  /** `none`: no credential, or the API key as a Bearer token when one is set; `google`: an access token from ADC. */
  auth: "none" | "google";
  apiKey: string | null;
  /** The namespace of Sightline's jobs (`train.<model>`). */
  jobNamespace: string;
  /** The repository the trainers' code comes from, when the run itself recorded none. */
  gitRepoUrl: string | null;
  timeoutMs: number;
  /** Retries after the first attempt, on network errors, 408, 429 and 5xx. */
  retries: number;
}

export function loadOpenLineageSettings(env: Env = process.env): OpenLineageSettings {
  const e = {
    SIGHTLINE_OPENLINEAGE_URL: read(SIGHTLINE_OPENLINEAGE_URL, env),
    SIGHTLINE_OPENLINEAGE_ENDPOINT: read(SIGHTLINE_OPENLINEAGE_ENDPOINT, env),
    SIGHTLINE_OPENLINEAGE_AUTH: read(SIGHTLINE_OPENLINEAGE_AUTH, env) ?? "none",
    SIGHTLINE_OPENLINEAGE_API_KEY: read(SIGHTLINE_OPENLINEAGE_API_KEY, env),
    SIGHTLINE_OPENLINEAGE_NAMESPACE: read(SIGHTLINE_OPENLINEAGE_NAMESPACE, env) ?? "sightline",
    SIGHTLINE_OPENLINEAGE_TIMEOUT_MS: read(SIGHTLINE_OPENLINEAGE_TIMEOUT_MS, env) ?? 10_000,
    SIGHTLINE_OPENLINEAGE_RETRIES: read(SIGHTLINE_OPENLINEAGE_RETRIES, env) ?? 3,
    SIGHTLINE_GIT_REPO_URL: read(SIGHTLINE_GIT_REPO_URL, env),
  };
  if (e.SIGHTLINE_OPENLINEAGE_AUTH === "google" && e.SIGHTLINE_OPENLINEAGE_API_KEY) {
    throw new ConfigError(
      "SIGHTLINE_OPENLINEAGE_API_KEY: not used with SIGHTLINE_OPENLINEAGE_AUTH=google (the token comes from Application Default Credentials)",
    );
  }
  return {
    url: e.SIGHTLINE_OPENLINEAGE_URL ?? null,
    endpoint: e.SIGHTLINE_OPENLINEAGE_ENDPOINT ?? DEFAULT_OPENLINEAGE_ENDPOINT,
    auth: e.SIGHTLINE_OPENLINEAGE_AUTH,
    apiKey: e.SIGHTLINE_OPENLINEAGE_API_KEY ?? null,
    jobNamespace: e.SIGHTLINE_OPENLINEAGE_NAMESPACE,
    gitRepoUrl: e.SIGHTLINE_GIT_REPO_URL ?? null,
    timeoutMs: e.SIGHTLINE_OPENLINEAGE_TIMEOUT_MS,
    retries: e.SIGHTLINE_OPENLINEAGE_RETRIES,
  };
}

/** Dataplex's endpoint for OpenLineage events, relative to https://datalineage.googleapis.com. */
export const dataplexEndpoint = (project: string, location: string): string =>
  `v1/projects/${project}/locations/${location}:processOpenLineageRunEvent`;

/** The value, or a ConfigError naming the variable and the problem (each schema's message carries the value). */
function read<T>(v: EnvVar<T>, env: Env): T | undefined {
  const r = v.safeRead(env);
  if (!r.ok) throw new ConfigError(`${r.from}: ${r.issues[0] ?? "invalid"}`);
  return r.value;
}
