import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

/** The two sides' colours: blue and orange stay apart for the common colour-vision deficiencies. */
export const REFERENCE_COLOUR = "#0b57d0";
export const WINDOW_COLOUR = "#c2410c";

/**
 * Reference against window over the same bins (uPlot, canvas), as shares: numeric bins as overlaid steps (the
 * reference filled, the window dashed), categories as bars side by side. Drawn for the eyes: the caller gives the
 * summary the canvas is labelled with, and a table holds the same numbers.
 */
export function HistogramChart({
  edges,
  categories,
  reference,
  window: current,
  summary,
  xLabel,
  height = 200,
}: {
  /** Numeric bins: n + 1 ascending edges for n shares. */
  edges?: number[];
  /** Or categories: one name per share. */
  categories?: string[];
  reference: number[];
  window: number[];
  summary: string;
  xLabel: string;
  height?: number;
}) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const width = () => Math.max(240, host.clientWidth);
    const top = Math.max(...reference, ...current, 0.01) * 1.1;
    const y = { label: "share", values: (_u: uPlot, splits: number[]) => splits.map((v) => `${Math.round(v * 100)}%`) };
    const options: uPlot.Options = categories
      ? {
          width: width(),
          height,
          scales: { x: { time: false, range: [-0.5, categories.length - 0.5] }, y: { range: [0, top] } },
          axes: [
            {
              label: xLabel,
              splits: () => categories.map((_, i) => i),
              values: (_u, splits) => splits.map((i) => categories[i] ?? ""),
              // Ten class names side by side overlap on a narrow chart: slanted, each keeps its own room.
              ...(categories.length > 4 ? { rotate: -40, size: 80 } : {}),
            },
            y,
          ],
          series: [{}, bars("reference", REFERENCE_COLOUR, -1), bars("window", WINDOW_COLOUR, 1)],
        }
      : {
          width: width(),
          height,
          scales: { x: { time: false, range: [edges![0]!, edges!.at(-1)!] }, y: { range: [0, top] } },
          axes: [{ label: xLabel }, y],
          series: [
            {},
            {
              label: "reference",
              stroke: REFERENCE_COLOUR,
              fill: "rgba(11, 87, 208, 0.18)",
              width: 1.5,
              paths: uPlot.paths.stepped!({ align: 1 }),
              points: { show: false },
            },
            {
              label: "window",
              stroke: WINDOW_COLOUR,
              width: 2.5,
              dash: [6, 3],
              paths: uPlot.paths.stepped!({ align: 1 }),
              points: { show: false },
            },
          ],
        };
    // Steps run from each edge to the next: the last share is repeated at the last edge so its bin is drawn.
    const data: uPlot.AlignedData = categories
      ? [categories.map((_, i) => i), reference, current]
      : [edges!, [...reference, reference.at(-1) ?? 0], [...current, current.at(-1) ?? 0]];
    const plot = new uPlot(options, data, host);
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height }));
    resize.observe(host);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [String(edges), String(categories), String(reference), String(current), xLabel, height]);
  return <div class="chart histogram" ref={el} role="img" aria-label={summary} />;
}

function bars(label: string, colour: string, align: -1 | 1): uPlot.Series {
  return {
    label,
    stroke: colour,
    fill: colour,
    width: 0,
    paths: uPlot.paths.bars!({ size: [0.4, 48], align }),
    points: { show: false },
  };
}
