import { SightlineError } from "../errors.ts";
import { Runs, type ParamValue, type RunRecord } from "../jobs/run-record.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";
import { getVersion } from "../registry/model-version.ts";
import {
  matchesFilter,
  parseRunFilter,
  parseRunOrder,
  readField,
  type FilterSubject,
  type RunFilter,
  type RunOrder,
} from "./filter.ts";

/*
 * The runs read model (experiment tracking), shared by the CLI and the console: one place decides what a run's
 * final metrics are and how runs are listed, filtered, paged and compared.
 */

/** The prefix of the registered version's held-out metrics among a run's final metrics. */
export const HELD_OUT_PREFIX = "test_";
/** Stream keys that say when or where a line is, not how good the model is. */
const NOT_METRICS = new Set(["timestamp"]);

/**
 * A run's final metrics: the last value of each key in its metric stream (so `epoch` is the last epoch reached),
 * then the registered version's held-out metrics as `test_KEY` (`test_accuracy`, `test_macro_f1`). The held-out
 * numbers are the platform's own evaluation on the test split, so they replace a trainer's self-reported
 * `test_*` of the same name (which stays in the stream, in `runs show`).
 */
export function finalMetrics(run: Pick<RunRecord, "metrics" | "heldOut">): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of run.metrics) for (const [k, v] of Object.entries(line)) if (!NOT_METRICS.has(k)) out[k] = v;
  for (const [k, v] of Object.entries(run.heldOut ?? {})) out[`${HELD_OUT_PREFIX}${k}`] = v;
  return out;
}

/** One row of a runs table: the record without its metric stream, with its final metrics. */
export interface RunSummary {
  runId: string;
  requestId: string;
  model: string;
  datasetId: string;
  /** `builtin`, or the contract trainer's name (else `command` / `image`). */
  trainer: string;
  status: RunRecord["status"];
  startedAt: string;
  finishedAt?: string;
  /** Wall-clock seconds from start to finish (to now while running is left to the reader: absent). */
  seconds?: number;
  version?: number;
  reason?: string;
  params: Record<string, ParamValue>;
  tags: Record<string, string>;
  metrics: Record<string, number>;
  imagesPerSecond?: number;
}

/** A run in full: its record and its final metrics. */
export type RunDetail = RunRecord & { final: Record<string, number>; seconds?: number };

export function trainerLabel(run: Pick<RunRecord, "trainer">): string {
  return run.trainer.kind === "builtin" ? "builtin" : (run.trainer.name ?? run.trainer.kind);
}

function secondsOf(run: Pick<RunRecord, "startedAt" | "finishedAt">): number | undefined {
  if (!run.finishedAt) return undefined;
  const s = (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000;
  return Number.isFinite(s) ? s : undefined;
}

export function summarize(run: RunRecord): RunSummary {
  const seconds = secondsOf(run);
  return {
    runId: run.runId,
    requestId: run.requestId,
    model: run.model,
    datasetId: run.datasetId,
    trainer: trainerLabel(run),
    status: run.status,
    startedAt: run.startedAt,
    ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
    ...(seconds !== undefined ? { seconds } : {}),
    ...(run.version !== undefined ? { version: run.version } : {}),
    ...(run.reason ? { reason: run.reason } : {}),
    params: run.params ?? {},
    tags: run.tags ?? {},
    metrics: finalMetrics(run),
    ...(run.imagesPerSecond !== undefined ? { imagesPerSecond: run.imagesPerSecond } : {}),
  };
}

const subject = (s: RunSummary): FilterSubject => s;

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
 * The store is read newest first in growing batches and each batch filtered here: metrics are a stream inside each
 * record, which neither store can index, and the model is matched here too, so the store needs no composite index
 * (one ordered field, one range on it). A first page reads one batch; a selective filter reads further.
 */
export async function listRuns(
  meta: MetadataStore,
  options: ListRunsOptions = {},
  tuning: { batch?: number } = {},
): Promise<RunsPage> {
  const limit = options.limit ?? DEFAULT_RUNS_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RUNS_LIMIT)
    throw new SightlineError(
      "invalid",
      "invalid_limit",
      `limit must be a whole number from 1 to ${MAX_RUNS_LIMIT}, not ${limit}`,
    );
  const filter = typeof options.filter === "string" ? parseRunFilter(options.filter) : options.filter;
  if (options.orderBy !== undefined) return sortedPage(meta, options, limit, filter);
  const after = options.cursor !== undefined ? decodeCursor(options.cursor) : undefined;
  const runs: RunSummary[] = [];
  for await (const run of newestFirstFrom(meta, after, tuning.batch ?? Math.max(100, 2 * limit))) {
    if (options.model !== undefined && run.model !== options.model) continue;
    const s = summarize(run);
    if (filter && !matchesFilter(filter, subject(s))) continue;
    // One row past the page says there is a next page.
    if (runs.length === limit) return { runs, nextCursor: encodeCursor(runs.at(-1)!) };
    runs.push(s);
  }
  return { runs };
}

/**
 * A page in another order than newest first: every matching run is read and sorted (no store can order by a key
 * inside the metric stream), ties newest first; the cursor is an offset into that order.
 */
async function sortedPage(
  meta: MetadataStore,
  options: ListRunsOptions,
  limit: number,
  filter: RunFilter | undefined,
): Promise<RunsPage> {
  const order = typeof options.orderBy === "string" ? parseRunOrder(options.orderBy) : options.orderBy!;
  const offset = options.cursor !== undefined ? decodeOffset(options.cursor) : 0;
  const all: { s: RunSummary; v: string | number | boolean | null | undefined }[] = [];
  for await (const run of newestFirstFrom(meta, undefined, MAX_BATCH)) {
    if (options.model !== undefined && run.model !== options.model) continue;
    const s = summarize(run);
    if (!filter || matchesFilter(filter, subject(s))) all.push({ s, v: readField(subject(s), order.field) });
  }
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
  const runs = all.slice(offset, offset + limit).map((r) => r.s);
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

/** Every run after `after` (all when undefined), newest first, read from the store in batches of growing size. */
async function* newestFirstFrom(
  meta: MetadataStore,
  after: Position | undefined,
  firstBatch: number,
): AsyncGenerator<RunRecord> {
  let bound = after?.startedAt;
  let size = firstBatch;
  for (;;) {
    const docs = await Runs.query(meta, {
      ...(bound !== undefined ? { where: [{ field: "startedAt", op: "<=", value: bound }] } : {}),
      orderBy: { field: "startedAt", direction: "desc" },
      limit: size,
    });
    const batch = await withHeldOut(
      meta,
      docs.map((d) => d.data),
    );
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

/** The largest batch read at once (the record holds its metric stream, so a batch is not small). */
const MAX_BATCH = 2000;

/**
 * Runs recorded before records held their version's metrics: read from the registered version (a version that is
 * gone leaves the run without held-out metrics rather than failing the listing).
 */
async function withHeldOut(meta: MetadataStore, runs: RunRecord[]): Promise<RunRecord[]> {
  const missing = runs.filter((r) => r.version !== undefined && r.heldOut === undefined);
  if (missing.length === 0) return runs;
  const found = new Map<string, Record<string, number>>();
  for (const r of missing) {
    const key = `${r.model}:${r.version}`;
    if (found.has(key)) continue;
    found.set(
      key,
      await getVersion(meta, r.model, r.version!).then(
        (v) => v.metrics,
        () => ({}),
      ),
    );
  }
  return runs.map((r) =>
    r.version !== undefined && r.heldOut === undefined ? { ...r, heldOut: found.get(`${r.model}:${r.version}`)! } : r,
  );
}

type Position = Pick<RunRecord, "startedAt" | "runId">;

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
export async function getRun(meta: MetadataStore, runId: string): Promise<RunDetail> {
  const stored = await Runs.get(meta, runId);
  if (!stored) throw new SightlineError("not_found", "run_not_found", `no run ${runId} (see \`sightline runs list\`)`);
  const run = (await withHeldOut(meta, [stored]))[0]!;
  const seconds = secondsOf(run);
  return { ...run, final: finalMetrics(run), ...(seconds !== undefined ? { seconds } : {}) };
}

/** The runs that answered one training request, newest first (a retried Job can run twice); read by the store's index. */
export async function runsForRequest(meta: MetadataStore, requestId: string): Promise<RunSummary[]> {
  const docs = await Runs.query(meta, { where: [{ field: "requestId", op: "==", value: requestId }] });
  return (
    await withHeldOut(
      meta,
      docs.map((d) => d.data),
    )
  )
    .sort(newestFirst)
    .map(summarize);
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
  const runs = (await Promise.all(runIds.map((id) => getRun(meta, id)))).map((r) => summarize(r));
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
