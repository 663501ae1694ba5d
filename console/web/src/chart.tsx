import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

export type Series = { label: string; values: (number | null)[]; stroke: string; dash?: number[] };

/**
 * A time chart (uPlot, canvas). It is drawn for the eyes; the table next to it holds the same numbers for everyone,
 * so the canvas is labelled as one image with a summary.
 */
export function TimeChart({
  times,
  series,
  summary,
  yLabel,
  xLabel,
  time = true,
  yRange = [0, 1],
  log = false,
}: {
  /** The x values: seconds since the epoch, or (with `time` false) any numbers, such as epochs. */
  times: number[];
  series: Series[];
  summary: string;
  yLabel: string;
  xLabel?: string;
  time?: boolean;
  /** Null: fitted to the data. */
  yRange?: [number, number] | null;
  /** A log10 y axis (values must be positive). */
  log?: boolean;
}) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const width = () => Math.max(280, host.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 260,
        scales: {
          x: { time },
          y: { ...(yRange ? { range: yRange } : {}), ...(log ? { distr: 3 as const, log: 10 as const } : {}) },
        },
        // Counted x values (epochs, steps) tick at whole numbers.
        axes: [
          {
            ...(xLabel ? { label: xLabel } : {}),
            ...(time ? {} : { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }),
          },
          { label: yLabel },
        ],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.stroke,
            width: 2,
            ...(s.dash ? { dash: s.dash } : {}),
            points: { show: true, size: 6 },
          })),
        ],
      },
      [times, ...series.map((s) => s.values)] as uPlot.AlignedData,
      host,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: 260 }));
    resize.observe(host);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [times.join(","), series.map((s) => `${s.label}:${s.values.join(",")}`).join("|"), String(yRange), log]);
  return <div class="chart" ref={el} role="img" aria-label={summary} />;
}
