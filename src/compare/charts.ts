/**
 * The charts of the compare report: MaxVio per step (a panel per layer), validation and training loss
 * (whole run and second half), step time. Each line is one method, the mean over its seeds at each step.
 */
import { layerMaxVio } from './stats.ts';
import type { RunLog } from './logs.ts';
import type { RunStats } from './stats.ts';
import { lineChart, type Series } from '../report/svg.ts';
import { chartGrid, chartCard } from '../report/html.ts';

/** One run as the report reads it. */
export interface LoadedRun {
  stats: RunStats;
  log: RunLog;
  config?: Record<string, unknown>;
}

/** Mean over runs at each x of a per-run series given as (x, y) pairs; x sorted ascending. */
function meanSeries(name: string, perRun: [number, number][][]): Series {
  const acc = new Map<number, { s: number; n: number }>();
  for (const pts of perRun) {
    for (const [x, y] of pts) {
      if (!Number.isFinite(y)) continue;
      const a = acc.get(x) ?? { s: 0, n: 0 };
      a.s += y;
      a.n++;
      acc.set(x, a);
    }
  }
  const xs = [...acc.keys()].sort((a, b) => a - b);
  return { name, x: xs, y: xs.map((x) => acc.get(x)!.s / acc.get(x)!.n) };
}

/** Trailing moving average over `w` points (w ≤ 1: unchanged); NaNs are skipped inside the window. */
export function movingAverage(y: ArrayLike<number>, w: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < y.length; i++) {
    let s = 0;
    let n = 0;
    for (let j = Math.max(0, i - Math.max(1, w) + 1); j <= i; j++) {
      if (Number.isFinite(y[j])) {
        s += y[j];
        n++;
      }
    }
    out.push(n > 0 ? s / n : NaN);
  }
  return out;
}

/** Smoothing window for noisy per-step curves: about 1/40 of the run, at least 1. */
function smoothWindow(steps: number): number {
  return steps >= 80 ? Math.round(steps / 40) : 1;
}

/** The chart sections of the report. */
export function compareCharts(methods: string[], loaded: LoadedRun[]): { heading: string; html: string }[] {
  const runsOf = (m: string): LoadedRun[] => loaded.filter((r) => r.stats.method === m);
  const nLayers = Math.max(0, ...loaded.map((r) => r.stats.layers));
  const maxSteps = Math.max(0, ...loaded.map((r) => r.log.steps.length));
  const w = smoothWindow(maxSteps);
  const smoothed = (s: Series): Series => ({ ...s, y: movingAverage(s.y, w) });
  const seedNote = loaded.length > methods.length ? 'Mean over seeds at each step.' : '';

  const panels: string[] = [];
  for (let l = 0; l < nLayers; l++) {
    const series = methods.map((m) =>
      meanSeries(
        m,
        runsOf(m).map((r) => r.log.steps.filter((s) => s.layers[l]).map((s): [number, number] => [s.step, layerMaxVio(s.layers[l])])),
      ),
    );
    panels.push(
      lineChart({ title: `Layer ${l}`, xLabel: 'step', yLabel: 'MaxVio', series, legend: false, width: 380, height: 250, yInclude: [0], yScale: 'symlog' }),
    );
  }

  const valLoss = methods.map((m) => meanSeries(m, runsOf(m).map((r) => r.log.evals.map((e): [number, number] => [e.step, e.valLoss]))));
  const trainLoss = methods.map((m) =>
    smoothed(meanSeries(m, runsOf(m).map((r) => r.log.steps.map((s): [number, number] => [s.step, s.lmLoss ?? s.loss])))),
  );
  const stepMs = methods.map((m) => smoothed(meanSeries(m, runsOf(m).map((r) => r.log.steps.map((s): [number, number] => [s.step, s.stepMs])))));
  const smoothNote = w > 1 ? ` Moving average over ${w} steps.` : '';

  /** The whole run and, zoomed in, its second half (where the methods' curves separate). */
  const fullAndTail = (title: string, yLabel: string, series: Series[]): string => {
    const lastX = Math.max(0, ...series.flatMap((s) => Array.from(s.x)));
    const tail = series.map((s) => {
      const keep = Array.from(s.x).flatMap((x, i) => (x >= lastX / 2 ? [i] : []));
      return { name: s.name, x: keep.map((i) => s.x[i]), y: keep.map((i) => s.y[i]) };
    });
    const opts = { xLabel: 'step', yLabel, legend: false, width: 540, height: 300 };
    return chartGrid(
      [lineChart({ ...opts, title: `${title}: all steps`, series }), lineChart({ ...opts, title: `${title}: second half`, series: tail })],
      methods,
      undefined,
      480,
    );
  };

  return [
    {
      heading: 'MaxVio per step',
      html:
        `<p class="note">MaxVio of each training batch, one panel per MoE layer; 0 is perfect balance. The y axis is linear up to 0.1 and logarithmic above, so that an unbalanced baseline does not flatten the balanced methods. ${seedNote}</p>` +
        chartGrid(panels, methods),
    },
    {
      heading: 'Validation loss',
      html: `<p class="note">Held-out next-token cross-entropy at each evaluation. ${seedNote}</p>` + fullAndTail('Validation loss', 'cross-entropy (nats)', valLoss),
    },
    {
      heading: 'Training loss',
      html:
        `<p class="note">Language-model loss of each training batch, without the auxiliary term.${smoothNote} ${seedNote}</p>` +
        fullAndTail('Training loss', 'cross-entropy (nats)', trainLoss),
    },
    {
      heading: 'Step time',
      html: chartCard(
        lineChart({ title: 'Training step time', xLabel: 'step', yLabel: 'ms per step', series: stepMs, yInclude: [0] }),
        `Wall-clock time of each training step on this machine (runs may have shared the CPU).${smoothNote} ${seedNote}`,
      ),
    },
  ];
}

