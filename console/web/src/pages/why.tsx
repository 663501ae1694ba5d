import { ModelProvenance } from "../../../api/schemas.ts";
import { pct, short, when } from "../format.ts";
import { GateRulesTable, rulesPassed } from "../gate-views.tsx";
import { href } from "../route.ts";
import { Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

export type Provenance = ModelProvenance["versions"][number];
type Gate = NonNullable<Provenance["gate"]>;

const outcomeText = (o: string): string => o.replace("_", " ");

/**
 * The model page's one line per version: "trained because drift report R → retrain request Q → run X → gate
 * decision D: promoted", each step linked to where it is shown in full.
 */
export function ProvenanceLine({ p }: { p: Provenance }) {
  return (
    <p class="chain" data-provenance={`${p.model}:${p.version}`}>
      {p.drift ? (
        <>
          {"trained because drift report "}
          <a href={href.driftReport(p.model, p.drift.version, p.drift.seq)}>{p.drift.reportId}</a>
          {` → retrain request ${p.retrain?.requestId ?? p.requestId}`}
        </>
      ) : (
        `trained on request ${short(p.requestId, 20)}${p.trigger ? ` (trigger ${p.trigger})` : ""}`
      )}
      {" → run "}
      {p.run ? <a href={href.run(p.run.runId)}>{p.run.runId}</a> : "not recorded"}
      {" → gate decision: "}
      {p.gate ? <a href={href.why(p.model, p.version)}>{outcomeText(p.gate.outcome)}</a> : "not gated yet"}
      {" · "}
      <a href={href.why(p.model, p.version)}>{`Why ${p.model}:${p.version}?`}</a>
    </p>
  );
}

/** "Why this version?": the whole chain that produced one version and put it in place. */
export function WhyPage({ name, version }: { name: string; version: number }) {
  const loaded = useApi(`/api/models/${encodeURIComponent(name)}/provenance`, ModelProvenance);
  return (
    <>
      <Title>{`Why ${name}:${version}?`}</Title>
      <p>
        <a href={href.model(name)}>{`Model ${name}`}</a>
      </p>
      <Show
        loaded={loaded}
        render={(m) => {
          const p = m.versions.find((v) => v.version === version);
          return p ? <Chain p={p} /> : <p role="alert" class="error">{`${name} has no version ${version}.`}</p>;
        }}
      />
    </>
  );
}

function Chain({ p }: { p: Provenance }) {
  const ref = `${p.model}:${p.version}`;
  return (
    <ol class="steps" aria-label={`How ${ref} came to be`}>
      <li data-step="drift" class={p.drift ? undefined : "missing"}>
        <h2>Drift report</h2>
        {p.drift ? (
          <p>
            <a href={href.driftReport(p.model, p.drift.version, p.drift.seq)}>{p.drift.reportId}</a>
            {` on ${p.model}:${p.drift.version}: ${p.drift.drift ? "drift" : "no drift"}, severity ${pct(p.drift.severity)}`}
            {p.drift.driftedTests.length ? ` (drifted: ${p.drift.driftedTests.join(", ")})` : ""}
            {` · window ${when(p.drift.window.from)} → ${when(p.drift.window.to)}, ${p.drift.window.count} predictions`}
          </p>
        ) : (
          <p>{`No drift report started this training: it was requested ${p.trigger ? `by trigger ${p.trigger}` : "directly"}.`}</p>
        )}
      </li>
      <li data-step="request" class={p.retrain ? undefined : "missing"}>
        <h2>Retrain request</h2>
        {p.retrain ? (
          <p>
            <span class="id">{p.retrain.requestId ?? p.requestId}</span>
            {` · ${p.retrain.outcome} ${when(p.retrain.time)}`}
            {p.retrain.job ? (
              <>
                {" as job "}
                <a href={href.job(p.retrain.job)}>{p.retrain.job}</a>
              </>
            ) : null}
            {p.retrain.datasetId ? (
              <>
                {" on dataset "}
                <a href={href.dataset(p.retrain.datasetId)}>{short(p.retrain.datasetId)}</a>
              </>
            ) : null}
          </p>
        ) : (
          <p>
            {"Training request "}
            <span class="id">{p.requestId}</span>
            {p.trigger ? ` (trigger ${p.trigger})` : ""}
          </p>
        )}
      </li>
      <li data-step="run" class={p.run ? undefined : "missing"}>
        <h2>Training run</h2>
        {p.run ? (
          <p>
            <a href={href.run(p.run.runId)}>{p.run.runId}</a>
            {` · ${p.run.status} · ${when(p.run.startedAt)} → ${p.run.finishedAt ? when(p.run.finishedAt) : "still running"}`}
          </p>
        ) : (
          <p>No run record (registered before runs were tracked, or by hand).</p>
        )}
      </li>
      <li data-step="gate" class={p.gate ? undefined : "missing"}>
        <h2>Gate decision</h2>
        {p.gate ? <GateDecision gate={p.gate} model={p.model} /> : <p>{`${ref} has not been gated.`}</p>}
        {p.decisions.length > 1 ? (
          <p class="hint">{`${p.decisions.length - 1} earlier decision(s) on ${ref}: ${p.decisions
            .slice(1)
            .map((d) => `${outcomeText(d.outcome)} ${when(d.time)}`)
            .join(", ")}`}</p>
        ) : null}
      </li>
      <li data-step="aliases" class={p.audit.length ? undefined : "missing"}>
        <h2>Aliases moved to it</h2>
        {p.audit.length === 0 ? (
          <p>{`No alias points at ${ref} yet.`}</p>
        ) : (
          <ul>
            {p.audit.map((a) => (
              <li
                key={a.id}
              >{`${a.alias ?? "—"}: ${a.from ?? "—"} → ${a.to ?? "—"} · ${when(a.time)} · by ${a.actor}: ${a.reason}`}</li>
            ))}
          </ul>
        )}
      </li>
    </ol>
  );
}

function GateDecision({ gate, model }: { gate: Gate; model: string }) {
  return (
    <>
      <p>
        <span class="id">{gate.id}</span> <span class={`outcome ${gate.outcome}`}>{outcomeText(gate.outcome)}</span>
        {` · ${when(gate.time)} · by ${gate.actor} · approval ${gate.approval} · against production ${gate.productionVersion ?? "none"} · ${gate.reason}`}
      </p>
      <GateRulesTable
        rules={gate.rules}
        label={`Rules of ${model}:${gate.version}`}
        caption={rulesPassed(gate.rules)}
      />
    </>
  );
}
