import type { DriftReport } from "../../core/drift/detect.ts";
import type { ReferenceProfile } from "../../core/drift/profile.ts";
import type { PredictionRecord } from "../../core/drift/verdict.ts";
import type { PredictionLineage } from "../../core/lineage/queries.ts";
import type { AuditRecord } from "../../core/registry/audit.ts";
import type { ModelVersion } from "../../core/registry/model-version.ts";

/** What the demo's report shows; gathered by the demo, rendered here to one self-contained HTML file. */
export interface DemoReportData {
  generatedAt: string;
  model: string;
  datasets: { id: string; name: string }[];
  versions: ModelVersion[];
  /** Live traffic per phase: which version answered, and how often it was right. */
  traffic: { phase: string; version: string; requests: number; failed: number; accuracy: number }[];
  drift: { report: DriftReport; profile: ReferenceProfile | null; records: PredictionRecord[] }[];
  lineage: PredictionLineage | null;
  verified: { ok: boolean; checks: number } | null;
  audit: AuditRecord[];
}

const esc = (v: unknown): string =>
  String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const f4 = (x: number | undefined): string => (x === undefined ? "—" : x.toFixed(4));
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const short = (id: string): string => (id.length > 16 ? `${id.slice(0, 12)}…` : id);

/** The report: metrics before and after, drift tests with charts, the lineage of one prediction, the audit trail. */
export function renderReport(d: DemoReportData): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sightline demo — ${esc(d.model)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1d232a;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0}td,th{border:1px solid #d0d7de;padding:.25rem .55rem;text-align:left}
th{background:#f3f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}.drift{color:#b42318;font-weight:600}.ok{color:#067647}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}figcaption{font-size:.85rem;color:#57606a}code{font-size:.9em}
</style></head><body>
<h1>Sightline demo: ${esc(d.model)}</h1>
<p>Generated ${esc(d.generatedAt)}. Everything below was read back from the metadata and blob stores of this run.</p>
${modelsSection(d)}
${trafficSection(d)}
${driftSection(d)}
${lineageSection(d)}
${auditSection(d)}
</body></html>
`;
}

function modelsSection(d: DemoReportData): string {
  const names = new Map(d.datasets.map((x) => [x.id, x.name]));
  const datasetIds = d.datasets.map((x) => x.id);
  const metric = (v: ModelVersion, ds: string, m: string): number | undefined =>
    v.datasetId === ds ? v.metrics[m] : v.evaluations[ds]?.[m];
  const head = datasetIds
    .map((id) => `<th>accuracy on ${esc(names.get(id) ?? short(id))}</th><th>macro-F1</th>`)
    .join("");
  const rows = d.versions
    .map(
      (v) =>
        `<tr><td>${esc(`${v.name}:${v.version}`)}</td><td><code>${esc(short(v.datasetId))}</code> ${esc(names.get(v.datasetId) ?? "")}</td>${datasetIds.map((ds) => `<td class="n">${f4(metric(v, ds, "accuracy"))}</td><td class="n">${f4(metric(v, ds, "macro_f1"))}</td>`).join("")}</tr>`,
    )
    .join("\n");
  return `<h2>Models before and after</h2>
<p>Held-out metrics of each version on each dataset (its own, from training; the other, from the gate's evaluation in ONNX Runtime).</p>
<table><tr><th>version</th><th>trained on</th>${head}</tr>
${rows}</table>`;
}

function trafficSection(d: DemoReportData): string {
  const rows = d.traffic
    .map(
      (t) =>
        `<tr><td>${esc(t.phase)}</td><td>${esc(t.version)}</td><td class="n">${t.requests}</td><td class="n">${t.failed}</td><td class="n">${pct(t.accuracy)}</td></tr>`,
    )
    .join("\n");
  return `<h2>Live traffic</h2>
<table><tr><th>phase</th><th>answered by</th><th>requests</th><th>failed</th><th>accuracy (true labels)</th></tr>
${rows}</table>`;
}

function driftSection(d: DemoReportData): string {
  if (d.drift.length === 0) return "<h2>Drift</h2><p>No drift report.</p>";
  return `<h2>Drift reports</h2>\n${d.drift.map((x) => driftReport(x.report, x.profile, x.records)).join("\n")}`;
}

function driftReport(r: DriftReport, profile: ReferenceProfile | null, records: PredictionRecord[]): string {
  const v = r.verdict;
  const rows = v.tests
    .map(
      (t) =>
        `<tr><td>${esc(t.name)}</td><td>${esc(t.test)}</td><td class="n">${t.statistic.toPrecision(4)}</td><td class="n">${t.pValue === null ? "—" : t.pValue.toExponential(2)}</td><td>${t.pValue === null ? `≥ ${t.threshold}` : `p &lt; ${t.threshold}`}</td><td class="${t.drifted ? "drift" : "ok"}">${t.drifted ? "drift" : "ok"}</td><td class="n">${t.referenceSize} / ${t.currentSize}</td></tr>`,
    )
    .join("\n");
  const charts = profile
    ? v.tests
        .filter((t) => t.drifted && profile.features[t.name])
        .map((t) => histogramChart(t.name, profile, records))
        .join("\n")
    : "";
  return `<h3>${esc(r.reportId)} — <span class="${v.drift ? "drift" : "ok"}">${v.drift ? "drift" : "no drift"}</span> (severity ${pct(v.severity)})</h3>
<p>Model ${esc(`${r.model}:${r.version}`)}, window ${r.window.seq}: ${r.window.count} predictions (${r.window.embeddings} with embeddings), ${esc(r.window.from)} → ${esc(r.window.to)}.</p>
${scoreChart(v.tests)}
<table><tr><th>test of</th><th>test</th><th>statistic</th><th>p-value</th><th>drift when</th><th>verdict</th><th>ref / cur</th></tr>
${rows}</table>
${v.skipped.length ? `<p>Skipped: ${v.skipped.map((s) => `${esc(s.name)} (${esc(s.reason)})`).join("; ")}.</p>` : ""}
<div class="charts">${charts}</div>`;
}

/** One bar per test: how far past (or short of) its threshold it is, on a log scale for p-values. */
function scoreChart(tests: DriftReport["verdict"]["tests"]): string {
  const w = 640;
  const rowH = 22;
  const h = tests.length * rowH + 10;
  const strength = (t: (typeof tests)[number]): number =>
    t.pValue === null
      ? Math.min(3, t.statistic / t.threshold)
      : Math.min(3, Math.log10(1 / Math.max(t.pValue, 1e-300)) / Math.log10(1 / t.threshold));
  const x0 = 140;
  const scale = (w - x0 - 20) / 3;
  const bars = tests
    .map((t, i) => {
      const s = strength(t);
      return `<text x="${x0 - 6}" y="${i * rowH + 19}" text-anchor="end" font-size="12">${esc(t.name)}</text><rect x="${x0}" y="${i * rowH + 6}" width="${Math.max(1, s * scale).toFixed(1)}" height="16" fill="${t.drifted ? "#d92d20" : "#12b76a"}"/>`;
    })
    .join("");
  return `<figure><svg width="${w}" height="${h}" role="img" aria-label="drift strength per test"><line x1="${x0 + scale}" y1="0" x2="${x0 + scale}" y2="${h}" stroke="#57606a" stroke-dasharray="4 3"/>${bars}</svg>
<figcaption>Strength of each test relative to its threshold (dashed line = threshold; p-values on a log scale, capped at 3×).</figcaption></figure>`;
}

/** Reference (profile histogram) against the window, same bins, as shares. */
function histogramChart(feature: string, profile: ReferenceProfile, records: PredictionRecord[]): string {
  const { edges, counts } = profile.features[feature]!.histogram;
  const current = new Array<number>(counts.length).fill(0);
  for (const r of records) {
    const v = r.features[feature];
    if (v === undefined) continue;
    let b = edges.findIndex((e, i) => i > 0 && v < e) - 1;
    if (b < 0) b = v >= edges.at(-1)! ? counts.length - 1 : 0;
    current[Math.min(b, counts.length - 1)]!++;
  }
  const share = (xs: number[]): number[] => {
    const total = xs.reduce((a, b) => a + b, 0) || 1;
    return xs.map((x) => x / total);
  };
  const ref = share(counts);
  const cur = share(current);
  const w = 340;
  const h = 160;
  const max = Math.max(...ref, ...cur, 1e-9);
  const bw = (w - 20) / counts.length;
  const bar = (xs: number[], color: string, offset: number): string =>
    xs
      .map(
        (x, i) =>
          `<rect x="${(10 + i * bw + offset).toFixed(1)}" y="${(h - 20 - (x / max) * (h - 30)).toFixed(1)}" width="${(bw / 2 - 1).toFixed(1)}" height="${((x / max) * (h - 30)).toFixed(1)}" fill="${color}"/>`,
      )
      .join("");
  return `<figure><svg width="${w}" height="${h}" role="img" aria-label="${esc(feature)} histogram">${bar(ref, "#2e90fa", 0)}${bar(cur, "#f79009", bw / 2)}<text x="10" y="${h - 4}" font-size="11">${edges[0]!.toFixed(3)}</text><text x="${w - 10}" y="${h - 4}" font-size="11" text-anchor="end">${edges.at(-1)!.toFixed(3)}</text></svg>
<figcaption>${esc(feature)}: reference (blue) and this window (orange), share of images per bin.</figcaption></figure>`;
}

function lineageSection(d: DemoReportData): string {
  if (!d.lineage) return "<h2>Lineage</h2><p>No served prediction was recorded.</p>";
  const { prediction: p, lineage: l } = d.lineage;
  const nodes: [string, string][] = [
    ["prediction", `${p.requestId} → ${p.label} (${f4(p.confidence)}) at ${p.time}`],
    ["model", `${l.model.name}:${l.model.version} — ${short(l.model.modelDigest)}`],
    ["run", l.run ? `${l.run.runId} (${l.run.status})` : "—"],
    [
      "training request",
      l.request
        ? `${l.request.requestId} — trigger ${l.request.trigger}${l.request.driftReportId ? `, drift report ${l.request.driftReportId}` : ""}`
        : "—",
    ],
    [
      "dataset",
      `${short(l.dataset.datasetId)} ${l.dataset.record?.name ?? ""} — ${l.dataset.record ? `${l.dataset.record.files} files` : ""}`,
    ],
  ];
  const boxW = 760;
  const boxH = 42;
  const gap = 26;
  const svg = nodes
    .map(([kind, text], i) => {
      const y = i * (boxH + gap);
      const arrow =
        i < nodes.length - 1
          ? `<line x1="${boxW / 2}" y1="${y + boxH}" x2="${boxW / 2}" y2="${y + boxH + gap - 4}" stroke="#57606a" marker-end="url(#arrow)"/>`
          : "";
      return `<rect x="1" y="${y + 1}" width="${boxW - 2}" height="${boxH}" rx="6" fill="#f3f5f7" stroke="#8c959f"/><text x="12" y="${y + 17}" font-size="11" fill="#57606a">${esc(kind)}</text><text x="12" y="${y + 33}" font-size="13">${esc(text)}</text>${arrow}`;
    })
    .join("");
  const height = nodes.length * (boxH + gap);
  return `<h2>Lineage of one served prediction</h2>
<svg width="${boxW}" height="${height}" role="img" aria-label="lineage graph"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>${svg}</svg>
<p>${d.verified ? `${d.verified.ok ? '<span class="ok">Verified</span>' : '<span class="drift">FAILED</span>'}: the dataset id and model digest recomputed from the stored bytes (${d.verified.checks} checks).` : ""}
Promotions of this version: ${l.aliasMoves.map((m) => esc(`${m.action} ${m.alias} ${m.from ?? "∅"} → ${m.to} by ${m.actor}`)).join("; ") || "none"}.</p>`;
}

function auditSection(d: DemoReportData): string {
  const rows = d.audit
    .map(
      (a) =>
        `<tr><td>${esc(a.time)}</td><td>${esc(a.actor)}</td><td>${esc(a.action)}</td><td>${esc(a.alias)}</td><td>${esc(a.from ?? "∅")} → ${esc(a.to ?? "∅")}</td><td>${esc(a.outcome)}</td><td>${esc(a.reason)}${a.detail ? ` — ${esc(a.detail)}` : ""}</td></tr>`,
    )
    .join("\n");
  return `<h2>Audit trail</h2>
<table><tr><th>time</th><th>who</th><th>action</th><th>alias</th><th>from → to</th><th>outcome</th><th>why</th></tr>
${rows}</table>`;
}
