import { useState } from "preact/hooks";
import { ModelDetail, ModelProvenance } from "../../../api/schemas.ts";
import type { WriteResult } from "../../../api/write-schemas.ts";
import { num, short, when } from "../format.ts";
import { GateRulesTable, rulesPassed } from "../gate-views.tsx";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useSession } from "../session.ts";
import { useApi } from "../use-api.ts";
import { ModelActions } from "./model-actions.tsx";
import { ProvenanceLine, type Provenance } from "./why.tsx";

type Detail = ModelDetail;

export function ModelPage({ name }: { name: string }) {
  // A write re-mounts the body, which loads the model again: the new aliases, decision and audit row.
  const [done, setDone] = useState<{ n: number; result: WriteResult | null }>({ n: 0, result: null });
  return (
    <>
      <Title>{`Model ${name}`}</Title>
      <p>
        <a href={href.models()}>All models</a>
      </p>
      <p role="status">{done.result ? `${done.result.message} (by ${done.result.actor})` : ""}</p>
      <ModelBody key={done.n} name={name} onDone={(result) => setDone((d) => ({ n: d.n + 1, result }))} />
    </>
  );
}

function ModelBody({ name, onDone }: { name: string; onDone: (result: WriteResult) => void }) {
  const loaded = useApi(`/api/models/${encodeURIComponent(name)}`, ModelDetail);
  // Why each version exists; the page stands without it (the line under each version is left out).
  const provenance = useApi(`/api/models/${encodeURIComponent(name)}/provenance`, ModelProvenance);
  const why = provenance.state === "ready" ? provenance.data.versions : [];
  const session = useSession();
  return (
    <Show
      loaded={loaded}
      render={(m) => (
        <>
          <Versions m={m} why={why} />
          <ModelActions m={m} session={session} onDone={onDone} />
          <Decisions m={m} />
          <Audit m={m} />
        </>
      )}
    />
  );
}

function Versions({ m, why }: { m: Detail; why: Provenance[] }) {
  const metricNames = [...new Set(m.versions.flatMap((v) => Object.keys(v.metrics)))]
    .filter((k) => !k.includes("/"))
    .sort();
  return (
    <section aria-labelledby="versions">
      <h2 id="versions">Versions</h2>
      <Scroll label="Versions">
        <table>
          <caption>Every version with its aliases and held-out metrics</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Aliases</th>
              {metricNames.map((k) => (
                <th scope="col" key={k}>
                  {k}
                </th>
              ))}
              <th scope="col">Created</th>
              <th scope="col">Lineage</th>
              <th scope="col">Drift</th>
            </tr>
          </thead>
          <tbody>
            {[...m.versions].reverse().flatMap((v) => {
              const p = why.find((w) => w.version === v.version);
              return [
                <tr key={v.version} class={p ? "has-why" : undefined}>
                  <th scope="row">{`${m.name}:${v.version}`}</th>
                  <td>
                    {v.aliases.map((a) => (
                      <span class="tag" key={a}>
                        {a}
                      </span>
                    ))}
                  </td>
                  {metricNames.map((k) => (
                    <td key={k}>{num(v.metrics[k])}</td>
                  ))}
                  <td>{when(v.createdAt)}</td>
                  <td>
                    <a href={href.lineage(`${m.name}:${v.version}`)}>
                      run {short(v.runId, 10)} · dataset {short(v.datasetId, 8)}
                    </a>
                  </td>
                  <td>
                    <a href={href.drift(m.name, v.version)}>{`drift of ${m.name}:${v.version}`}</a>
                  </td>
                </tr>,
                ...(p
                  ? [
                      <tr key={`${v.version}-why`} class="why">
                        <td colSpan={metricNames.length + 5}>
                          <ProvenanceLine p={p} />
                        </td>
                      </tr>,
                    ]
                  : []),
              ];
            })}
          </tbody>
        </table>
      </Scroll>
    </section>
  );
}

function Decisions({ m }: { m: Detail }) {
  return (
    <section aria-labelledby="decisions">
      <h2 id="decisions">Gate decisions</h2>
      {m.decisions.length === 0 ? <p>No promotion has been decided for this model.</p> : null}
      {m.decisions.map((d, i) => (
        <article class="decision" key={d.id} aria-labelledby={`d-${d.id}`}>
          <h3 id={`d-${d.id}`}>
            {`${m.name}:${d.version}`} <span class={`outcome ${d.outcome}`}>{d.outcome.replace("_", " ")}</span>
          </h3>
          <p>
            {when(d.time)} · by {d.actor} · approval {d.approval} · against production {d.productionVersion ?? "none"} ·{" "}
            {d.reason}
          </p>
          {/* The newest decision's rules are open; older ones fold away (a gate has dozens of rules). */}
          <details open={i === 0}>
            <summary>{rulesPassed(d.rules)}</summary>
            <GateRulesTable
              rules={d.rules}
              label={`Rules of ${m.name}:${d.version}`}
              caption={`Rules applied to ${m.name}:${d.version}`}
            />
          </details>
        </article>
      ))}
    </section>
  );
}

function Audit({ m }: { m: Detail }) {
  return (
    <section aria-labelledby="audit">
      <h2 id="audit">Audit trail</h2>
      <Scroll label="Audit trail">
        <table>
          <caption>Who changed what, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Action</th>
              <th scope="col">Outcome</th>
              <th scope="col">Alias</th>
              <th scope="col">From → to</th>
              <th scope="col">Actor</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {m.audit.map((a) => (
              <tr key={a.id}>
                <td>{when(a.time)}</td>
                <td>{a.action}</td>
                <td>{a.outcome}</td>
                <td>{a.alias ?? "—"}</td>
                <td>{`${a.from ?? "—"} → ${a.to ?? "—"}`}</td>
                <td>{a.actor}</td>
                <td>{a.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Scroll>
      {m.audit.length === 0 ? <p>No alias has been moved yet.</p> : null}
    </section>
  );
}
