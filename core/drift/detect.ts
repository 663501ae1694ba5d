import { z } from "zod";
import type { BlobStore } from "../blobs/blob-store.ts";
import { makeEvent, type CloudEvent } from "../events/envelope.ts";
import type { EventBus } from "../events/event-bus.ts";
import { PredictionRecord as PredictionRecordSchema } from "../events/schemas.ts";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { getVersion } from "../registry/model-version.ts";
import type { DriftMetricsSink } from "../telemetry/drift-metrics.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { DriftPolicy } from "./drift-policy.ts";
import { parseProfile } from "./profile.ts";
import { judgeWindow, type DriftVerdict, type PredictionRecord } from "./verdict.ts";
import {
  addSegment,
  closedWindows,
  closeDueWindows,
  markReported,
  Segments,
  type Segment,
  type Window,
} from "./windows.ts";

export const REPORTS = "drift_reports";
export const REPORT_SCHEMA = "sightline.drift-report/v1";

export interface DriftDeps {
  blobs: BlobStore;
  meta: MetadataStore;
  bus: EventBus;
  log: Logger;
  policy: DriftPolicy;
  /** Dashboard metrics (Cloud Monitoring on Google Cloud, a log line locally). */
  metrics?: DriftMetricsSink;
  now?: () => Date;
}

/** A drift report's summary, in metadata (`drift_reports/{reportId}`); the whole report is the blob `digest`. */
export type DriftReportRecord = {
  reportId: string;
  model: string;
  version: number;
  seq: number;
  drift: boolean;
  severity: number;
  reason: DriftVerdict["reason"];
  driftedTests: string[];
  window: { from: string; to: string; count: number };
  digest: string;
  profileDigest: string;
  createdAt: string;
};

const DriftReportRecordSchema: z.ZodType<DriftReportRecord> = z.looseObject({
  reportId: z.string(),
  model: z.string(),
  version: z.number().int(),
  seq: z.number().int(),
  drift: z.boolean(),
  severity: z.number(),
  reason: z.enum(["share", "bonferroni"]).nullable(),
  driftedTests: z.array(z.string()),
  window: z.looseObject({ from: z.string(), to: z.string(), count: z.number().int() }),
  digest: z.string(),
  profileDigest: z.string(),
  createdAt: z.string(),
});

/** Report summaries keyed `model:version:seq`, like their windows. */
export const Reports = defineCollection({ name: REPORTS, schema: DriftReportRecordSchema });

/** The stored report: everything a person or a dashboard needs to see why a window drifted or did not. */
export interface DriftReport {
  schema: typeof REPORT_SCHEMA;
  reportId: string;
  model: string;
  version: number;
  profileDigest: string;
  window: { seq: number; from: string; to: string; count: number; embeddings: number; segments: string[] };
  policy: DriftPolicy;
  verdict: DriftVerdict;
  createdAt: string;
}

const SegmentBlob = z.object({ records: z.array(PredictionRecordSchema) });

/**
 * The drift function's work for one `predictions.logged` event: store its records as a segment, add it to the
 * model version's open window, and when that window is due, judge it against the version's reference profile,
 * store the report, publish `drift.reported` and write dashboard metrics. Idempotent under redelivery: a segment
 * joins one window once, a window gets one report (its id is the window's), and the event id is the report's.
 */
export async function onPredictionsLogged(
  deps: DriftDeps,
  event: CloudEvent<"sightline.predictions.logged">,
): Promise<DriftReportRecord | undefined> {
  const { model, version, records } = event.data;
  const times = records.map((r) => r.time).sort();
  const { digest } = await deps.blobs.put(Buffer.from(JSON.stringify({ records })));
  const segment: Omit<Segment, "seq"> = {
    eventId: event.id,
    model,
    version,
    count: records.length,
    from: times[0]!,
    to: times.at(-1)!,
    digest,
  };
  const closed = await addSegment(deps.meta, segment, deps.policy.window, (deps.now ?? (() => new Date()))());
  return closed ? reportWindow(deps, closed) : undefined;
}

export interface DueWindows {
  reports: DriftReportRecord[];
  /** Windows that could not be judged this time (they stay closed and unreported, so the next check retries). */
  failed: { window: string; error: string }[];
}

/**
 * Closes windows that are due by age and reports every closed window still without a report (periodic check).
 * One window that cannot be judged (a missing segment, a corrupt profile) is logged and counted, and the others
 * are still judged.
 */
export async function reportDueWindows(deps: DriftDeps): Promise<DueWindows> {
  await closeDueWindows(deps.meta, deps.policy.window, (deps.now ?? (() => new Date()))());
  const result: DueWindows = { reports: [], failed: [] };
  for (const w of await closedWindows(deps.meta)) {
    const window = `${w.model}:${w.version}:${w.seq}`;
    try {
      const r = await reportWindow(deps, w);
      if (r) result.reports.push(r);
    } catch (err) {
      result.failed.push({ window, error: (err as Error).message });
      deps.log.error("cannot judge a drift window; the others go on", {
        window,
        err,
        failedSoFar: result.failed.length,
      });
    }
  }
  return result;
}

export async function reportWindow(deps: DriftDeps, w: Window): Promise<DriftReportRecord | undefined> {
  const reportId = `${w.model}:${w.version}:${w.seq}`;
  let record = await Reports.get(deps.meta, reportId);
  if (!record) {
    const version = await getVersion(deps.meta, w.model, w.version);
    if (!version.profileDigest) {
      deps.log.warn("no reference profile for this model version; window not judged", {
        model: w.model,
        version: w.version,
        seq: w.seq,
      });
      await markReported(deps.meta, w, "");
      return undefined;
    }
    const profile = parseProfile(await deps.blobs.get(version.profileDigest));
    const records = await windowRecords(deps, w);
    const policy = deps.policy;
    // The window's number seeds the MMD permutations: the same window always gets the same p-value.
    const verdict = judgeWindow(profile, records, {
      ...policy.detection,
      embedding: { ...policy.detection.embedding, seed: w.seq },
    });
    const window = {
      seq: w.seq,
      from: w.from!,
      to: w.to!,
      count: records.length,
      embeddings: records.filter((r) => r.embedding).length,
      segments: w.segments,
    };
    const createdAt = (deps.now ?? (() => new Date()))().toISOString();
    const report: DriftReport = {
      schema: REPORT_SCHEMA,
      reportId,
      model: w.model,
      version: w.version,
      profileDigest: version.profileDigest,
      window,
      policy,
      verdict,
      createdAt,
    };
    const { digest } = await deps.blobs.put(Buffer.from(JSON.stringify(report)));
    const candidate: DriftReportRecord = {
      reportId,
      model: w.model,
      version: w.version,
      seq: w.seq,
      drift: verdict.drift,
      severity: verdict.severity,
      reason: verdict.reason,
      driftedTests: verdict.driftedTests,
      window: { from: window.from, to: window.to, count: window.count },
      digest,
      profileDigest: version.profileDigest,
      createdAt,
    };
    // Two deliveries judging the same window at once: the first report stored is the report.
    if (await Reports.create(deps.meta, reportId, candidate)) {
      record = candidate;
      await writeMetrics(deps, verdict, candidate);
    } else {
      record = (await Reports.get(deps.meta, reportId))!;
    }
  }
  await deps.bus.publish(
    makeEvent(
      "sightline.drift.reported",
      {
        model: record.model,
        version: record.version,
        reportId,
        reportDigest: record.digest,
        drift: record.drift,
        severity: record.severity,
        driftedFeatures: record.driftedTests,
        window: record.window,
      },
      { id: `drift.reported:${reportId}`, subject: `${record.model}:${record.version}` },
    ),
  );
  await markReported(deps.meta, w, reportId);
  deps.log.info(record.drift ? "drift detected" : "no drift", {
    reportId,
    severity: record.severity,
    drifted: record.driftedTests,
    count: record.window.count,
  });
  return record;
}

/** The prediction records of a window, from its segments (the drift function's input, and the report page's). */
export async function windowRecords(
  deps: Pick<DriftDeps, "meta" | "blobs">,
  w: Pick<Window, "model" | "version" | "seq" | "segments">,
): Promise<PredictionRecord[]> {
  const records: PredictionRecord[] = [];
  for (const id of w.segments) {
    const segment = await Segments.get(deps.meta, id);
    if (!segment)
      throw new Error(`drift window ${w.model}:${w.version}:${w.seq} names segment ${id}, which is not recorded`);
    const parsed = SegmentBlob.safeParse(JSON.parse((await deps.blobs.get(segment.digest)).toString("utf8")));
    if (!parsed.success)
      throw new Error(
        `segment ${id} (${segment.digest}) is not a list of prediction records: ${z.prettifyError(parsed.error)}`,
      );
    records.push(...parsed.data.records);
  }
  return records;
}

// Metrics describe a report once; a failed write is logged, not retried: Cloud Monitoring refuses a point that is
// not newer than the series' last one, so a redelivery could never succeed anyway.
async function writeMetrics(deps: DriftDeps, verdict: DriftVerdict, record: DriftReportRecord): Promise<void> {
  if (!deps.metrics) return;
  try {
    await deps.metrics.write({
      model: record.model,
      version: record.version,
      endTime: new Date(record.window.to),
      score: record.severity,
      // One direction for every test on a dashboard: higher is more drift (1 − p for p-value tests).
      features: Object.fromEntries(verdict.tests.map((t) => [t.name, t.pValue === null ? t.statistic : 1 - t.pValue])),
      windowSize: record.window.count,
      drifted: record.drift,
    });
  } catch (err) {
    deps.log.error("writing drift metrics failed", { reportId: record.reportId, err });
  }
}

/** Reports of a model (optionally one version), newest first. */
export async function listReports(meta: MetadataStore, model: string, version?: number): Promise<DriftReportRecord[]> {
  const docs = await Reports.query(meta, { where: [{ field: "model", op: "==", value: model }] });
  return docs
    .map((d) => d.data)
    .filter((r) => version === undefined || r.version === version)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.seq - a.seq);
}

export async function readReport(blobs: BlobStore, digest: string): Promise<DriftReport> {
  return JSON.parse((await blobs.get(digest)).toString("utf8")) as DriftReport;
}
