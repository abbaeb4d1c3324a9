// A time-series chart (uPlot). uPlot positions its elements through the CSSOM, which the
// dashboard's CSP allows (only inline style attributes and elements in HTML are refused);
// its stylesheet is bundled like ours.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  values: (number | null)[];
  /** A fixed colour (e.g. red for 5xx); else one from the palette. */
  color?: string;
}

const COLORS = ['#2457d6', '#1c7c43', '#b42318', '#8a5a00', '#7a3dd1', '#0e7490', '#c2410c', '#475569'];
const WIDTH = 590;
const HEIGHT = 190;

/** `times` in seconds; one line per series. The chart is rebuilt only when the series change. */
export function TimeChart({ title, unit, times, series }: { title: string; unit: string; times: number[]; series: Series[] }) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const labels = series.map((s) => s.label).join('\n');

  useEffect(() => {
    if (holder.current === null) return undefined;
    const opts: uPlot.Options = {
      width: WIDTH,
      height: HEIGHT,
      scales: { x: { time: true } },
      axes: [{}, { label: unit, size: 60 }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: s.color ?? COLORS[i % COLORS.length]!, width: 2, spanGaps: true }))],
    };
    plot.current = new uPlot(opts, [times, ...series.map((s) => s.values)], holder.current);
    return () => {
      plot.current?.destroy();
      plot.current = undefined;
    };
    // Rebuilt for a new set of series; new points go through setData below.
  }, [labels, unit]);

  useEffect(() => {
    plot.current?.setData([times, ...series.map((s) => s.values)]);
  }, [times, series]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={holder} />
    </figure>
  );
}
