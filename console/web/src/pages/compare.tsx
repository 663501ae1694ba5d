import { RunComparison } from "../../../api/schemas.ts";
import { Confusion, MetricCurves, metricText, paramText } from "../run-views.tsx";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

export function ComparePage({ ids }: { ids: string[] }) {
  const loaded = useApi(
    ids.length >= 2 ? `/api/runs/compare?${new URLSearchParams({ ids: ids.join(",") }).toString()}` : null,
    RunComparison,
  );
  return (
    <>
      <Title>{`Compare ${ids.length} runs`}</Title>
      <p>
        <a href={href.runs()}>All runs</a>
      </p>
      {ids.length < 2 ? (
        <p>Pick two or more runs in the runs table to compare them.</p>
      ) : (
        <Show loaded={loaded} render={(c) => <Comparison c={c} />} />
      )}
    </>
  );
}

function SideBySide<V>({
  id,
  title,
  caption,
  rows,
  runIds,
  show,
  empty,
}: {
  id: string;
  title: string;
  caption: string;
  rows: { key: string; values: Record<string, V | null> }[];
  runIds: string[];
  show: (v: V | null | undefined) => string;
  empty: string;
}) {
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {rows.length === 0 ? (
        <p>{empty}</p>
      ) : (
        <Scroll label={title}>
          <table>
            <caption>{caption}</caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                {runIds.map((r) => (
                  <th scope="col" key={r}>
                    <a href={href.run(r)}>{r}</a>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.key}>
                  <th scope="row">{row.key}</th>
                  {runIds.map((r) => (
                    <td key={r} class="id">
                      {show(row.values[r])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
    </section>
  );
}

function Comparison({ c }: { c: RunComparison }) {
  const runIds = c.runs.map((r) => r.runId);
  return (
    <>
      <SideBySide
        id="param-diff"
        title="Params that differ"
        caption={`The params whose values differ between ${runIds.join(", ")}`}
        rows={c.params}
        runIds={runIds}
        show={paramText}
        empty="Every param is the same in these runs."
      />
      {c.tags.length > 0 ? (
        <SideBySide
          id="tag-diff"
          title="Tags that differ"
          caption="The tags whose values differ"
          rows={c.tags}
          runIds={runIds}
          show={paramText}
          empty=""
        />
      ) : null}
      <SideBySide
        id="final-metrics"
        title="Final metrics"
        caption="Each run's final metrics; test_* are the registered version's held-out numbers"
        rows={c.metrics}
        runIds={runIds}
        show={metricText}
        empty="No run has metrics."
      />
      <section aria-labelledby="curves">
        <h2 id="curves">Curves</h2>
        <MetricCurves id="compare" streams={runIds.map((r) => ({ label: r, stream: c.streams[r] ?? [] }))} />
      </section>
      <section aria-labelledby="confusions">
        <h2 id="confusions">Confusion matrices</h2>
        <div class="side-by-side">
          {runIds.map((r) => {
            const m = c.confusion[r];
            return (
              <div key={r}>
                <h3>{r}</h3>
                {m ? (
                  <Scroll label={`Confusion matrix of ${r}`}>
                    <Confusion label={r} confusion={m} />
                  </Scroll>
                ) : (
                  <p>No registered version: no matrix.</p>
                )}
              </div>
            );
          })}
        </div>
      </section>
    </>
  );
}
