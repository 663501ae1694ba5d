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
export async function addSegment(meta: MetadataStore, segment: Omit<Segment, "seq">, rule: WindowRule, now: Date): Promise<Window | undefined> {
  const { model, version } = segment;
  return meta.transaction(async (tx) => {
    const known = (await tx.get(SEGMENTS, segment.eventId))?.data as Segment | undefined;
    if (known) {
      const joined = (await tx.get(WINDOWS, windowId(model, version, known.seq)))?.data as Window | undefined;
      return joined?.state === "closed" ? joined : undefined;
    }
    const pointer = (await tx.get(CURSORS, windowKey(model, version)))?.data as { seq: number } | undefined;
    const seq = pointer?.seq ?? 1;
    const open = ((await tx.get(WINDOWS, windowId(model, version, seq)))?.data as Window | undefined) ?? emptyWindow(model, version, seq);
    const window: Window = {
      ...open,
      segments: [...open.segments, segment.eventId],
      count: open.count + segment.count,
      from: open.from === null || segment.from < open.from ? segment.from : open.from,
      to: open.to === null || segment.to > open.to ? segment.to : open.to,
    };
    tx.set(SEGMENTS, segment.eventId, { ...segment, seq });
    if (!isDue(window, rule, now)) {
      tx.set(WINDOWS, windowId(model, version, seq), window);
      if (!pointer) tx.set(CURSORS, windowKey(model, version), { seq });
      return undefined;
    }
    const closed: Window = { ...window, state: "closed", closedAt: now.toISOString() };
    tx.set(WINDOWS, windowId(model, version, seq), closed);
    tx.set(CURSORS, windowKey(model, version), { seq: seq + 1 });
    return closed;
  });
}

/** Closes every open window that is due by age (a quiet model's last records still get judged). */
export async function closeDueWindows(meta: MetadataStore, rule: WindowRule, now: Date): Promise<Window[]> {
  const open = (await meta.query(WINDOWS, { where: [{ field: "state", op: "==", value: "open" }] })).map((d) => d.data as Window);
  const closed: Window[] = [];
  for (const w of open.filter((w) => isDue(w, rule, now))) {
    const done = await meta.transaction(async (tx) => {
      const current = (await tx.get(WINDOWS, windowId(w.model, w.version, w.seq)))?.data as Window | undefined;
      if (current?.state !== "open" || !isDue(current, rule, now)) return undefined;
      const c: Window = { ...current, state: "closed", closedAt: now.toISOString() };
      tx.set(WINDOWS, windowId(w.model, w.version, w.seq), c);
      tx.set(CURSORS, windowKey(w.model, w.version), { seq: w.seq + 1 });
      return c;
    });
    if (done) closed.push(done);
  }
  return closed;
}

/** Closed windows without a report yet (a crash between closing and reporting leaves one). */
export async function closedWindows(meta: MetadataStore): Promise<Window[]> {
  return (await meta.query(WINDOWS, { where: [{ field: "state", op: "==", value: "closed" }] })).map((d) => d.data as Window);
}

export async function markReported(meta: MetadataStore, w: Window, reportId: string): Promise<void> {
  await meta.put(WINDOWS, windowId(w.model, w.version, w.seq), { ...w, state: "reported", reportId });
}

function emptyWindow(model: string, version: number, seq: number): Window {
  return { model, version, seq, state: "open", segments: [], count: 0, from: null, to: null, closedAt: null, reportId: null };
}
