import { z } from "zod";
import { ConfigError } from "./config.ts";

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

const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const integer = (min: number, max: number, fallback: number) =>
  optional.transform((v, ctx) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    ctx.addIssue({ code: "custom", message: `expected an integer from ${min} to ${max}, not ${JSON.stringify(v)}` });
    return z.NEVER;
  });

const httpUrl = z.url({ protocol: /^https?$/, error: "expected an http(s) URL" });

const Env = z.object({
  SIGHTLINE_OPENLINEAGE_URL: optional.pipe(httpUrl.optional()),
  SIGHTLINE_OPENLINEAGE_ENDPOINT: optional,
  SIGHTLINE_OPENLINEAGE_AUTH: optional.pipe(z.enum(["none", "google"]).default("none")),
  SIGHTLINE_OPENLINEAGE_API_KEY: optional,
  SIGHTLINE_OPENLINEAGE_NAMESPACE: optional.pipe(z.string().regex(/^[A-Za-z0-9_.:/-]{1,200}$/, "letters, digits and _ . : / -").default("sightline")),
  SIGHTLINE_OPENLINEAGE_TIMEOUT_MS: integer(100, 120_000, 10_000),
  SIGHTLINE_OPENLINEAGE_RETRIES: integer(0, 10, 3),
  // A URL (https://, ssh://, git://): the SourceCodeLocation facet's url must be a URI, which `git@host:org/repo` is not.
  SIGHTLINE_GIT_REPO_URL: optional.pipe(z.url({ error: "expected a URL such as https://github.com/ORG/REPO" }).optional()),
});

export function loadOpenLineageSettings(env: Record<string, string | undefined> = process.env): OpenLineageSettings {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${String(issue?.path[0] ?? "SIGHTLINE_OPENLINEAGE_*")}: ${issue?.message ?? "invalid"}`);
  }
  const e = parsed.data;
  if (e.SIGHTLINE_OPENLINEAGE_AUTH === "google" && e.SIGHTLINE_OPENLINEAGE_API_KEY) {
    throw new ConfigError("SIGHTLINE_OPENLINEAGE_API_KEY: not used with SIGHTLINE_OPENLINEAGE_AUTH=google (the token comes from Application Default Credentials)");
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
export const dataplexEndpoint = (project: string, location: string): string => `v1/projects/${project}/locations/${location}:processOpenLineageRunEvent`;
