import { SNAPSHOT_ELEMENT_ID, snapshotKey, StaticSnapshot } from "../../api/snapshot.ts";

let read: StaticSnapshot | null | undefined;

/**
 * The snapshot this page was exported with (`sightline ui export`), or null when a live server answers. It is a
 * JSON data block: parsed, never run.
 */
export function staticSnapshot(): StaticSnapshot | null {
  if (read === undefined) {
    const text = document.getElementById(SNAPSHOT_ELEMENT_ID)?.textContent;
    read = text ? StaticSnapshot.parse(JSON.parse(text)) : null;
  }
  return read;
}

/** A GET answered from the snapshot: the status and body the live API gave, or a 404 for what was not exported. */
export function snapshotAnswer(snapshot: StaticSnapshot, path: string): { status: number; body: unknown } {
  return (
    snapshot.answers[snapshotKey(path)] ?? {
      status: 404,
      body: {
        error: {
          code: "not_in_snapshot",
          message: `This page is not in the snapshot (exported ${snapshot.exportedAt}): open it in the live console, sightline ui.`,
        },
      },
    }
  );
}

/** Opens the snapshot's chosen page when the address names none (a hash change, so the routes stay the same). */
export function openSnapshotStart(): void {
  const start = staticSnapshot()?.start;
  if (start && (location.hash === "" || location.hash === "#")) history.replaceState(null, "", start);
}
