import { z } from "zod";
import { defineEnv } from "../env.ts";

// Where OpenLineage events go (core/config/openlineage.ts turns these into OpenLineageSettings). A blank value
// counts as unset: each schema trims and falls back itself.
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
const lineage = ["functions", "cli"] as const;

export const SIGHTLINE_OPENLINEAGE_URL = defineEnv({
  name: "SIGHTLINE_OPENLINEAGE_URL",
  schema: optional.pipe(httpUrl.optional()),
  defaultDoc: "unset: nothing sent as it happens",
  doc: "the OpenLineage server's base URL (Marquez, Dataplex)",
  components: lineage,
});
export const SIGHTLINE_OPENLINEAGE_ENDPOINT = defineEnv({
  name: "SIGHTLINE_OPENLINEAGE_ENDPOINT",
  schema: optional,
  default: "api/v1/lineage",
  doc: "the path under the URL the RunEvents are POSTed to",
  components: lineage,
});
export const SIGHTLINE_OPENLINEAGE_AUTH = defineEnv({
  name: "SIGHTLINE_OPENLINEAGE_AUTH",
  schema: optional.pipe(z.enum(["none", "google"]).default("none")),
  default: "none",
  doc: "`google`: an access token from Application Default Credentials as `Authorization: Bearer`",
  components: lineage,
});
export const SIGHTLINE_OPENLINEAGE_API_KEY = defineEnv({
  name: "SIGHTLINE_OPENLINEAGE_API_KEY",
  schema: optional,
  doc: "sent as `Authorization: Bearer KEY` (not with `AUTH=google`)",
  secret: true,
  components: lineage,
});
export const SIGHTLINE_OPENLINEAGE_NAMESPACE = defineEnv({
  name: "SIGHTLINE_OPENLINEAGE_NAMESPACE",
  schema: optional.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9_.:/-]{1,200}$/, "letters, digits and _ . : / -")
      .default("sightline"),
  ),
  default: "sightline",
  doc: "the namespace of Sightline's jobs",
  components: lineage,
});
export const SIGHTLINE_OPENLINEAGE_TIMEOUT_MS = defineEnv({
  name: "SIGHTLINE_OPENLINEAGE_TIMEOUT_MS",
  schema: integer(100, 120_000, 10_000),
  default: "10000",
  doc: "per attempt, ms",
  components: lineage,
});
export const SIGHTLINE_OPENLINEAGE_RETRIES = defineEnv({
  name: "SIGHTLINE_OPENLINEAGE_RETRIES",
  schema: integer(0, 10, 3),
  default: "3",
  doc: "retries after the first attempt, on network errors, 408, 429 and 5xx",
  components: lineage,
});
export const SIGHTLINE_GIT_REPO_URL = defineEnv({
  name: "SIGHTLINE_GIT_REPO_URL",
  // A URL (https://, ssh://, git://): the SourceCodeLocation facet's url must be a URI, which `git@host:org/repo` is not.
  schema: optional.pipe(z.url({ error: "expected a URL such as https://github.com/ORG/REPO" }).optional()),
  doc: "the repository (a URL) of the trainers' code; the trainer records it with its commit when set",
  components: ["functions", "cli", "trainer"],
});

/** In the order core/config/openlineage.ts checks them (the first problem is the one reported). */
export const LINEAGE_SETTINGS = [
  SIGHTLINE_OPENLINEAGE_URL,
  SIGHTLINE_OPENLINEAGE_ENDPOINT,
  SIGHTLINE_OPENLINEAGE_AUTH,
  SIGHTLINE_OPENLINEAGE_API_KEY,
  SIGHTLINE_OPENLINEAGE_NAMESPACE,
  SIGHTLINE_OPENLINEAGE_TIMEOUT_MS,
  SIGHTLINE_OPENLINEAGE_RETRIES,
  SIGHTLINE_GIT_REPO_URL,
] as const;
