import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

/** Colours from the page's CSS variables, so the chart follows the light or dark scheme. */
function palette() {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string) => css.getPropertyValue(name).trim();
  return { text: v('--text-muted'), grid: v('--border'), line: v('--accent'), fill: v('--accent-soft') };
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400];
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/**
 * Throughput over time (uPlot): x in seconds since the epoch, y in lines per second.
 * Created once, then fed with setData; resized with its container.
 */
export function ThroughputChart({ times, rates, label }: { times: number[]; rates: number[]; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = host.current!;
    const c = palette();
    const axis = { stroke: c.text, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 } };
    const opts: uPlot.Options = {
      width: Math.max(280, el.clientWidth),
      height: 220,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] } },
      axes: [
        // Whole seconds at least: the labels show hh:mm:ss, so finer ticks would repeat a label.
        { ...axis, space: 90, incrs: TIME_STEPS, values: (_u, ticks) => ticks.map((t) => clock.format(new Date(t * 1000))) },
        { ...axis, size: 56, values: (_u, ticks) => ticks.map((t) => `${+t.toFixed(1)}/s`) },
      ],
      series: [{}, { label: 'lines/s', stroke: c.line, fill: c.fill, width: 2, points: { show: false } }],
    };
    plot.current = new uPlot(opts, [[], []], el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(280, el.clientWidth), height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData([times, rates]);
  }, [times, rates]);

  return <div ref={host} class="chart" role="img" aria-label={label} />;
}
