import { useState } from "preact/hooks";
import type { DriftHistory, DriftWindowReport } from "../../api/schemas.ts";
import { TimeChart, type Series } from "./chart.tsx";
import { HistogramChart } from "./histogram-chart.tsx";
import { num, pct } from "./format.ts";
import { Scroll } from "./ui.tsx";

/*
 * The drift pages' parts, each drawn from the data it is given (no fetching), so another page or a static report
 * can draw them from the same API responses.
 */

export type DriftTestRow = DriftWindowReport["verdict"]["tests"][number];
type HistoryTest = DriftHistory["reports"][number]["tests"][number];
export type HistogramItem = Extract<DriftWindowReport["histograms"], { ok: true }>["items"][number];

/** What a strength is, said where it is shown (core/drift/queries.ts testStrength computes it). */
export const STRENGTH_MEANING =
  "strength = × the test's drift threshold: statistic ÷ threshold for a distance, log p ÷ log α for a p-value; drift above 1";

// Distinct on white (≥ 3:1); past ten tests the dash pattern tells lines of one colour apart.
const PALETTE = [
  "#0b57d0",
  "#c2410c",
  "#146c2e",
  "#7b1fa2",
  "#b3261e",
  "#00695c",
  "#5d4037",
  "#ad1457",
  "#455a64",
  "#827717",
];
const DASHES: (number[] | undefined)[] = [undefined, [8, 4], [2, 3], [10, 3, 2, 3]];
/** Strengths below this are drawn at it: a log axis has no 0 (p = 1 is strength 0). */
const FLOOR = 0.01;

const strengthText = (s: number): string => (s >= 100 ? s.toFixed(0) : s >= 10 ? s.toFixed(1) : s.toFixed(2));

/** Each test's strength over the windows, one line per test and the drift line at 1; tests can be hidden. */
export function StrengthChart({
  reports,
}: {
  reports: { seq: number; window: { to: string }; tests: Pick<HistoryTest, "name" | "strength" | "drifted">[] }[];
}) {
  const names = [...new Set(reports.flatMap((r) => r.tests.map((t) => t.name)))];
  const [hidden, setHidden] = useState<ReadonlySet<string>>(new Set());
  const style = (i: number) => ({
    stroke: PALETTE[i % PALETTE.length]!,
    dash: DASHES[Math.floor(i / PALETTE.length) % DASHES.length],
  });
  const strengthOf = (name: string) => reports.map((r) => r.tests.find((t) => t.name === name)?.strength ?? null);
  const all = names.flatMap((n) => strengthOf(n).filter((s): s is number => s !== null));
  const lo = 10 ** Math.floor(Math.log10(Math.max(FLOOR, Math.min(0.1, ...all))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(10, ...all)));
  const series: Series[] = [
    ...names.flatMap((name, i) => {
      if (hidden.has(name)) return [];
      const { stroke, dash } = style(i);
      return [
        {
          label: name,
          stroke,
          ...(dash ? { dash } : {}),
          values: strengthOf(name).map((s) => (s === null ? null : Math.max(FLOOR, s))),
        },
      ];
    }),
    { label: "drift threshold", stroke: "#444746", dash: [4, 4], values: reports.map(() => 1) },
  ];
  const crossed = names.filter((n) => reports.some((r) => r.tests.some((t) => t.name === n && t.drifted)));
  const peaks = names.map((name) => {
    const values = strengthOf(name);
    const top = values.reduce<number>((best, s, i) => (s !== null && s > (values[best] ?? -1) ? i : best), 0);
    return `${name} ${strengthText(values[top] ?? 0)} at its strongest (window ${reports[top]?.seq ?? "?"})`;
  });
  const summary = `Strength of ${names.length} tests over ${reports.length} windows, × each test's drift threshold on a log scale, drift above 1: ${peaks.join("; ")}. ${crossed.length} of ${names.length} tests crossed the threshold${crossed.length ? ` (${crossed.join(", ")})` : ""}.`;
  const toggle = (name: string) =>
    setHidden((h) => {
      const next = new Set(h);
      if (!next.delete(name)) next.add(name);
      return next;
    });
  return (
    <>
      <p class="hint">{STRENGTH_MEANING}.</p>
      {/* The checkboxes below choose the tests: uPlot's legend only shows the values under the pointer. */}
      <div class="strength-chart">
        <TimeChart
          times={reports.map((r) => Date.parse(r.window.to) / 1000)}
          yLabel="strength (× threshold, log)"
          summary={summary}
          series={series}
          yRange={[lo, hi]}
          log
        />
      </div>
      <fieldset class="toggles">
        <legend>Tests shown</legend>
        <div class="actions">
          <button type="button" onClick={() => setHidden(new Set())}>
            All tests
          </button>
          <button type="button" onClick={() => setHidden(new Set(names.filter((n) => !crossed.includes(n))))}>
            Only tests that drifted
          </button>
        </div>
        <ul>
          {names.map((name, i) => (
            <li key={name}>
              <label>
                <input type="checkbox" checked={!hidden.has(name)} onChange={() => toggle(name)} />
                <span
                  class={style(i).dash ? "swatch dashed" : "swatch"}
                  style={{ borderColor: style(i).stroke }}
                  aria-hidden="true"
                />
                {name}
                {crossed.includes(name) ? <span class="fail"> (drifted)</span> : null}
              </label>
            </li>
          ))}
        </ul>
      </fieldset>
    </>
  );
}

/** One window's tests: statistic, p-value, the drift rule, the strength and the verdict. */
export function DriftTestsTable({
  tests,
  caption,
  inner = false,
}: {
  tests: Pick<DriftTestRow, "name" | "test" | "statistic" | "pValue" | "threshold" | "drifted" | "strength">[];
  caption: string;
  /** Nested in another table's cell: a smaller table, its caption for screen readers only. */
  inner?: boolean;
}) {
  return (
    <table class={inner ? "inner" : undefined}>
      <caption class={inner ? "visually-hidden" : undefined}>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Test of</th>
          <th scope="col">Test</th>
          <th scope="col">Statistic</th>
          <th scope="col">p-value</th>
          <th scope="col">Drift when</th>
          <th scope="col">Strength</th>
          <th scope="col">Verdict</th>
        </tr>
      </thead>
      <tbody>
        {tests.map((t) => (
          <tr key={t.name}>
            <th scope="row">{t.name}</th>
            <td>{t.test}</td>
            <td>{num(t.statistic)}</td>
            <td>{t.pValue === null ? "—" : num(t.pValue)}</td>
            <td>{t.pValue === null ? `stat ≥ ${t.threshold}` : `p < ${t.threshold}`}</td>
            <td>{`${strengthText(t.strength)}×`}</td>
            <td class={t.drifted ? "fail" : "pass"}>{t.drifted ? "drift" : "ok"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Bin labels: numeric edges to three significant digits, categories as they are. */
function binLabels(h: HistogramItem): string[] {
  if (h.kind === "classes") return h.classes;
  const f = (x: number) => Number(x.toPrecision(3)).toString();
  return h.reference.map((_, i) => `${f(h.edges[i]!)} – ${f(h.edges[i + 1]!)}`);
}

function describe(h: HistogramItem): string {
  const head = `${h.name} (${h.test}), reference ${h.referenceCount} values against the window's ${h.windowCount}`;
  if (h.kind === "classes") {
    const parts = h.classes.map((c, i) => `${c} ${pct(h.reference[i]!)} → ${pct(h.window[i]!)}`);
    return `${head}: ${parts.join(", ")}; ${pct(h.moved)} of the mass moved.`;
  }
  const centre = (shares: number[]) => shares.reduce((s, p, i) => s + (p * (h.edges[i]! + h.edges[i + 1]!)) / 2, 0);
  return `${head}, ${h.reference.length} bins from ${num(h.edges[0]!, 3)} to ${num(h.edges.at(-1)!, 3)}: the centre of the mass is ${num(centre(h.window), 3)} in the window and ${num(centre(h.reference), 3)} in the reference; ${pct(h.moved)} of the mass moved.`;
}

/** One test's reference-versus-window histogram, its summary, and its shares as a table. */
export function HistogramFigure({
  histogram: h,
  drifted,
}: {
  histogram: HistogramItem;
  drifted?: boolean | undefined;
}) {
  const summary = describe(h);
  const labels = binLabels(h);
  return (
    <figure class="histogram-figure">
      <h3>
        {h.name}
        {drifted === undefined ? null : <span class={drifted ? "fail" : "pass"}>{drifted ? " — drift" : " — ok"}</span>}
      </h3>
      <HistogramChart
        {...(h.kind === "classes" ? { categories: h.classes } : { edges: h.edges })}
        reference={h.reference}
        window={h.window}
        summary={summary}
        xLabel={h.kind === "classes" ? "predicted class" : h.name}
      />
      <figcaption class="hint">{summary}</figcaption>
      <details>
        <summary>Shares per bin</summary>
        <Scroll label={`Shares per bin of ${h.name}`}>
          <table class="inner">
            <caption class="visually-hidden">{`Reference and window shares per bin of ${h.name}`}</caption>
            <thead>
              <tr>
                <th scope="col">{h.kind === "classes" ? "Class" : "Bin"}</th>
                <th scope="col">Reference</th>
                <th scope="col">Window</th>
              </tr>
            </thead>
            <tbody>
              {labels.map((label, i) => (
                <tr key={i}>
                  <th scope="row">{label}</th>
                  <td>{pct(h.reference[i]!)}</td>
                  <td>{pct(h.window[i]!)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      </details>
    </figure>
  );
}
