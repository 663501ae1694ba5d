import { z } from "zod";
import { defineCollection } from "../meta/collection.ts";
import type { MetadataStore } from "../meta/metadata-store.ts";

export const SEGMENTS = "drift_segments";
export const WINDOWS = "drift_windows";
/** Per model version: the number of its open window. */
export const CURSORS = "drift_cursors";

/** One `predictions.logged` event's records, stored as a blob, as it joins a window. */
export type Segment = {
  eventId: string;
  model: string;
  version: number;
  count: number;
  from: string;
  to: string;
  digest: string;
  /** The window it joined. */
  seq: number;
};

/** A window of one model version's served predictions: open while it fills, closed when it is to be judged. */
export type Window = {
  model: string;
  version: number;
  seq: number;
  /** open → closed (due, to be judged) → reported. */
  state: "open" | "closed" | "reported";
  segments: string[];
  count: number;
  from: string | null;
  to: string | null;
  closedAt: string | null;
  reportId: string | null;
};

const SegmentSchema: z.ZodType<Segment> = z.looseObject({
  eventId: z.string(),
  model: z.string(),
  version: z.number().int(),
  count: z.number().int(),
  from: z.string(),
  to: z.string(),
  digest: z.string(),
  seq: z.number().int(),
});

const WindowSchema: z.ZodType<Window> = z.looseObject({
  model: z.string(),
  version: z.number().int(),
  seq: z.number().int(),
  state: z.enum(["open", "closed", "reported"]),
  segments: z.array(z.string()),
  count: z.number().int(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  closedAt: z.string().nullable(),
  reportId: z.string().nullable(),
});

type Cursor = { seq: number };
const CursorSchema: z.ZodType<Cursor> = z.looseObject({ seq: z.number().int() });

/** Segments by event id. */
export const Segments = defineCollection({ name: SEGMENTS, schema: SegmentSchema });
/** Windows keyed `model:version:seq` (see `windowId`). */
export const Windows = defineCollection({ name: WINDOWS, schema: WindowSchema });
/** Cursors keyed `model:version` (see `windowKey`). */
export const Cursors = defineCollection({ name: CURSORS, schema: CursorSchema });

export interface WindowRule {
  size: number;
  minSize: number;
  maxSeconds: number;
}

export const windowKey = (model: string, version: number): string => `${model}:${version}`;
export const windowId = (model: string, version: number, seq: number): string => `${model}:${version}:${seq}`;

/** Whether an open window is due: full, or old enough and big enough. */
export function isDue(w: Pick<Window, "count" | "from">, rule: WindowRule, now: Date): boolean {
  if (w.count >= rule.size) return true;
  return w.from !== null && w.count >= rule.minSize && now.getTime() - Date.parse(w.from) >= rule.maxSeconds * 1000;
}

/**
 * Adds a segment to its model version's open window in one transaction, closing the window when it is due, and
 * returns the windows that are closed and may still need a report: the one just closed, or, on redelivery, the one
 * this segment already joined. Idempotent by event id: a segment joins exactly one window, whoever races.
 */
export async function addSegment(
  meta: MetadataStore,
  segment: Omit<Segment, "seq">,
  rule: WindowRule,
  now: Date,
): Promise<Window | undefined> {
  const { model, version } = segment;
  return meta.transaction(async (tx) => {
    const [segments, windows, cursors] = [Segments.in(tx), Windows.in(tx), Cursors.in(tx)];
    const known = await segments.get(segment.eventId);
    if (known) {
      const joined = await windows.get(windowId(model, version, known.seq));
      return joined?.state === "closed" ? joined : undefined;
    }
    const pointer = await cursors.get(windowKey(model, version));
    const seq = pointer?.seq ?? 1;
    const open = (await windows.get(windowId(model, version, seq))) ?? emptyWindow(model, version, seq);
    const window: Window = {
      ...open,
      segments: [...open.segments, segment.eventId],
      count: open.count + segment.count,
      from: open.from === null || segment.from < open.from ? segment.from : open.from,
      to: open.to === null || segment.to > open.to ? segment.to : open.to,
    };
    segments.set(segment.eventId, { ...segment, seq });
    if (!isDue(window, rule, now)) {
      windows.set(windowId(model, version, seq), window);
      if (!pointer) cursors.set(windowKey(model, version), { seq });
      return undefined;
    }
    const closed: Window = { ...window, state: "closed", closedAt: now.toISOString() };
    windows.set(windowId(model, version, seq), closed);
    cursors.set(windowKey(model, version), { seq: seq + 1 });
    return closed;
  });
}

/** Closes every open window that is due by age (a quiet model's last records still get judged). */
export async function closeDueWindows(meta: MetadataStore, rule: WindowRule, now: Date): Promise<Window[]> {
  const open = (await Windows.query(meta, { where: [{ field: "state", op: "==", value: "open" }] })).map((d) => d.data);
  const closed: Window[] = [];
  for (const w of open.filter((w) => isDue(w, rule, now))) {
    const done = await meta.transaction(async (tx) => {
      const windows = Windows.in(tx);
      const current = await windows.get(windowId(w.model, w.version, w.seq));
      if (current?.state !== "open" || !isDue(current, rule, now)) return undefined;
      const c: Window = { ...current, state: "closed", closedAt: now.toISOString() };
      windows.set(windowId(w.model, w.version, w.seq), c);
      Cursors.in(tx).set(windowKey(w.model, w.version), { seq: w.seq + 1 });
      return c;
    });
    if (done) closed.push(done);
  }
  return closed;
}

/** Closed windows without a report yet (a crash between closing and reporting leaves one). */
export async function closedWindows(meta: MetadataStore): Promise<Window[]> {
  return (await Windows.query(meta, { where: [{ field: "state", op: "==", value: "closed" }] })).map((d) => d.data);
}

export async function markReported(meta: MetadataStore, w: Window, reportId: string): Promise<void> {
  await Windows.put(meta, windowId(w.model, w.version, w.seq), { ...w, state: "reported", reportId });
}

function emptyWindow(model: string, version: number, seq: number): Window {
  return {
    model,
    version,
    seq,
    state: "open",
    segments: [],
    count: 0,
    from: null,
    to: null,
    closedAt: null,
    reportId: null,
  };
}
