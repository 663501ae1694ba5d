import { z } from "zod";

/**
 * The console API's responses, one schema per endpoint. Only zod here: the server checks what it sends and the
 * browser checks what it receives with the same schemas, so neither trusts a shape the other did not promise.
 */

const Metrics = z.record(z.string(), z.number());

export const ApiError = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ApiError = z.infer<typeof ApiError>;

export const ModelList = z.object({
  models: z.array(
    z.object({
      name: z.string(),
      latestVersion: z.number().int(),
      updatedAt: z.string(),
      aliases: z.record(z.string(), z.number().int()),
      versions: z.array(
        z.object({ version: z.number().int(), createdAt: z.string(), aliases: z.array(z.string()), metrics: Metrics }),
      ),
    }),
  ),
});
export type ModelList = z.infer<typeof ModelList>;

const Rule = z.object({
  rule: z.string(),
  value: z.union([z.number(), z.string()]).nullable(),
  threshold: z.union([z.number(), z.string()]),
  passed: z.boolean(),
  detail: z.string(),
});

export const ModelDetail = z.object({
  name: z.string(),
  versions: z.array(
    z.object({
      version: z.number().int(),
      createdAt: z.string(),
      aliases: z.array(z.string()),
      metrics: Metrics,
      datasetId: z.string(),
      runId: z.string(),
      requestId: z.string(),
      modelDigest: z.string(),
      gitCommit: z.string().nullable(),
      image: z.string().nullable(),
    }),
  ),
  aliases: z.array(z.object({ alias: z.string(), version: z.number().int() })),
  decisions: z.array(
    z.object({
      id: z.string(),
      time: z.string(),
      version: z.number().int(),
      productionVersion: z.number().int().nullable(),
      outcome: z.string(),
      approval: z.string(),
      actor: z.string(),
      reason: z.string(),
      rules: z.array(Rule),
    }),
  ),
  audit: z.array(
    z.object({
      id: z.string(),
      time: z.string(),
      actor: z.string(),
      action: z.string(),
      outcome: z.string(),
      alias: z.string().nullable(),
      from: z.number().int().nullable(),
      to: z.number().int().nullable(),
      reason: z.string(),
    }),
  ),
});
export type ModelDetail = z.infer<typeof ModelDetail>;

export const LineageGraph = z.object({
  query: z.string(),
  found: z.enum(["prediction", "model", "run", "dataset"]),
  nodes: z.array(
    z.object({
      id: z.string(),
      kind: z.enum(["prediction", "model", "request", "drift", "run", "dataset", "commit", "image"]),
      about: z.object({ model: z.string(), version: z.number().int() }).optional(),
      label: z.string(),
      detail: z.string(),
    }),
  ),
  edges: z.array(z.object({ from: z.string(), to: z.string(), rel: z.string() })),
});
export type LineageGraph = z.infer<typeof LineageGraph>;

export const DriftHistory = z.object({
  model: z.string(),
  version: z.number().int(),
  /** Oldest first: the order of a time axis. */
  reports: z.array(
    z.object({
      reportId: z.string(),
      seq: z.number().int(),
      createdAt: z.string(),
      drift: z.boolean(),
      severity: z.number(),
      reason: z.string().nullable(),
      driftedTests: z.array(z.string()),
      window: z.object({ from: z.string(), to: z.string(), count: z.number().int() }),
      tests: z.array(
        z.object({
          name: z.string(),
          test: z.string(),
          statistic: z.number(),
          pValue: z.number().nullable(),
          threshold: z.number(),
          drifted: z.boolean(),
        }),
      ),
    }),
  ),
});
export type DriftHistory = z.infer<typeof DriftHistory>;
