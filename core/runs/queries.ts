import { SightlineError } from "../errors.ts";
import { Runs, type ParamValue, type RunRecord } from "../jobs/run-record.ts";
import {
  finalMetrics,
  RUN_SUMMARIES,
  RunSummaries,
  secondsOf,
  summaryOf,
  type StoredRunSummary,
} from "../jobs/run-summary.ts";
import type { JsonObject, MetadataStore, Where } from "../meta/metadata-store.ts";
import { ensureRunSummaries, writeSummaries } from "./backfill.ts";
import {
  matchesFilter,
  parseRunFilter,
  parseRunOrder,
  readField,
  type FilterSubject,
  type RunFilter,
  type RunOrder,
} from "./filter.ts";
import { withHeldOut } from "./held-out.ts";
import { shownStatus, type ShownStatus } from "./status.ts";

export { finalMetrics, HELD_OUT_PREFIX, trainerLabel } from "../jobs/run-summary.ts";

/*
 * The runs read model (experiment tracking), shared by the CLI and the console: one place decides what a run's
 * final metrics are and how runs are listed, filtered, paged and compared. Lists read the small per-run summaries
 * (core/jobs/run-summary.ts); `show` and compare read the full records.
 */

/** One row of a runs table: the record without its metric stream, with its final metrics and its shown status. */
export type RunSummary = Omit<StoredRunSummary, "status" | "updatedAt" | "heartbeatSeconds"> & {
  status: ShownStatus;
};

/** A run in full: its record and its final metrics (`status` as shown: `lost` when its writer went silent). */
export type RunDetail = Omit<RunRecord, "status"> & {
  status: ShownStatus;
  final: Record<string, number>;
  seconds?: number;
};

/** The row of a stored summary, its status as shown at `now`. */
function row(stored: StoredRunSummary, now: number): RunSummary {
  const out: RunSummary & Partial<Pick<StoredRunSummary, "updatedAt" | "heartbeatSeconds">> = {
    ...stored,
    status: shownStatus(stored, now),
  };
  delete out.updatedAt;
  delete out.heartbeatSeconds;
  return out;
}

/** A record's row (compare, and runs read by request). */
export function summarize(run: RunRecord, now: number = Date.now()): RunSummary {
  return row(summaryOf(run), now);
}

export interface ListRunsOptions {
  model?: string;
  /** The filter's text (parsed here) or a parsed filter. */
  filter?: string | RunFilter;
  /** Rows per page (default 50, at most 1000). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Sort by a field (`metrics.test_accuracy desc`) instead of newest first; runs without it come last. */
  orderBy?: string | RunOrder;
}

export interface RunsPage {
  runs: RunSummary[];
  /** Give it as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

export const DEFAULT_RUNS_LIMIT = 50;
export const MAX_RUNS_LIMIT = 1000;

/**
 * Runs newest first (by start time, then run id), filtered, one page at a time. The cursor is the position after
 * the page's last row, not an offset, so runs that start while someone pages do not shift the pages they read.
 * Without a filter the summaries are read newest first in growing batches (a page reads about one batch). A filter
 * can name any param, tag or final metric, which no store indexes for us, and a sort any of them too: then every
 * summary is read in one query, matched and ordered here as it came from the store, and only the rows of the page
 * are parsed (the schema check is most of the cost of reading 10,000 summaries). So the store needs no composite
 * index, and never reads a metric stream. `tuning.now` is the time statuses are shown at.
 */
export async function listRuns(
  meta: MetadataStore,
  options: ListRunsOptions = {},
  tuning: { batch?: number; now?: number } = {},
): Promise<RunsPage> {
  const limit = options.limit ?? DEFAULT_RUNS_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RUNS_LIMIT)
    throw new SightlineError(
      "invalid",
      "invalid_limit",
      `limit must be a whole number from 1 to ${MAX_RUNS_LIMIT}, not ${limit}`,
    );
  const filter = typeof options.filter === "string" ? parseRunFilter(options.filter) : options.filter;
  const order =
    options.orderBy === undefined
      ? undefined
      : typeof options.orderBy === "string"
        ? parseRunOrder(options.orderBy)
        : options.orderBy;
  const now = tuning.now ?? Date.now();
  await ensureRunSummaries(meta);
  if (order !== undefined) return sortedPage(meta, options, limit, filter, order, now);
  const after = options.cursor !== undefined ? decodeCursor(options.cursor) : undefined;
  if (filter !== undefined || options.model !== undefined) {
    const matched = (await scanAll(meta, options.model, filter, now)).filter(
      (r) => !after || newestFirst(r, after) > 0,
    );
    const runs = matched.slice(0, limit).map((r) => parsedRow(r, now));
    return { runs, ...(matched.length > limit ? { nextCursor: encodeCursor(runs.at(-1)!) } : {}) };
  }
  const runs: RunSummary[] = [];
  for await (const stored of newestFirstFrom(meta, after, tuning.batch ?? Math.max(200, 2 * limit))) {
    // One row past the page says there is a next page.
    if (runs.length === limit) return { runs, nextCursor: encodeCursor(runs.at(-1)!) };
    runs.push(row(stored, now));
  }
  return { runs };
}

/** A summary as the store returned it, unparsed, with what filters and orders read from it. */
interface Scanned {
  id: string;
  data: JsonObject;
  subject: FilterSubject;
  startedAt: string;
  runId: string;
}

/**
 * Every summary of `model` (all models when undefined) that matches `filter`, newest first. Matched on the raw
 * documents: only the rows a page shows are parsed (parsedRow), and a malformed one is reported then.
 */
async function scanAll(
  meta: MetadataStore,
  model: string | undefined,
  filter: RunFilter | undefined,
  now: number,
): Promise<Scanned[]> {
  const out: Scanned[] = [];
  for (const { id, data } of await meta.query(RUN_SUMMARIES, { where: storeEqualities(model, filter) })) {
    const subject = rawSubject(data, now);
    if (model !== undefined && subject.model !== model) continue;
    if (filter && !matchesFilter(filter, subject)) continue;
    out.push({ id, data, subject, startedAt: String(data.startedAt), runId: String(data.runId) });
  }
  return out.sort(newestFirst);
}

/** Summary fields a filter's `=` on text may be handed to the store as (the rest is matched here). */
const ATTRIBUTE_FIELDS = { model: "model", dataset: "datasetId", trainer: "trainer", request: "requestId" } as const;
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The comparisons the store can do for us, so that it returns only the summaries that may match: the model, and
 * each `=` on a text field (an attribute, or a tag whose key is a plain name). Only equalities: several of them on
 * different fields need no composite index on Firestore, and compare text exactly as matchesFilter does (params
 * are left out: `params.epochs = 3` also matches a param stored as "3"; so is status, whose `lost` is derived).
 * Every comparison is still checked here.
 */
function storeEqualities(model: string | undefined, filter: RunFilter | undefined): Where[] {
  const where: Where[] = model !== undefined ? [{ field: "model", op: "==", value: model }] : [];
  for (const c of filter?.and ?? []) {
    if (c.op !== "=" || typeof c.value !== "string") continue;
    if (c.field.scope === "tags" && PLAIN_KEY.test(c.field.key))
      where.push({ field: `tags.${c.field.key}`, op: "==", value: c.value });
    else if (c.field.scope === "attribute" && c.field.key !== "status")
      where.push({ field: ATTRIBUTE_FIELDS[c.field.key], op: "==", value: c.value });
  }
  return where;
}

const parsedRow = (r: Scanned, now: number): RunSummary => row(RunSummaries.parse(r.id, r.data), now);

/** What a filter reads from a raw summary; a field of the wrong type reads as absent (it matches nothing). */
function rawSubject(data: JsonObject, now: number): FilterSubject {
  const map = <V>(v: unknown): Record<string, V> =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, V>) : {};
  const text = (v: unknown): string => (typeof v === "string" ? v : "");
  const status = text(data.status) as RunRecord["status"];
  return {
    status: shownStatus(
      {
        status,
        ...(typeof data.updatedAt === "string" ? { updatedAt: data.updatedAt } : {}),
        ...(typeof data.heartbeatSeconds === "number" ? { heartbeatSeconds: data.heartbeatSeconds } : {}),
      },
      now,
    ),
    model: text(data.model),
    datasetId: text(data.datasetId),
    requestId: text(data.requestId),
    trainer: text(data.trainer),
    metrics: map(data.metrics),
    params: map(data.params),
    tags: map(data.tags),
  };
}

/**
 * A page in another order than newest first: every matching run is read and sorted (a sort can name any param,
 * tag or metric), ties newest first; the cursor is an offset into that order.
 */
async function sortedPage(
  meta: MetadataStore,
  options: ListRunsOptions,
  limit: number,
  filter: RunFilter | undefined,
  order: RunOrder,
  now: number,
): Promise<RunsPage> {
  const offset = options.cursor !== undefined ? decodeOffset(options.cursor) : 0;
  const all = (await scanAll(meta, options.model, filter, now)).map((r) => ({
    r,
    v: readField(r.subject, order.field),
  }));
  const sign = order.direction === "desc" ? -1 : 1;
  // Array.prototype.sort is stable: equal values keep the newest-first order they were read in.
  all.sort((a, b) => {
    const missingA = a.v === undefined || a.v === null;
    const missingB = b.v === undefined || b.v === null;
    if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
    if (typeof a.v === "number" && typeof b.v === "number") return sign * (a.v - b.v);
    const x = String(a.v);
    const y = String(b.v);
    return x === y ? 0 : sign * (x < y ? -1 : 1);
  });
  const runs = all.slice(offset, offset + limit).map(({ r }) => parsedRow(r, now));
  return { runs, ...(offset + limit < all.length ? { nextCursor: encodeOffset(offset + limit) } : {}) };
}

function encodeOffset(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString("base64url");
}

function decodeOffset(cursor: string): number {
  try {
    const { offset } = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { offset?: unknown };
    if (typeof offset === "number" && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // Reported below.
  }
  throw new SightlineError(
    "invalid",
    "invalid_cursor",
    `${JSON.stringify(cursor)} is not a cursor from a previous page of this order`,
  );
}

/** Every run's summary after `after` (all when undefined), newest first, read in batches of growing size. */
async function* newestFirstFrom(
  meta: MetadataStore,
  after: Position | undefined,
  firstBatch: number,
): AsyncGenerator<StoredRunSummary> {
  let bound = after?.startedAt;
  let size = firstBatch;
  for (;;) {
    const docs = await RunSummaries.query(meta, {
      ...(bound !== undefined ? { where: [{ field: "startedAt", op: "<=", value: bound }] } : {}),
      orderBy: { field: "startedAt", direction: "desc" },
      limit: size,
    });
    const batch = docs.map((d) => d.data);
    const last = batch.length === size;
    // A full batch may end inside a group of runs that started at the same instant: that group is read whole by
    // the next batch (at or before its start), so the tie order (run id) holds across batches.
    const edge = last ? batch.at(-1)!.startedAt : undefined;
    const rows = edge === undefined ? batch : batch.filter((r) => r.startedAt !== edge);
    for (const r of rows.sort(newestFirst)) if (!after || newestFirst(r, after) > 0) yield r;
    if (!last) return;
    if (rows.length > 0) bound = edge;
    size = Math.min(size * 2, MAX_BATCH);
    if (rows.length === 0 && size === MAX_BATCH && batch.length === MAX_BATCH)
      throw new SightlineError("unavailable", "runs_tie_too_large", `more than ${MAX_BATCH} runs started at ${edge}`);
  }
}

/** The largest batch read at once (summaries are small: a few hundred bytes to a few kB each). */
const MAX_BATCH = 5000;

type Position = Pick<StoredRunSummary, "startedAt" | "runId">;

function newestFirst(a: Position, b: Position): number {
  if (a.startedAt !== b.startedAt) return a.startedAt < b.startedAt ? 1 : -1;
  return a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0;
}

function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([p.startedAt, p.runId])).toString("base64url");
}

function decodeCursor(cursor: string): Position {
  try {
    const [startedAt, runId] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown[];
    if (typeof startedAt === "string" && typeof runId === "string") return { startedAt, runId };
  } catch {
    // Reported below, as any other malformed cursor.
  }
  throw new SightlineError(
    "invalid",
    "invalid_cursor",
    `${JSON.stringify(cursor)} is not a cursor from a previous page`,
  );
}

/** One run in full; not_found when no run has this id. */
export async function getRun(meta: MetadataStore, runId: string, now: number = Date.now()): Promise<RunDetail> {
  const run = await readRun(meta, runId);
  const seconds = secondsOf(run);
  return {
    ...run,
    status: shownStatus(run, now),
    final: finalMetrics(run),
    ...(seconds !== undefined ? { seconds } : {}),
  };
}

/**
 * The record with its held-out metrics. A record whose summary is missing or stale (written by a writer that did
 * not write summaries, after the backfill) gets it here, so the next list shows it; that repair is best effort.
 */
async function readRun(meta: MetadataStore, runId: string): Promise<RunRecord> {
  const [stored, summary] = await Promise.all([Runs.get(meta, runId), RunSummaries.get(meta, runId)]);
  if (!stored) throw new SightlineError("not_found", "run_not_found", `no run ${runId} (see \`sightline runs list\`)`);
  const run = (await withHeldOut(meta, [stored]))[0]!;
  if (summary === undefined || summary.updatedAt !== run.updatedAt)
    await writeSummaries(meta, [run]).catch(() => undefined);
  return run;
}

/** The runs that answered one training request, newest first (a retried Job can run twice); read by the store's index. */
export async function runsForRequest(
  meta: MetadataStore,
  requestId: string,
  now: number = Date.now(),
): Promise<RunSummary[]> {
  await ensureRunSummaries(meta);
  const docs = await RunSummaries.query(meta, { where: [{ field: "requestId", op: "==", value: requestId }] });
  return docs
    .map((d) => d.data)
    .sort(newestFirst)
    .map((s) => row(s, now));
}

/** One key across the compared runs: each run's value by run id (null where the run has none). */
export interface ComparedKey<V> {
  key: string;
  values: Record<string, V | null>;
}

export interface RunComparison {
  runs: RunSummary[];
  /** Params whose values differ between the runs (a param only some runs have differs). */
  params: ComparedKey<ParamValue>[];
  /** Tags that differ, as params. */
  tags: ComparedKey<string>[];
  /** Every final metric any of the runs has, side by side. */
  metrics: ComparedKey<number>[];
}

/** Compares two or more runs: the params (and tags) that differ, and the final metrics side by side. */
export async function compareRuns(meta: MetadataStore, runIds: string[]): Promise<RunComparison> {
  if (runIds.length < 2) throw new SightlineError("invalid", "compare_needs_two", "compare at least two runs");
  const repeated = runIds.find((id, i) => runIds.indexOf(id) !== i);
  if (repeated) throw new SightlineError("invalid", "compare_repeated_run", `run ${repeated} is given twice`);
  const runs = (await Promise.all(runIds.map((id) => readRun(meta, id)))).map((r) => summarize(r));
  const side = <V>(pick: (r: RunSummary) => Record<string, V>, onlyDiffering: boolean): ComparedKey<V>[] => {
    const keys = [...new Set(runs.flatMap((r) => Object.keys(pick(r))))].sort();
    return keys.flatMap((key) => {
      const values = Object.fromEntries(runs.map((r) => [r.runId, key in pick(r) ? pick(r)[key]! : null])) as Record<
        string,
        V | null
      >;
      const distinct = new Set(Object.values(values).map((v) => JSON.stringify(v)));
      return onlyDiffering && distinct.size < 2 ? [] : [{ key, values }];
    });
  };
  return {
    runs,
    params: side((r) => r.params, true),
    tags: side((r) => r.tags, true),
    metrics: side((r) => r.metrics, false),
  };
}
