import { useEffect, useState } from "preact/hooks";
import { RunsPage as RunsPageSchema } from "../../../api/schemas.ts";
import { when } from "../format.ts";
import { metricText } from "../run-views.tsx";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

/** Rows per page unless the address says otherwise (`limit=N`). */
const PAGE = 25;
/** The final metrics shown as columns when runs have them, in this order. */
const PREFERRED = ["test_accuracy", "test_macro_f1", "accuracy", "loss", "epoch"];
const SORTABLE = [
  { label: "Started", field: "" },
  { label: "Status", field: "status" },
  { label: "Model", field: "model" },
] as const;

export function RunsPage({ filter, sort, limit = PAGE }: { filter: string; sort: string; limit?: number | undefined }) {
  // A cursor belongs to one filter and order: the pages read are kept with them, and another starts at page one.
  const key = `${filter}\n${sort}\n${limit}`;
  const [paged, setPaged] = useState<{ key: string; cursors: string[] }>({ key, cursors: [] });
  const cursors = paged.key === key ? paged.cursors : [];
  const setCursors = (next: (c: string[]) => string[]) => setPaged({ key, cursors: next(cursors) });
  const [picked, setPicked] = useState<string[]>([]);
  const [draft, setDraft] = useState(filter);
  // The box follows the address (a link or Back changes the filter too).
  useEffect(() => setDraft(filter), [filter]);
  const cursor = cursors.at(-1);
  const query = new URLSearchParams({
    limit: String(limit),
    ...(filter ? { filter } : {}),
    ...(sort ? { sort } : {}),
    ...(cursor ? { cursor } : {}),
  });
  const loaded = useApi(`/api/runs?${query.toString()}`, RunsPageSchema);
  const go = (f: string, s: string) => {
    location.hash = href.runs(f, s);
  };
  const toggle = (id: string) => setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p, id]));
  const [sortField = "", sortDir = "desc"] = sort.split(/\s+/);
  const sortButton = (label: string, field: string) => {
    const active = field === "" ? sort === "" : sortField === field;
    const next = field === "" ? "" : active && sortDir === "desc" ? `${field} asc` : `${field} desc`;
    return (
      <th
        scope="col"
        key={label}
        aria-sort={active ? (field === "" || sortDir === "desc" ? "descending" : "ascending") : undefined}
      >
        <button type="button" class="sort" onClick={() => go(filter, next)}>
          {label}
          <span aria-hidden="true">{active ? (field === "" || sortDir === "desc" ? " ▼" : " ▲") : ""}</span>
        </button>
      </th>
    );
  };
  return (
    <>
      <Title>Runs</Title>
      <form
        class="search"
        onSubmit={(e) => {
          e.preventDefault();
          go(draft.trim(), sort);
        }}
      >
        <label for="run-filter">Filter</label>
        <div class="row">
          <input
            id="run-filter"
            type="search"
            value={draft}
            aria-describedby="run-filter-help"
            placeholder='metrics.test_accuracy > 0.8 and status = "succeeded"'
            onInput={(e) => setDraft(e.currentTarget.value)}
          />
          <button type="submit">Apply</button>
        </div>
        <p id="run-filter-help" class="hint">
          Comparisons joined by <code>and</code>: <code>metrics.KEY</code>, <code>params.KEY</code>,{" "}
          <code>tags.KEY</code>, <code>status</code>, <code>model</code>, <code>dataset</code>, <code>trainer</code>;{" "}
          <code>= != &lt; &lt;= &gt; &gt;=</code>; strings in quotes.
        </p>
      </form>
      <p class="actions">
        <button type="button" disabled={picked.length < 2} onClick={() => (location.hash = href.compare(picked))}>
          {`Compare selected (${picked.length})`}
        </button>
        {picked.length > 0 ? (
          <button type="button" class="secondary" onClick={() => setPicked([])}>
            Clear selection
          </button>
        ) : null}
      </p>
      <Show
        loaded={loaded}
        render={(page) => {
          const keys = [...new Set(page.runs.flatMap((r) => Object.keys(r.metrics)))];
          const columns = PREFERRED.filter((k) => keys.includes(k));
          return page.runs.length === 0 ? (
            <p>{filter ? "No run matches this filter." : "No run is tracked yet: train one with sightline train."}</p>
          ) : (
            <>
              <Scroll label="Runs">
                <table class="runs">
                  <caption>
                    {`Runs ${cursors.length * limit + 1}–${cursors.length * limit + page.runs.length}${filter ? `, matching ${filter}` : ""}; pick two or more to compare`}
                  </caption>
                  <thead>
                    <tr>
                      <th scope="col">
                        <span class="visually-hidden">Compare</span>
                      </th>
                      <th scope="col">Run</th>
                      {SORTABLE.map((c) => sortButton(c.label, c.field))}
                      <th scope="col">Version</th>
                      {columns.map((k) => sortButton(k, `metrics.${k}`))}
                    </tr>
                  </thead>
                  <tbody>
                    {page.runs.map((r) => (
                      <tr key={r.runId}>
                        <td>
                          <input
                            type="checkbox"
                            id={`pick-${r.runId}`}
                            checked={picked.includes(r.runId)}
                            onChange={() => toggle(r.runId)}
                            aria-label={`Compare ${r.runId}`}
                          />
                        </td>
                        <th scope="row">
                          <a href={href.run(r.runId)}>{r.runId}</a>
                        </th>
                        <td>{when(r.startedAt)}</td>
                        <td class={r.status === "failed" ? "fail" : r.status === "succeeded" ? "pass" : ""}>
                          {r.status}
                        </td>
                        <td>{r.model}</td>
                        <td>{r.version !== undefined ? `${r.model}:${r.version}` : "—"}</td>
                        {columns.map((k) => (
                          <td key={k}>{metricText(r.metrics[k])}</td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </Scroll>
              <nav class="pager" aria-label="Pages of runs">
                <button type="button" disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
                  Previous page
                </button>
                <button
                  type="button"
                  disabled={!page.nextCursor}
                  onClick={() => page.nextCursor && setCursors((c) => [...c, page.nextCursor!])}
                >
                  Next page
                </button>
              </nav>
            </>
          );
        }}
      />
    </>
  );
}
