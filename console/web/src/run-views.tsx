import { useState } from "preact/hooks";
import { TimeChart } from "./chart.tsx";
import { num } from "./format.ts";

/** Series colours, distinguishable and AA-contrasting on white. */
export const PALETTE = ["#0b57d0", "#b3261e", "#146c2e", "#7c4a03", "#6f2da8", "#00696f", "#a0336b", "#3c4043"];

type Stream = Record<string, number>[];
/** Where a line of the stream is: its epoch, else its step, else its position. */
const xOf = (line: Record<string, number>, i: number): number => line.epoch ?? line.step ?? i + 1;
const NOT_PLOTTED = new Set(["epoch", "step", "timestamp"]);

/**
 * Per-epoch (or per-step) curves of one metric, one series per run, with a picker of the metrics the streams hold;
 * a table under it holds the same numbers.
 */
export function MetricCurves({ streams, id }: { streams: { label: string; stream: Stream }[]; id: string }) {
  const metrics = [...new Set(streams.flatMap((s) => s.stream.flatMap((l) => Object.keys(l))))]
    .filter((k) => !NOT_PLOTTED.has(k))
    .sort();
  const [metric, setMetric] = useState(metrics.includes("accuracy") ? "accuracy" : (metrics[0] ?? ""));
  if (metrics.length === 0) return <p>No metric was streamed.</p>;
  const xs = [...new Set(streams.flatMap((s) => s.stream.map(xOf)))].sort((a, b) => a - b);
  const byX = streams.map((s) => new Map(s.stream.map((l, i) => [xOf(l, i), l[metric]])));
  const series = streams.map((s, i) => ({
    label: s.label,
    stroke: PALETTE[i % PALETTE.length]!,
    values: xs.map((x) => byX[i]!.get(x) ?? null),
  }));
  const unit = streams.some((s) => s.stream.some((l) => l.epoch !== undefined)) ? "epoch" : "step";
  return (
    <>
      <form class="search" onSubmit={(e) => e.preventDefault()}>
        <label for={`${id}-metric`}>Metric</label>
        <select id={`${id}-metric`} value={metric} onChange={(e) => setMetric(e.currentTarget.value)}>
          {metrics.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
      </form>
      <TimeChart
        times={xs}
        time={false}
        yRange={null}
        xLabel={unit}
        yLabel={metric}
        series={series}
        summary={`${metric} per ${unit} of ${streams.map((s) => s.label).join(", ")}`}
      />
      <details>
        <summary>{`${metric} per ${unit}, as a table`}</summary>
        <table class="inner">
          <thead>
            <tr>
              <th scope="col">{unit}</th>
              {streams.map((s) => (
                <th scope="col" key={s.label}>
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {xs.map((x, j) => (
              <tr key={x}>
                <th scope="row">{x}</th>
                {series.map((s) => (
                  <td key={s.label}>{metricText(s.values[j])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </>
  );
}

/** A confusion matrix as a table: rows are the true classes, columns the predicted ones. */
export function Confusion({
  label,
  confusion,
}: {
  label: string;
  confusion: { classes: string[]; matrix: number[][] };
}) {
  const total = confusion.matrix.flat().reduce((a, b) => a + b, 0);
  const right = confusion.matrix.reduce((s, row, i) => s + (row[i] ?? 0), 0);
  return (
    <table class="confusion">
      <caption>{`${label}: ${right} of ${total} held-out images right (rows true, columns predicted)`}</caption>
      <thead>
        <tr>
          <td />
          {confusion.classes.map((c) => (
            <th scope="col" key={c}>
              {c}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {confusion.matrix.map((row, i) => (
          <tr key={confusion.classes[i]}>
            <th scope="row">{confusion.classes[i]}</th>
            {row.map((n, j) => (
              <td key={j} class={i === j ? "diag" : n > 0 ? "off" : ""}>
                {n}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export const paramText = (v: string | number | boolean | null | undefined): string =>
  v === undefined ? "—" : v === null ? "null" : String(v);

/** A metric's value: whole numbers (epochs, counts) as they are, others to four places. */
export const metricText = (v: number | null | undefined): string =>
  v === null || v === undefined ? "—" : Number.isInteger(v) ? String(v) : num(v);
