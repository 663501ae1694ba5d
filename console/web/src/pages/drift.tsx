import { DriftHistory, ModelList } from "../../../api/schemas.ts";
import { TimeChart } from "../chart.tsx";
import { DriftTestsTable, StrengthChart } from "../drift-views.tsx";
import { pct, when } from "../format.ts";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

export function DriftPage({ name, version }: { name?: string | undefined; version?: number | undefined }) {
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
        <History name={name} version={version} />
      ) : (
        <p>Choose a model version to see its drift reports over time.</p>
      )}
    </>
  );
}

function History({ name, version }: { name: string; version: number }) {
  const loaded = useApi(`/api/drift/${encodeURIComponent(name)}/${version}`, DriftHistory);
  return (
    <Show
      loaded={loaded}
      render={(d) =>
        d.reports.length === 0 ? (
          <p>{`No drift report for ${name}:${version} yet: reports come from served predictions (sightline serve with the functions running).`}</p>
        ) : (
          <Reports d={d} />
        )
      }
    />
  );
}

function Reports({ d }: { d: DriftHistory }) {
  const times = d.reports.map((r) => Date.parse(r.window.to) / 1000);
  const drifted = d.reports.filter((r) => r.drift).length;
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
      <section aria-labelledby="strength">
        <h2 id="strength">Each test&apos;s strength over time</h2>
        <StrengthChart reports={d.reports} />
      </section>
      <section aria-labelledby="windows">
        <h2 id="windows">Windows</h2>
        <Scroll label="Windows">
          <table>
            <caption>{`Each window's verdict, newest first (${drifted} of ${d.reports.length} drifted); a window opens its report`}</caption>
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
                <tr key={r.reportId}>
                  <th scope="row">
                    <a href={href.driftReport(d.model, d.version, r.seq)}>{`Window ${r.seq}`}</a>
                  </th>
                  <td>{`${when(r.window.from)} → ${when(r.window.to)}`}</td>
                  <td>{r.window.count}</td>
                  <td class={r.drift ? "fail" : "pass"}>
                    {r.drift ? `drift${r.reason ? ` (${r.reason})` : ""}` : "no drift"}
                  </td>
                  <td>{pct(r.severity)}</td>
                  <td>
                    <details>
                      <summary>{`${r.driftedTests.length} of ${r.tests.length} drifted${r.driftedTests.length ? `: ${r.driftedTests.join(", ")}` : ""}`}</summary>
                      <DriftTestsTable tests={r.tests} caption={`Tests of window ${r.seq}`} inner />
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
