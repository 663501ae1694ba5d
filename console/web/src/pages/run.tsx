import { RunDetail } from "../../../api/schemas.ts";
import { short, when } from "../format.ts";
import { Confusion, MetricCurves, metricText, paramText } from "../run-views.tsx";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

export function RunPage({ id }: { id: string }) {
  const loaded = useApi(`/api/runs/${encodeURIComponent(id)}`, RunDetail);
  return (
    <>
      <Title>{`Run ${id}`}</Title>
      <p>
        <a href={href.runs()}>All runs</a>
      </p>
      <Show loaded={loaded} render={(d) => <Run d={d} />} />
    </>
  );
}

function KeyValues({ id, title, values }: { id: string; title: string; values: [string, string][] }) {
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {values.length === 0 ? (
        <p>None recorded.</p>
      ) : (
        <Scroll label={title}>
          <table>
            <tbody>
              {values.map(([k, v]) => (
                <tr key={k}>
                  <th scope="row">{k}</th>
                  <td class="id">{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      )}
    </section>
  );
}

function Run({ d }: { d: RunDetail }) {
  const r = d.run;
  return (
    <>
      <dl class="facts">
        <dt>Status</dt>
        <dd class={r.status === "failed" ? "fail" : r.status === "succeeded" ? "pass" : ""}>
          {r.status}
          {r.reason ? ` (${r.reason})` : ""}
        </dd>
        <dt>Model version</dt>
        <dd>
          {r.version !== undefined ? (
            <a href={href.model(r.model)}>{`${r.model}:${r.version}`}</a>
          ) : (
            `${r.model} (nothing registered)`
          )}
        </dd>
        <dt>Lineage</dt>
        <dd>
          <a href={href.lineage(r.runId)}>{`lineage of ${r.runId}`}</a>
        </dd>
        <dt>Dataset</dt>
        <dd>
          <a href={href.dataset(r.datasetId)}>{short(r.datasetId)}</a>
        </dd>
        <dt>Trainer</dt>
        <dd>{r.trainer}</dd>
        <dt>Started → finished</dt>
        <dd>{`${when(r.startedAt)} → ${r.finishedAt ? when(r.finishedAt) : "still running"}`}</dd>
        {r.imagesPerSecond !== undefined ? (
          <>
            <dt>Throughput</dt>
            <dd>{`${Math.round(r.imagesPerSecond)} images/s`}</dd>
          </>
        ) : null}
      </dl>
      <section aria-labelledby="stream">
        <h2 id="stream">Metric stream</h2>
        <MetricCurves id="run" streams={[{ label: r.runId, stream: r.stream }]} />
      </section>
      <KeyValues
        id="final"
        title="Final metrics"
        values={Object.entries(r.metrics).map(([k, v]) => [k, metricText(v)])}
      />
      <KeyValues id="params" title="Params" values={Object.entries(r.params).map(([k, v]) => [k, paramText(v)])} />
      <KeyValues id="tags" title="Tags" values={Object.entries(r.tags)} />
      <KeyValues
        id="phases"
        title="Phases"
        values={Object.entries(r.phases).map(([k, v]) => [k, `${v.toFixed(1)} s`])}
      />
      <KeyValues
        id="artefacts"
        title="Artefacts"
        values={r.artefacts.map((a) => [a.kind, `${a.digest}${a.pointer ? ` ${a.pointer}` : ""}`])}
      />
      <section aria-labelledby="confusion">
        <h2 id="confusion">Confusion matrix</h2>
        {d.confusion ? (
          <Scroll label="Confusion matrix">
            <Confusion label={r.runId} confusion={d.confusion} />
          </Scroll>
        ) : (
          <p>This run registered no version, so it has no held-out confusion matrix.</p>
        )}
      </section>
    </>
  );
}
