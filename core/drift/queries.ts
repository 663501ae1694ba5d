import { z } from "zod";
import type { BlobStore } from "../blobs/blob-store.ts";
import { SightlineError } from "../errors.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { readReport, Reports, windowRecords, type DriftReport, type DriftReportRecord } from "./detect.ts";
import { parseProfile, type ReferenceProfile } from "./profile.ts";
import type { PredictionRecord, TestOutcome } from "./verdict.ts";

/**
 * Read models of drift reports for people (the console's drift pages, `sightline drift report`): each test's
 * strength on one scale, and one window's report with reference-versus-window histograms of what its tests compared.
 */

/** Bins of a report's histograms: the profile's own default, so a page shows the resolution the profile keeps. */
export const REPORT_HISTOGRAM_BINS = 20;

/**
 * A test's strength: how far it is past its own drift threshold, on one scale for every test, 1 at the threshold.
 * A distance test (drift when statistic ≥ threshold) gives statistic ÷ threshold; a p-value test (drift when
 * p < α) gives log p ÷ log α, so p = α is 1, p = α² is 2, and p = 1 is 0. A p-value of 0 (underflow) counts as the
 * smallest positive double, so the strength stays finite (it is JSON).
 */
export function testStrength(t: Pick<TestOutcome, "statistic" | "pValue" | "threshold">): number {
  if (t.pValue === null) return t.statistic / t.threshold;
  // max: p = 1 gives +0, not −0.
  return Math.max(0, Math.log(Math.max(t.pValue, Number.MIN_VALUE)) / Math.log(t.threshold));
}

/** What the strength of a test is, in words (a chart's axis, a table's header). */
export const STRENGTH_MEANING =
  "× drift threshold: statistic ÷ threshold for distances, log p ÷ log α for p-values; drift above 1";

export class DriftReportNotFoundError extends SightlineError {
  constructor(model: string, version: number, seq: number) {
    super(
      "not_found",
      "drift_report_not_found",
      `no drift report ${model}:${version}:${seq}: the windows of ${model}:${version} are listed on its drift page`,
    );
  }
}

/** Reference and window shares over the same bins. */
export interface NumericHistogram {
  kind: "numeric";
  /** The test it belongs to. */
  name: string;
  test: string;
  /** Bin edges, ascending: bins are [e_i, e_i+1), the last one closed; the same for both sides. */
  edges: number[];
  /** Share of each side's values in each bin (each sums to 1). */
  reference: number[];
  window: number[];
  referenceCount: number;
  windowCount: number;
  /** Total variation distance of the shares: how much of the mass differs between the sides, 0–1. */
  moved: number;
}

/** Predicted-class shares: the reference's over all its images, the window's over its predictions. */
export interface ClassHistogram {
  kind: "classes";
  name: string;
  test: string;
  classes: string[];
  reference: number[];
  window: number[];
  referenceCount: number;
  windowCount: number;
  /** Total variation distance of the shares: how much of the mass differs between the sides, 0–1. */
  moved: number;
}

export type ReportHistogram = NumericHistogram | ClassHistogram;

export interface WindowReportView {
  reportId: string;
  model: string;
  version: number;
  createdAt: string;
  profileDigest: string;
  window: DriftReport["window"];
  verdict: Omit<DriftReport["verdict"], "tests"> & { tests: (TestOutcome & { strength: number })[] };
  /** Every histogram, or why there are none (the profile or the window's records cannot be read). */
  histograms: { ok: true; items: ReportHistogram[]; notDrawn: { name: string; reason: string }[] } | HistogramError;
}

export interface HistogramError {
  ok: false;
  error: string;
}

/** One window's report, with its histograms; the report's own fields stand even when the histograms cannot. */
export async function windowReport(
  deps: { meta: MetadataStore; blobs: BlobStore },
  model: string,
  version: number,
  seq: number,
): Promise<WindowReportView> {
  const record: DriftReportRecord | undefined = await Reports.get(deps.meta, `${model}:${version}:${seq}`);
  if (!record || record.model !== model || record.version !== version)
    throw new DriftReportNotFoundError(model, version, seq);
  const report = await readReport(deps.blobs, record.digest);
  const { tests, ...verdict } = report.verdict;
  return {
    reportId: report.reportId,
    model: report.model,
    version: report.version,
    createdAt: report.createdAt,
    profileDigest: report.profileDigest,
    window: report.window,
    verdict: { ...verdict, tests: tests.map((t) => ({ ...t, strength: testStrength(t) })) },
    histograms: await histogramsOf(deps, report),
  };
}

async function histogramsOf(
  deps: { meta: MetadataStore; blobs: BlobStore },
  report: DriftReport,
): Promise<WindowReportView["histograms"]> {
  let profile: ReferenceProfile;
  try {
    profile = parseProfile(await deps.blobs.get(report.profileDigest));
  } catch (err) {
    return { ok: false, error: `the reference profile ${report.profileDigest} cannot be read: ${message(err)}` };
  }
  let records: PredictionRecord[];
  try {
    records = await windowRecords(deps, { ...report.window, model: report.model, version: report.version });
  } catch (err) {
    return { ok: false, error: `the window's predictions cannot be read: ${message(err)}` };
  }
  return reportHistograms(profile, records, report.verdict.tests);
}

/**
 * The histograms of what each test compared: a scalar test's reference sample (the profile's, which the test used)
 * and the window's values over shared equal-width bins spanning both; the class test's shares per class. Pure.
 */
export function reportHistograms(
  profile: ReferenceProfile,
  records: readonly PredictionRecord[],
  tests: readonly Pick<TestOutcome, "name" | "test">[],
  bins = REPORT_HISTOGRAM_BINS,
): { ok: true; items: ReportHistogram[]; notDrawn: { name: string; reason: string }[] } {
  const items: ReportHistogram[] = [];
  const notDrawn: { name: string; reason: string }[] = [];
  for (const t of tests) {
    if (t.name === "predicted_class") {
      items.push(classHistogram(t, profile, records));
      continue;
    }
    const reference = t.name === "confidence" ? profile.confidence.sample : profile.features[t.name]?.sample;
    if (!reference) {
      notDrawn.push({
        name: t.name,
        reason:
          t.name === "embedding"
            ? `a ${profile.embeddings?.dim ?? "many"}-dimensional embedding has no one histogram (the test is MMD over whole rows)`
            : "the reference profile has no sample of it",
      });
      continue;
    }
    const current = records
      .map((r) => (t.name === "confidence" ? r.confidence : r.features[t.name]))
      .filter((v): v is number => typeof v === "number" && Number.isFinite(v));
    const edges = sharedEdges(reference, current, bins);
    const [ref, cur] = [
      shares(binCounts(reference, edges), reference.length),
      shares(binCounts(current, edges), current.length),
    ];
    items.push({
      kind: "numeric",
      name: t.name,
      test: t.test,
      edges,
      reference: ref,
      window: cur,
      referenceCount: reference.length,
      windowCount: current.length,
      moved: totalVariation(ref, cur),
    });
  }
  return { ok: true, items, notDrawn };
}

function classHistogram(
  t: Pick<TestOutcome, "name" | "test">,
  profile: ReferenceProfile,
  records: readonly PredictionRecord[],
): ClassHistogram {
  // The profile's classes first, in its order; a label only the window predicts (another model's?) after them.
  const classes = [...profile.predictions.classes];
  for (const r of records) if (!classes.includes(r.label)) classes.push(r.label);
  const window = classes.map((c) => records.filter((r) => r.label === c).length);
  const reference = shares(
    classes.map((_, i) => profile.predictions.counts[i] ?? 0),
    profile.count,
  );
  const current = shares(window, records.length);
  return {
    kind: "classes",
    name: t.name,
    test: t.test,
    classes,
    reference,
    window: current,
    referenceCount: profile.count,
    windowCount: records.length,
    moved: totalVariation(reference, current),
  };
}

/** Equal-width edges over the range of both samples (numpy.histogram's, widened by ±0.5 when it is one value). */
export function sharedEdges(a: readonly number[], b: readonly number[], bins: number): number[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of [...a, ...b]) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const step = (hi - lo) / bins;
  return Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * step));
}

/** Counts in [e_i, e_i+1), the last bin closed (numpy.histogram); values outside the edges are not counted. */
export function binCounts(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length - 1).fill(0);
  const last = counts.length - 1;
  for (const v of values) {
    if (v < edges[0]! || v > edges[last + 1]!) continue;
    // Binary search for the last edge ≤ v.
    let lo = 0;
    let hi = last;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (edges[mid]! <= v) lo = mid;
      else hi = mid - 1;
    }
    counts[lo]! += 1;
  }
  return counts;
}

/** Half the L1 distance of two share vectors over the same bins: 0 the same, 1 disjoint. */
export const totalVariation = (a: readonly number[], b: readonly number[]): number =>
  a.reduce((sum, x, i) => sum + Math.abs(x - (b[i] ?? 0)), 0) / 2;

const shares = (counts: readonly number[], total: number): number[] => counts.map((c) => (total > 0 ? c / total : 0));

function message(err: unknown): string {
  if (err instanceof z.ZodError) return `not a valid profile: ${z.prettifyError(err)}`;
  if (err instanceof SyntaxError) return `not JSON: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
