import { DriftHistory, ModelList } from "../../../api/schemas.ts";
import { TimeChart } from "../chart.tsx";
import { num, pct, when } from "../format.ts";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

export function DriftPage({
  name,
  version,
  report,
}: {
  name?: string | undefined;
  version?: number | undefined;
  /** A report to point at (a "Why this version?" link): its window is highlighted. */
  report?: string | undefined;
}) {
  const models = useApi("/api/models", ModelList);
  const chosen = name && version ? `${name}:${version}` : "";
  return (
    <>
      <Title>{chosen ? `Drift of ${chosen}` : "Drift"}</Title>
      <Show
        loaded={models}
        render={({ models: list }) => (
          <form class="search" onSubmit={(e) => e.preventDefault()}>
            <label for="drift-version">Model version</label>
            <select
              id="drift-version"
              value={chosen}
              onChange={(e) => {
                const [n, v] = e.currentTarget.value.split(":");
                if (n && v) location.hash = href.drift(n, Number(v));
              }}
            >
              <option value="">Choose a version…</option>
              {list.flatMap((m) =>
                [...m.versions].reverse().map((v) => (
                  <option key={`${m.name}:${v.version}`} value={`${m.name}:${v.version}`}>
                    {`${m.name}:${v.version}${v.aliases.length ? ` (${v.aliases.join(", ")})` : ""}`}
                  </option>
                )),
              )}
            </select>
          </form>
        )}
      />
      {name && version ? (
        <History name={name} version={version} report={report} />
      ) : (
        <p>Choose a model version to see its drift reports over time.</p>
      )}
    </>
  );
}

function History({ name, version, report }: { name: string; version: number; report?: string | undefined }) {
  const loaded = useApi(`/api/drift/${encodeURIComponent(name)}/${version}`, DriftHistory);
  return (
    <Show
      loaded={loaded}
      render={(d) =>
        d.reports.length === 0 ? (
          <p>{`No drift report for ${name}:${version} yet: reports come from served predictions (sightline serve with the functions running).`}</p>
        ) : (
          <Reports d={d} report={report} />
        )
      }
    />
  );
}

function Reports({ d, report }: { d: DriftHistory; report?: string | undefined }) {
  const times = d.reports.map((r) => Date.parse(r.window.to) / 1000);
  const drifted = d.reports.filter((r) => r.drift).length;
  const pointed = report === undefined ? undefined : d.reports.find((r) => r.reportId === report);
  const summary = `Severity of ${d.reports.length} windows of ${d.model}:${d.version}, from ${pct(d.reports[0]!.severity)} to ${pct(d.reports.at(-1)!.severity)}; ${drifted} drifted`;
  return (
    <>
      <section aria-labelledby="severity">
        <h2 id="severity">Severity over time</h2>
        <TimeChart
          times={times}
          yLabel="share of tests drifted"
          summary={summary}
          series={[{ label: "severity", values: d.reports.map((r) => r.severity), stroke: "#b3261e" }]}
        />
      </section>
      <section aria-labelledby="windows">
        <h2 id="windows">Windows</h2>
        {report === undefined ? null : (
          <p role="status">
            {pointed
              ? `Report ${pointed.reportId}: window ${pointed.seq}, ${pointed.drift ? "drift" : "no drift"}, severity ${pct(pointed.severity)} (highlighted below)`
              : `Report ${report} is not one of ${d.model}:${d.version}'s`}
          </p>
        )}
        <Scroll label="Windows">
          <table>
            <caption>{`Each window's verdict, newest first (${drifted} of ${d.reports.length} drifted)`}</caption>
            <thead>
              <tr>
                <th scope="col">Window</th>
                <th scope="col">From → to</th>
                <th scope="col">Predictions</th>
                <th scope="col">Verdict</th>
                <th scope="col">Severity</th>
                <th scope="col">Tests</th>
              </tr>
            </thead>
            <tbody>
              {[...d.reports].reverse().map((r) => (
                <tr
                  key={r.reportId}
                  class={r.reportId === report ? "highlight" : undefined}
                  aria-current={r.reportId === report ? "true" : undefined}
                >
                  <th scope="row">{r.seq}</th>
                  <td>{`${when(r.window.from)} → ${when(r.window.to)}`}</td>
                  <td>{r.window.count}</td>
                  <td class={r.drift ? "fail" : "pass"}>
                    {r.drift ? `drift${r.reason ? ` (${r.reason})` : ""}` : "no drift"}
                  </td>
                  <td>{pct(r.severity)}</td>
                  <td>
                    <details>
                      <summary>{`${r.driftedTests.length} of ${r.tests.length} drifted${r.driftedTests.length ? `: ${r.driftedTests.join(", ")}` : ""}`}</summary>
                      <table class="inner">
                        <caption class="visually-hidden">{`Tests of window ${r.seq}`}</caption>
                        <thead>
                          <tr>
                            <th scope="col">Test of</th>
                            <th scope="col">Test</th>
                            <th scope="col">Statistic</th>
                            <th scope="col">p-value</th>
                            <th scope="col">Threshold</th>
                            <th scope="col">Verdict</th>
                          </tr>
                        </thead>
                        <tbody>
                          {r.tests.map((t) => (
                            <tr key={t.name}>
                              <th scope="row">{t.name}</th>
                              <td>{t.test}</td>
                              <td>{num(t.statistic)}</td>
                              <td>{t.pValue === null ? "—" : num(t.pValue)}</td>
                              <td>{t.pValue === null ? `stat ≥ ${t.threshold}` : `p < ${t.threshold}`}</td>
                              <td class={t.drifted ? "fail" : "pass"}>{t.drifted ? "drift" : "ok"}</td>
                            </tr>
                          ))}
                        </tbody>
                      </table>
                    </details>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      </section>
    </>
  );
}
