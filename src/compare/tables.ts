/**
 * The tables of the compare report (main table, per run, per layer) as cells, rendered to HTML or
 * Markdown with the best (lowest) mean of each column emphasised.
 */
import type { MethodStats, RunStats } from './stats.ts';
import { htmlTable, escapeHtml } from '../report/html.ts';
import { markdownTable, type Align } from '../report/markdown.ts';
import { fmtMeanSd, fmtNum, fmtPercent, fmtDuration, fmtRatio, MISSING } from '../report/format.ts';

/** Indices of the minimum finite mean of a column (ties all win). */
function best(values: number[]): Set<number> {
  const finite = values.filter(Number.isFinite);
  if (finite.length < 2) return new Set();
  const lo = Math.min(...finite);
  return new Set(values.flatMap((v, i) => (v === lo ? [i] : [])));
}

export interface Table {
  headers: string[];
  rows: string[][];
  align: Align[];
  /** Cells to emphasise, as "row,col". */
  strong: Set<string>;
}

export function mainTable(methods: MethodStats[]): Table {
  const headers = ['Method', 'Runs', 'Val perplexity', 'AvgMaxVio', 'SupMaxVio', 'EP step time', 'Wall-clock', 'vs auxloss', 'ms / step'];
  const align: Align[] = ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'];
  const rows = methods.map((m) => {
    const runs = m.seeds.length === 0 ? 'none' : m.finished === m.seeds.length ? String(m.seeds.length) : `${m.finished}/${m.seeds.length} done`;
    return [
      m.method,
      runs,
      fmtMeanSd(m.perplexity.values, 2),
      fmtMeanSd(m.avgMaxVio.values, 3),
      fmtMeanSd(m.supMaxVio.values, 3),
      fmtRatio(m.epStepTime.mean, 3),
      fmtDuration(m.wallMs.mean),
      m.method === 'auxloss' ? (Number.isFinite(m.wallMs.mean) ? 'ref.' : MISSING) : fmtPercent(m.wallVsAuxloss, 1, true),
      fmtNum(m.meanStepMs.mean, 0),
    ];
  });
  const strong = new Set<string>();
  const cols: [number, (m: MethodStats) => number][] = [
    [2, (m) => m.perplexity.mean],
    [3, (m) => m.avgMaxVio.mean],
    [4, (m) => m.supMaxVio.mean],
    [5, (m) => m.epStepTime.mean],
    [6, (m) => m.wallMs.mean],
  ];
  for (const [c, f] of cols) for (const r of best(methods.map(f))) strong.add(`${r},${c}`);
  // Capacity dropping, Expert Choice and group-limited runs: their columns, only when some run logs them.
  const extra: [string, (m: MethodStats) => string, boolean][] = [
    ['Dropped', (m) => fmtPercent(m.dropped.mean, 2), methods.some((m) => Number.isFinite(m.dropped.mean))],
    ['No expert', (m) => fmtPercent(m.unrouted.mean, 2), methods.some((m) => Number.isFinite(m.unrouted.mean))],
    ['Group AvgMaxVio', (m) => fmtMeanSd(m.groupAvgMaxVio.values, 3), methods.some((m) => Number.isFinite(m.groupAvgMaxVio.mean))],
    ['Group SupMaxVio', (m) => fmtMeanSd(m.groupSupMaxVio.values, 3), methods.some((m) => Number.isFinite(m.groupSupMaxVio.mean))],
  ];
  for (const [name, cell, shown] of extra) {
    if (!shown) continue;
    headers.push(name);
    align.push('right');
    methods.forEach((m, r) => rows[r].push(cell(m)));
  }
  return { headers, rows, align, strong };
}

export function runsTable(runs: RunStats[]): Table {
  const headers = ['Method', 'Seed', 'Steps', 'Val loss', 'Val perplexity', 'AvgMaxVio', 'SupMaxVio', 'EP step time', 'Wall-clock', 'Σ step time', 'Routing ms'];
  const align: Align[] = ['left', ...new Array<Align>(headers.length - 1).fill('right')];
  const rows = runs.map((r) => [
    r.method,
    String(r.seed),
    r.finished ? String(r.lastStep) : r.steps === 0 ? 'none' : `${r.lastStep} (unfinished)`,
    fmtNum(r.valLoss, 4),
    fmtNum(r.perplexity, 2),
    fmtNum(r.avgMaxVio, 4),
    fmtNum(r.supMaxVio, 4),
    fmtRatio(r.epStepTime, 3),
    fmtDuration(r.wallMs),
    r.steps === 0 ? MISSING : fmtDuration(r.trainMs),
    fmtNum(r.meanRoutingMs, 2),
  ]);
  return { headers, rows, align, strong: new Set() };
}

export function layerTable(methods: MethodStats[], pick: (m: MethodStats) => number[], digits: number): Table {
  const n = Math.max(0, ...methods.map((m) => pick(m).length));
  const headers = ['Method', ...Array.from({ length: n }, (_, i) => `L${i}`)];
  const align: Align[] = ['left', ...new Array<Align>(n).fill('right')];
  const rows = methods.map((m) => [m.method, ...Array.from({ length: n }, (_, i) => fmtNum(pick(m)[i], digits))]);
  const strong = new Set<string>();
  for (let c = 0; c < n; c++) for (const r of best(methods.map((m) => pick(m)[c] ?? NaN))) strong.add(`${r},${c + 1}`);
  return { headers, rows, align, strong };
}

export function toHtml(t: Table, className?: string): string {
  const rows = t.rows.map((r, i) => r.map((c, j) => (t.strong.has(`${i},${j}`) ? `<strong>${escapeHtml(c)}</strong>` : escapeHtml(c))));
  return htmlTable(t.headers, rows, t.align, { htmlCells: true, className });
}

export function toMarkdown(t: Table): string {
  const rows = t.rows.map((r, i) => r.map((c, j) => (t.strong.has(`${i},${j}`) ? `**${c}**` : c)));
  return markdownTable(t.headers, rows, t.align);
}

