import { DriftWindowReport } from "../../../api/schemas.ts";
import { DriftTestsTable, HistogramFigure } from "../drift-views.tsx";
import { pct, short, when } from "../format.ts";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

/** One window's drift report: the window, the verdict, each test, and reference-versus-window histograms. */
export function DriftReportPage({ name, version, seq }: { name: string; version: number; seq: number }) {
  const loaded = useApi(`/api/drift/${encodeURIComponent(name)}/${version}/${seq}`, DriftWindowReport);
  return (
    <>
      <Title>{`Drift report of ${name}:${version}, window ${seq}`}</Title>
      <p>
        <a href={href.drift(name, version)}>{`All windows of ${name}:${version}`}</a>
      </p>
      <Show loaded={loaded} render={(r) => <Report r={r} />} />
    </>
  );
}

export function Report({ r }: { r: DriftWindowReport }) {
  const v = r.verdict;
  const drifted = new Map(v.tests.map((t) => [t.name, t.drifted]));
  return (
    <>
      <dl class="facts">
        <dt>Verdict</dt>
        <dd class={v.drift ? "fail" : "pass"}>
          {v.drift
            ? `drift, ${v.reason === "bonferroni" ? "one test below the Bonferroni-corrected p-value" : `${pct(v.severity)} of tests drifted (threshold ${pct(v.threshold)})`}`
            : `no drift: ${pct(v.severity)} of tests drifted (threshold ${pct(v.threshold)})`}
        </dd>
        <dt>Window</dt>
        <dd>{`${when(r.window.from)} → ${when(r.window.to)}`}</dd>
        <dt>Predictions</dt>
        <dd>{`${r.window.count} (${r.window.embeddings} with embeddings)`}</dd>
        <dt>Segments</dt>
        <dd>
          {/* A window of a busy model has dozens of segment ids: their number, the ids folded away. */}
          {r.window.segments.length === 0 ? (
            "—"
          ) : (
            <details>
              <summary>{`${r.window.segments.length} segment(s)`}</summary>
              <span class="id">{r.window.segments.join(", ")}</span>
            </details>
          )}
        </dd>
        <dt>Judged</dt>
        <dd>{when(r.createdAt)}</dd>
        <dt>Reference profile</dt>
        <dd>
          <code title={r.profileDigest}>{short(r.profileDigest, 19)}</code>
        </dd>
      </dl>
      <section aria-labelledby="tests">
        <h2 id="tests">Tests</h2>
        <Scroll label="Tests">
          <DriftTestsTable
            tests={v.tests}
            caption={`${v.driftedTests.length} of ${v.tests.length} tests drifted${v.driftedTests.length ? `: ${v.driftedTests.join(", ")}` : ""}`}
          />
        </Scroll>
        {v.skipped.length ? (
          <ul class="hint">
            {v.skipped.map((s) => (
              <li key={s.name}>{`${s.name} not tested: ${s.reason}`}</li>
            ))}
          </ul>
        ) : null}
      </section>
      <section aria-labelledby="histograms">
        <h2 id="histograms">Reference against window</h2>
        {r.histograms.ok ? (
          <>
            <p class="hint">
              Shares of each side&apos;s values over the same bins: the reference is the profile&apos;s sample the tests
              compared with, the window its served predictions.
            </p>
            <div class="histograms">
              {r.histograms.items.map((h) => (
                <HistogramFigure key={h.name} histogram={h} drifted={drifted.get(h.name)} />
              ))}
            </div>
            {r.histograms.notDrawn.map((n) => (
              <p key={n.name} class="hint">{`${n.name}: no histogram, ${n.reason}.`}</p>
            ))}
          </>
        ) : (
          <p role="alert" class="error">{`No histograms: ${r.histograms.error}`}</p>
        )}
      </section>
    </>
  );
}
