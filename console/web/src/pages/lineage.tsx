import { useState } from "preact/hooks";
import { LineageGraph, VerifyResult } from "../../../api/schemas.ts";
import { getJson } from "../api.ts";
import { layoutGraph, type Layout } from "../layout.ts";
import { short } from "../format.ts";
import { href } from "../route.ts";
import { Scroll, Show, Title } from "../ui.tsx";
import { useApi } from "../use-api.ts";

type Graph = LineageGraph;

/** What a node's detail is, in its own words. */
const DETAIL: Record<Graph["nodes"][number]["kind"], string> = {
  prediction: "request id",
  model: "model file",
  request: "request id",
  drift: "report",
  run: "run id",
  dataset: "dataset id",
  commit: "git commit",
  image: "image",
};

// Ids a person can search for again (commits and images are leaves).
const SEARCHABLE = new Set(["prediction", "model", "run", "dataset"]);

/** Where a node leads: its own lineage, or a drift report (its window, else the history); null for leaves and the node searched. */
function nodeLink(n: Graph["nodes"][number], found: Graph["found"]): string | null {
  if (n.kind === "drift") {
    if (!n.about) return null;
    const { model, version, seq } = n.about;
    return seq === undefined ? href.drift(model, version) : href.driftReport(model, version, seq);
  }
  if (!SEARCHABLE.has(n.kind) || n.kind === found) return null;
  return href.lineage(n.kind === "model" ? n.label.replace(/^model /, "") : n.detail);
}
const shortDetail = (d: string): string => short(d.replace(/^sha256:/, ""), 20);

export function LineagePage({ q }: { q: string }) {
  const [text, setText] = useState(q);
  const loaded = useApi(q ? `/api/lineage/search?${new URLSearchParams({ q }).toString()}` : null, LineageGraph);
  return (
    <>
      <Title>Lineage</Title>
      <form
        class="search"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          location.hash = href.lineage(text.trim());
        }}
      >
        <label for="lineage-q">
          Prediction request id, model version (NAME:VERSION or NAME@ALIAS), run id or dataset id
        </label>
        <div class="row">
          <input
            id="lineage-q"
            name="q"
            type="search"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            autoComplete="off"
            spellcheck={false}
            required
          />
          <button type="submit">Search</button>
        </div>
      </form>
      {q ? (
        <Show loaded={loaded} render={(g) => <GraphView g={g} />} />
      ) : (
        <p>Search any id to see where it came from: prediction → model → run → dataset → commit and image.</p>
      )}
    </>
  );
}

function GraphView({ g }: { g: Graph }) {
  // Left to right where there is room, top to bottom on a phone.
  const layout = layoutGraph(g, shortDetail, matchMedia("(max-width: 700px)").matches ? "TB" : "LR");
  const kindOf = new Map(g.nodes.map((n) => [n.id, n]));
  // The model version whose lineage can be verified: the one searched, or the one a prediction or run came from.
  const model = g.nodes.find((n) => n.kind === "model")?.label.replace(/^model /, "");
  return (
    <section aria-labelledby="graph-title">
      <h2 id="graph-title">{`Lineage of ${g.found} ${g.query}`}</h2>
      <Scroll label="Lineage graph" extra="graph">
        <svg
          viewBox={`0 0 ${layout.width} ${layout.height}`}
          width={layout.width}
          height={layout.height}
          role="group"
          aria-label={`Lineage graph: ${g.nodes.length} nodes, ${g.edges.length} edges`}
        >
          <defs>
            <marker
              id="arrow"
              viewBox="0 0 10 10"
              refX="10"
              refY="5"
              markerWidth="7"
              markerHeight="7"
              orient="auto-start-reverse"
            >
              <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
            </marker>
          </defs>
          <Edges layout={layout} />
          {g.nodes.map((n) => {
            const p = layout.nodes.get(n.id);
            if (!p) return null;
            const box = (
              <>
                <rect
                  x={p.x - p.width / 2}
                  y={p.y - p.height / 2}
                  width={p.width}
                  height={p.height}
                  rx="6"
                  class={`node ${n.kind}`}
                />
                <text x={p.x} y={p.y - 6} text-anchor="middle" class="label">
                  {n.label}
                </text>
                <text x={p.x} y={p.y + 14} text-anchor="middle" class="detail">
                  {shortDetail(n.detail)}
                </text>
              </>
            );
            const link = nodeLink(n, g.found);
            return link ? (
              // Named by what it shows (the table below has the full ids): a link's name must match its text.
              <a key={n.id} href={link} class="node-link">
                {box}
              </a>
            ) : (
              <g key={n.id} role="img" aria-label={`${n.label}, ${DETAIL[n.kind]} ${n.detail}`}>
                {box}
              </g>
            );
          })}
        </svg>
      </Scroll>
      <Scroll label="Nodes of the graph">
        <table>
          <caption>Nodes of the graph, with their full ids and digests</caption>
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Kind</th>
              <th scope="col">Id or digest</th>
              <th scope="col">Leads to</th>
            </tr>
          </thead>
          <tbody>
            {g.nodes.map((n) => (
              <tr key={n.id}>
                <th scope="row">{n.label}</th>
                <td>{n.kind}</td>
                <td>
                  <code class="id">{n.detail}</code>
                </td>
                <td>
                  {g.edges
                    .filter((e) => e.from === n.id)
                    .map((e) => `${e.rel.replace("_", " ")} ${kindOf.get(e.to)?.label ?? e.to}`)
                    .join("; ") || "—"}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Scroll>
      {model ? <VerifyPanel model={model} /> : null}
    </section>
  );
}

/** `sightline lineage verify` from the browser: every digest recomputed from the stored bytes, check by check. */
function VerifyPanel({ model }: { model: string }) {
  const [state, setState] = useState<
    | { kind: "idle" }
    | { kind: "running" }
    | { kind: "done"; result: VerifyResult }
    | { kind: "failed"; message: string }
  >({ kind: "idle" });
  const run = (): void => {
    setState({ kind: "running" });
    getJson(`/api/lineage/verify?${new URLSearchParams({ model }).toString()}`, VerifyResult).then(
      (result) => setState({ kind: "done", result }),
      (err: unknown) => setState({ kind: "failed", message: err instanceof Error ? err.message : String(err) }),
    );
  };
  return (
    <section aria-labelledby="verify-title">
      <h2 id="verify-title">Verify</h2>
      <p class="hint">Recomputes the dataset id and every file's, model's and card's digest from the stored bytes.</p>
      <button type="button" onClick={run} disabled={state.kind === "running"}>
        {`Verify ${model} from the stored bytes`}
      </button>
      <p role="status">
        {state.kind === "running"
          ? "Verifying…"
          : state.kind === "done"
            ? `${state.result.ok ? "Verified" : "MISMATCH"}: ${state.result.checks.filter((c) => c.ok).length} of ${state.result.checks.length} checks passed`
            : ""}
      </p>
      {state.kind === "failed" ? <p role="alert">{state.message}</p> : null}
      {state.kind === "done" ? (
        <Scroll label="Verification checks">
          <table class="verify">
            <caption>{`Checks of ${state.result.model}`}</caption>
            <thead>
              <tr>
                <th scope="col">Check</th>
                <th scope="col">Subject</th>
                <th scope="col">Expected</th>
                <th scope="col">Actual</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>
              {state.result.checks.map((c, i) => (
                <tr key={i}>
                  <th scope="row">{c.check}</th>
                  <td>{c.subject}</td>
                  <td>
                    <code class="id">{c.expected}</code>
                  </td>
                  <td>
                    <code class="id">{c.actual}</code>
                  </td>
                  <td>{c.ok ? "ok" : `FAILED${c.detail ? `: ${c.detail}` : ""}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      ) : null}
    </section>
  );
}

function Edges({ layout }: { layout: Layout }) {
  return (
    <g aria-hidden="true">
      {layout.edges.map((e) => (
        <path
          key={`${e.from}>${e.to}`}
          class="edge"
          marker-end="url(#arrow)"
          d={e.points.map((pt, i) => `${i === 0 ? "M" : "L"} ${pt.x.toFixed(1)} ${pt.y.toFixed(1)}`).join(" ")}
        />
      ))}
    </g>
  );
}
