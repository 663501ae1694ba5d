import { when } from "./format.ts";
import { staticSnapshot } from "./snapshot.ts";

/** In a static export only: says it is a snapshot (so nothing here changes production) and links what it shows. */
export function SnapshotNote() {
  const snapshot = staticSnapshot();
  if (!snapshot) return null;
  return (
    <aside class="snapshot" aria-labelledby="snapshot-title">
      <p id="snapshot-title">
        <strong>Snapshot</strong>
        {` of ${snapshot.source}, exported ${when(snapshot.exportedAt)}. Read-only: promote, roll back and approve need the live console (`}
        <code>sightline ui</code>).
      </p>
      {snapshot.highlights.length ? (
        <ul>
          {snapshot.highlights.map((h) => (
            <li key={h.href}>
              <a href={h.href}>{h.label}</a>
            </li>
          ))}
        </ul>
      ) : null}
    </aside>
  );
}
