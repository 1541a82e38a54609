/**
 * The compare report: reads DIR/runs/<method>-s<seed>/log.jsonl (+ config.json) and DIR/compare.json,
 * and writes DIR/report.html (offline: inline CSS and SVG), DIR/summary.md and DIR/summary.json.
 *
 *   const { markdown, htmlPath } = buildCompareReport('runs/quick');
 *
 * Every number is recomputed from the step and eval lines of the logs (see stats.ts); the charts show
 * the mean over seeds at each step.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { listRunDirs, readRunLog, type RunLog } from './logs.ts';
import { runStats, methodStats, layerMaxVio, type MethodStats, type RunStats } from './stats.ts';
import { readCompareMeta, type CompareMeta } from './meta.ts';
import { sortMethods } from '../report/colors.ts';
import { lineChart, type Series } from '../report/svg.ts';
import { renderPage, htmlTable, chartGrid, chartCard, escapeHtml } from '../report/html.ts';
import { markdownTable, type Align } from '../report/markdown.ts';
import { fmtMeanSd, fmtNum, fmtPercent, fmtDuration, fmtRatio, MISSING } from '../report/format.ts';

export interface CompareReport {
  htmlPath: string;
  markdownPath: string;
  jsonPath: string;
  /** The main table as Markdown (what the CLI prints). */
  markdown: string;
  methods: MethodStats[];
  runs: RunStats[];
}

interface LoadedRun {
  stats: RunStats;
  log: RunLog;
  config?: Record<string, unknown>;
}

function readJsonFile(file: string): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
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

/** Indices of the minimum finite mean of a column (ties all win). */
function best(values: number[]): Set<number> {
  const finite = values.filter(Number.isFinite);
  if (finite.length < 2) return new Set();
  const lo = Math.min(...finite);
  return new Set(values.flatMap((v, i) => (v === lo ? [i] : [])));
}

interface Table {
  headers: string[];
  rows: string[][];
  align: Align[];
  /** Cells to emphasise, as "row,col". */
  strong: Set<string>;
}

function mainTable(methods: MethodStats[]): Table {
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
  return { headers, rows, align, strong };
}

function runsTable(runs: RunStats[]): Table {
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

function layerTable(methods: MethodStats[], pick: (m: MethodStats) => number[], digits: number): Table {
  const n = Math.max(0, ...methods.map((m) => pick(m).length));
  const headers = ['Method', ...Array.from({ length: n }, (_, i) => `L${i}`)];
  const align: Align[] = ['left', ...new Array<Align>(n).fill('right')];
  const rows = methods.map((m) => [m.method, ...Array.from({ length: n }, (_, i) => fmtNum(pick(m)[i], digits))]);
  const strong = new Set<string>();
  for (let c = 0; c < n; c++) for (const r of best(methods.map((m) => pick(m)[c] ?? NaN))) strong.add(`${r},${c + 1}`);
  return { headers, rows, align, strong };
}

function toHtml(t: Table, className?: string): string {
  const rows = t.rows.map((r, i) => r.map((c, j) => (t.strong.has(`${i},${j}`) ? `<strong>${escapeHtml(c)}</strong>` : escapeHtml(c))));
  return htmlTable(t.headers, rows, t.align, { htmlCells: true, className });
}

function toMarkdown(t: Table): string {
  const rows = t.rows.map((r, i) => r.map((c, j) => (t.strong.has(`${i},${j}`) ? `**${c}**` : c)));
  return markdownTable(t.headers, rows, t.align);
}

/** Keys (dotted paths) whose values differ between the runs' config.json files. */
function differingKeys(configs: Record<string, unknown>[]): string[] {
  const flat = (o: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> => {
    if (o && typeof o === 'object' && !Array.isArray(o)) {
      for (const [k, v] of Object.entries(o)) flat(v, prefix ? `${prefix}.${k}` : k, out);
    } else out.set(prefix, JSON.stringify(o));
    return out;
  };
  const maps = configs.map((c) => flat(c));
  const keys = new Set(maps.flatMap((m) => [...m.keys()]));
  return [...keys].filter((k) => new Set(maps.map((m) => m.get(k))).size > 1).sort();
}

function metaEntries(dir: string, meta: CompareMeta | undefined, loaded: LoadedRun[]): Record<string, string> {
  const out: Record<string, string> = {};
  if (meta) {
    out.Command = meta.command;
    if (meta.preset) out.Preset = meta.preset;
    out.Methods = meta.methods.join(', ');
    out.Seeds = meta.seeds.join(', ');
    out.Steps = String(meta.steps) + (meta.evalEvery ? `, evaluation every ${meta.evalEvery} steps` : '');
    out['Parallel runs'] = String(meta.jobs);
    if (meta.set.length > 0) out.Overrides = meta.set.map((s) => `--set ${s}`).join(' ');
    out.Configuration = `${meta.config.path}\n${JSON.stringify(meta.config.values, null, 2)}`;
  }
  const withConfig = loaded.filter((r) => r.config);
  if (withConfig.length > 0) {
    const first = withConfig[0];
    const differ = differingKeys(withConfig.map((r) => r.config!));
    out['Run configuration'] =
      `runs/${first.stats.method}-s${first.stats.seed}/config.json` +
      (differ.length > 0 ? ` (differs between runs in: ${differ.join(', ')})` : '') +
      `\n${JSON.stringify(first.config, null, 2)}`;
  }
  if (meta) {
    out['Package versions'] = Object.entries(meta.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join('\n');
    const m = meta.machine;
    out.Machine = `${m.cores} × ${m.cpuModel}, ${m.totalMemGiB} GiB, ${m.platform} ${m.arch} ${m.osRelease}, node ${m.node}`;
    out.Started = meta.startedAt;
    if (meta.endedAt) out.Ended = meta.endedAt;
    const failed = meta.runs.filter((r) => r.status === 'failed');
    if (failed.length > 0) out['Failed runs'] = failed.map((r) => `${r.name} (exit ${r.exitCode})`).join(', ');
  }
  out.Folder = resolve(dir);
  out['Report built'] = new Date().toISOString();
  return out;
}

function charts(methods: string[], loaded: LoadedRun[]): { heading: string; html: string }[] {
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

/** A warning when the runs did not share the machine alike, so their times are not comparable. */
export function concurrencyNote(meta: CompareMeta | undefined): string | undefined {
  const byLevel = new Map<number, string[]>();
  for (const r of meta?.runs ?? []) {
    if (r.concurrent === undefined || r.status === 'failed' || r.status === 'pending') continue;
    byLevel.set(r.concurrent, [...(byLevel.get(r.concurrent) ?? []), r.name]);
  }
  if (byLevel.size < 2) return undefined;
  const parts = [...byLevel].sort((a, b) => b[0] - a[0]).map(([n, names]) => `${n === 1 ? 'alone' : `${n} at once`}: ${names.join(', ')}`);
  return `the runs did not share the machine alike (${parts.join('; ')}), so their wall-clock and step times are not directly comparable.`;
}

/** Build DIR/report.html, DIR/summary.md and DIR/summary.json from the logs under DIR/runs. */
export function buildCompareReport(dir: string): CompareReport {
  const meta = readCompareMeta(dir);
  const loaded: LoadedRun[] = listRunDirs(dir).map((rd) => {
    const log = readRunLog(rd.path);
    return { stats: runStats(rd.method, rd.seed, log), log, config: readJsonFile(join(rd.path, 'config.json')) };
  });
  const found = sortMethods(loaded.map((r) => r.stats.method));
  const order = meta ? [...meta.methods, ...found.filter((m) => !meta.methods.includes(m))] : found;
  const methods = order.filter((m) => loaded.some((r) => r.stats.method === m) || meta?.methods.includes(m));
  const runs = methods.flatMap((m) => loaded.filter((r) => r.stats.method === m).map((r) => r.stats));
  const mstats = methodStats(runs, methods);

  const main = mainTable(mstats);
  const perRun = runsTable(runs);
  const layersAvg = layerTable(mstats, (m) => m.layerAvgMaxVio, 3);
  const layersSup = layerTable(mstats, (m) => m.layerSupMaxVio, 3);
  const layersGlobal = layerTable(mstats, (m) => m.maxVioGlobal, 3);
  const hasGlobal = mstats.some((m) => m.maxVioGlobal.length > 0);
  const metaRec = metaEntries(dir, meta, loaded);

  const seedsSet = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
  const stepsMax = Math.max(0, ...runs.map((r) => r.lastStep));
  const intro =
    `<p>${runs.length} training run${runs.length === 1 ? '' : 's'}: ${methods.length} method${methods.length === 1 ? '' : 's'} ` +
    `(${escapeHtml(methods.join(', '))}) × seed${seedsSet.length === 1 ? '' : 's'} ${escapeHtml(seedsSet.join(', '))}, up to ${stepsMax} steps, ` +
    `same data order and initial weights for every method of a seed. Every number is recomputed from <code>runs/*/log.jsonl</code>; ` +
    `lower is better in every column, and the best mean is in bold.</p>`;
  const definitions =
    '<p class="note"><b>Val perplexity</b>: exp of the held-out cross-entropy at the last evaluation (mean ± sd over seeds). ' +
    '<b>AvgMaxVio</b> / <b>SupMaxVio</b>: mean / maximum over all steps and layers of MaxVio = (max load − mean load) / mean load of a training batch. ' +
    '<b>EP step time</b>: Σ max expert load / Σ mean expert load over steps and layers, the MoE-layer time with one expert per device relative to perfect balance. ' +
    '<b>Wall-clock</b>: whole run including evaluation (mean over seeds); <b>vs auxloss</b>: relative to the auxiliary-loss runs. ' +
    '<b>ms / step</b>: mean training step time.</p>';

  const warning = concurrencyNote(meta);
  const sections = [
    { heading: 'Results', html: toHtml(main) + (warning ? `<p class="note"><b>Note:</b> ${escapeHtml(warning)}</p>` : '') + definitions },
    ...charts(methods, loaded),
    {
      heading: 'Balance per layer',
      html:
        '<div class="tables">' +
        `<div><h3>AvgMaxVio per layer</h3>${toHtml(layersAvg, 'compact')}</div>` +
        `<div><h3>SupMaxVio per layer</h3>${toHtml(layersSup, 'compact')}</div>` +
        (hasGlobal ? `<div><h3>MaxVio<sub>global</sub>, last evaluation</h3>${toHtml(layersGlobal, 'compact')}</div>` : '') +
        '</div>' +
        '<p class="note">Mean over seeds. MaxVio<sub>global</sub> uses the loads summed over the whole validation set at the last evaluation.</p>',
    },
    { heading: 'Runs', html: toHtml(perRun, 'compact') },
  ];
  const title = 'moe-balance: load-balancing comparison';
  const html = renderPage({ title, intro, meta: metaRec, sections });

  const markdown = toMarkdown(main);
  const md = [
    `# ${title}`,
    '',
    `${runs.length} runs; methods ${methods.join(', ')}; seeds ${seedsSet.join(', ')}; up to ${stepsMax} steps. Numbers recomputed from runs/*/log.jsonl; lower is better; best mean in bold.`,
    '',
    markdown,
    '',
    ...(concurrencyNote(meta) ? [`Note: ${concurrencyNote(meta)}`, ''] : []),
    '## AvgMaxVio per layer',
    '',
    toMarkdown(layersAvg),
    '',
    '## SupMaxVio per layer',
    '',
    toMarkdown(layersSup),
    '',
    '## Runs',
    '',
    toMarkdown(perRun),
    '',
    '## Run details',
    '',
    ...Object.entries(metaRec).map(([k, v]) => (v.includes('\n') ? `- **${k}**:\n\n\`\`\`\n${v}\n\`\`\`\n` : `- **${k}**: \`${v}\``)),
    '',
    'Charts: report.html',
    '',
  ].join('\n');

  const json = {
    generatedAt: new Date().toISOString(),
    dir: resolve(dir),
    definitions: {
      avgMaxVio: 'mean of per-step per-layer MaxVio over all steps and layers',
      supMaxVio: 'max of per-step per-layer MaxVio over all steps and layers',
      epStepTime: 'sum over steps and layers of max_j load_j / sum of mean_j load_j',
      perplexity: 'exp(valLoss) at the last eval line',
      wallVsAuxloss: 'mean wallMs / mean auxloss wallMs - 1',
    },
    methods: mstats,
    runs,
    compare: meta ?? null,
  };

  const htmlPath = join(dir, 'report.html');
  const markdownPath = join(dir, 'summary.md');
  const jsonPath = join(dir, 'summary.json');
  writeFileSync(htmlPath, html);
  writeFileSync(markdownPath, md);
  writeFileSync(jsonPath, JSON.stringify(json, null, 2) + '\n');
  return { htmlPath, markdownPath, jsonPath, markdown, methods: mstats, runs };
}
