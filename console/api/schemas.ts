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

export const GateRule = z.object({
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
      rules: z.array(GateRule),
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

const GateDecision = z.object({
  id: z.string(),
  time: z.string(),
  version: z.number().int(),
  productionVersion: z.number().int().nullable(),
  outcome: z.string(),
  approval: z.string(),
  actor: z.string(),
  reason: z.string(),
  rules: z.array(GateRule),
});

const AuditRow = z.object({
  id: z.string(),
  time: z.string(),
  actor: z.string(),
  action: z.string(),
  outcome: z.string(),
  alias: z.string().nullable(),
  from: z.number().int().nullable(),
  to: z.number().int().nullable(),
  reason: z.string(),
});

/** Why each version exists (core's modelProvenance): drift report → retrain request → run → gate decision. */
export const ModelProvenance = z.object({
  model: z.string(),
  versions: z.array(
    z.object({
      model: z.string(),
      version: z.number().int(),
      requestId: z.string(),
      trigger: z.string().nullable(),
      drift: z
        .object({
          reportId: z.string(),
          version: z.number().int(),
          seq: z.number().int(),
          drift: z.boolean(),
          severity: z.number(),
          driftedTests: z.array(z.string()),
          window: z.object({ from: z.string(), to: z.string(), count: z.number().int() }),
          createdAt: z.string(),
        })
        .nullable(),
      retrain: z
        .object({
          reportId: z.string(),
          outcome: z.string(),
          time: z.string(),
          requestId: z.string().optional(),
          job: z.string().optional(),
          datasetId: z.string().optional(),
        })
        .nullable(),
      run: z
        .object({
          runId: z.string(),
          status: z.string(),
          startedAt: z.string(),
          finishedAt: z.string().optional(),
          datasetId: z.string(),
        })
        .nullable(),
      gate: GateDecision.nullable(),
      decisions: z.array(GateDecision),
      audit: z.array(AuditRow),
    }),
  ),
});
export type ModelProvenance = z.infer<typeof ModelProvenance>;

export const LineageGraph = z.object({
  query: z.string(),
  found: z.enum(["prediction", "model", "run", "dataset"]),
  nodes: z.array(
    z.object({
      id: z.string(),
      kind: z.enum(["prediction", "model", "request", "drift", "run", "dataset", "commit", "image"]),
      about: z.object({ model: z.string(), version: z.number().int(), seq: z.number().int().optional() }).optional(),
      label: z.string(),
      detail: z.string(),
    }),
  ),
  edges: z.array(z.object({ from: z.string(), to: z.string(), rel: z.string() })),
});
export type LineageGraph = z.infer<typeof LineageGraph>;

/** `sightline lineage verify`'s result: each digest recomputed from the stored bytes against what lineage claims. */
export const VerifyResult = z.object({
  model: z.string(),
  datasetId: z.string(),
  ok: z.boolean(),
  checks: z.array(
    z.object({
      check: z.string(),
      subject: z.string(),
      expected: z.string(),
      actual: z.string(),
      ok: z.boolean(),
      detail: z.string().optional(),
    }),
  ),
});
export type VerifyResult = z.infer<typeof VerifyResult>;

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
          /** × the test's drift threshold (core/drift/queries.ts testStrength): drift above 1. */
          strength: z.number(),
        }),
      ),
    }),
  ),
});
export type DriftHistory = z.infer<typeof DriftHistory>;

const DriftTest = z.object({
  name: z.string(),
  test: z.string(),
  statistic: z.number(),
  pValue: z.number().nullable(),
  threshold: z.number(),
  drifted: z.boolean(),
  strength: z.number(),
  referenceSize: z.number().int(),
  currentSize: z.number().int(),
});

const Shares = { reference: z.array(z.number()), window: z.array(z.number()) };
const Sizes = {
  referenceCount: z.number().int(),
  windowCount: z.number().int(),
  /** Total variation distance of the shares (how much of the mass differs), 0–1. */
  moved: z.number(),
};

/** One window's drift report, with reference-versus-window histograms of what its tests compared. */
export const DriftWindowReport = z.object({
  reportId: z.string(),
  model: z.string(),
  version: z.number().int(),
  createdAt: z.string(),
  profileDigest: z.string(),
  window: z.object({
    seq: z.number().int(),
    from: z.string(),
    to: z.string(),
    count: z.number().int(),
    embeddings: z.number().int(),
    segments: z.array(z.string()),
  }),
  verdict: z.object({
    drift: z.boolean(),
    severity: z.number(),
    reason: z.string().nullable(),
    threshold: z.number(),
    driftedTests: z.array(z.string()),
    skipped: z.array(z.object({ name: z.string(), reason: z.string() })),
    tests: z.array(DriftTest),
  }),
  /** The histograms, or why there are none (the profile or the window's predictions cannot be read). */
  histograms: z.discriminatedUnion("ok", [
    z.object({
      ok: z.literal(true),
      items: z.array(
        z.discriminatedUnion("kind", [
          z.object({
            kind: z.literal("numeric"),
            name: z.string(),
            test: z.string(),
            edges: z.array(z.number()),
            ...Shares,
            ...Sizes,
          }),
          z.object({
            kind: z.literal("classes"),
            name: z.string(),
            test: z.string(),
            classes: z.array(z.string()),
            ...Shares,
            ...Sizes,
          }),
        ]),
      ),
      notDrawn: z.array(z.object({ name: z.string(), reason: z.string() })),
    }),
    z.object({ ok: z.literal(false), error: z.string() }),
  ]),
});
export type DriftWindowReport = z.infer<typeof DriftWindowReport>;

const Param = z.union([z.string(), z.number(), z.boolean(), z.null()]);
// `killed`: its process ended by a signal; `lost`: running, but not heard from for long (core/runs/status.ts).
const RunStatus = z.enum(["running", "succeeded", "failed", "killed", "lost"]);

const RunRow = z.object({
  runId: z.string(),
  requestId: z.string(),
  model: z.string(),
  datasetId: z.string(),
  trainer: z.string(),
  status: RunStatus,
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  seconds: z.number().optional(),
  version: z.number().int().optional(),
  reason: z.string().optional(),
  params: z.record(z.string(), Param),
  tags: z.record(z.string(), z.string()),
  metrics: Metrics,
  imagesPerSecond: z.number().optional(),
});

export const RunsPage = z.object({ runs: z.array(RunRow), nextCursor: z.string().optional() });
export type RunsPage = z.infer<typeof RunsPage>;

const Confusion = z.object({ classes: z.array(z.string()), matrix: z.array(z.array(z.number().int())) });

export const RunDetail = z.object({
  run: RunRow.extend({
    /** The metric stream as the trainer wrote it, one line per epoch or step. */
    stream: z.array(Metrics),
    phases: z.record(z.string(), z.number()),
    artefacts: z.array(z.object({ kind: z.string(), digest: z.string(), pointer: z.string().optional() })),
    progress: z
      .object({ epoch: z.number().int(), epochs: z.number().int(), batch: z.number().int(), batches: z.number().int() })
      .optional(),
    updatedAt: z.string().optional(),
  }),
  confusion: Confusion.nullable(),
});
export type RunDetail = z.infer<typeof RunDetail>;

const Compared = <V extends z.ZodType>(value: V) =>
  z.array(z.object({ key: z.string(), values: z.record(z.string(), value.nullable()) }));

export const RunComparison = z.object({
  runs: z.array(RunRow),
  params: Compared(Param),
  tags: Compared(z.string()),
  metrics: Compared(z.number()),
  /** Each run's metric stream, by run id (per-epoch curves). */
  streams: z.record(z.string(), z.array(Metrics)),
  /** Each run's confusion matrix on the held-out split, by run id (null: it registered nothing). */
  confusion: z.record(z.string(), Confusion.nullable()),
});
export type RunComparison = z.infer<typeof RunComparison>;

const DatasetRow = z.object({
  id: z.string(),
  name: z.string().nullable(),
  classes: z.array(z.string()),
  files: z.number().int(),
  bytes: z.number(),
  splits: z.record(z.string(), z.number().int()),
  source: z.string(),
  createdAt: z.string(),
  validation: z.enum(["passed", "failed", "skipped"]),
});

export const DatasetList = z.object({ datasets: z.array(DatasetRow) });
export type DatasetList = z.infer<typeof DatasetList>;

export const DatasetDetail = z.object({
  dataset: DatasetRow,
  /** Files per class and split, from the manifest. */
  balance: z.array(z.object({ class: z.string(), splits: z.record(z.string(), z.number().int()) })),
  validation: z
    .object({
      ok: z.boolean(),
      rules: z.array(z.object({ rule: z.string(), ok: z.boolean(), detail: z.string(), violations: z.number().int() })),
    })
    .nullable(),
});
export type DatasetDetail = z.infer<typeof DatasetDetail>;

export const Thumbnails = z.object({
  class: z.string(),
  /** How many files the class has; only the first few are shown. */
  total: z.number().int(),
  images: z.array(z.object({ path: z.string(), url: z.string() })),
});
export type Thumbnails = z.infer<typeof Thumbnails>;

export const DatasetDiff = z.object({
  a: z.string(),
  b: z.string(),
  classes: z.array(
    z.object({
      class: z.string(),
      added: z.number().int(),
      removed: z.number().int(),
      changed: z.number().int(),
      /** A few of the paths, for a person to check. */
      examples: z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) }),
    }),
  ),
  totals: z.object({ added: z.number().int(), removed: z.number().int(), changed: z.number().int() }),
});
export type DatasetDiff = z.infer<typeof DatasetDiff>;

const JobRow = z.object({
  name: z.string(),
  requestId: z.string(),
  model: z.string(),
  datasetId: z.string(),
  state: z.enum(["pending", "running", "succeeded", "failed"]),
  reason: z.string().optional(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  exitCode: z.number().int().nullable().optional(),
  message: z.string().optional(),
});

export const JobList = z.object({ jobs: z.array(JobRow) });
export type JobList = z.infer<typeof JobList>;

export const JobDetail = z.object({
  job: JobRow,
  /** The end of its log, oldest line first; `truncated` when the log holds more. */
  log: z.object({
    lines: z.array(z.string()),
    truncated: z.boolean(),
    missing: z.boolean(),
    /** Which of the job's logs this is when it has several (on GKE, the pod's container). */
    source: z.string().optional(),
  }),
});
export type JobDetail = z.infer<typeof JobDetail>;
