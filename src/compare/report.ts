/**
 * The compare report: reads DIR/runs/<method>-s<seed>/log.jsonl (+ config.json) and DIR/compare.json,
 * and writes DIR/report.html (offline: inline CSS and SVG), DIR/summary.md and DIR/summary.json.
 *
 *   const { markdown, htmlPath } = buildCompareReport('runs/quick');
 *
 * Every number is recomputed from the step and eval lines of the logs (see stats.ts); the charts show
 * the mean over seeds at each step.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { listRunDirs, readRunLog } from './logs.ts';
import { runStats, methodStats, type MethodStats, type RunStats } from './stats.ts';
import { readCompareMeta, type CompareMeta } from './meta.ts';
import { compareCharts, type LoadedRun } from './charts.ts';
import { mainTable, runsTable, layerTable, toHtml, toMarkdown } from './tables.ts';
import { sortMethods } from '../report/colors.ts';
import { renderPage, escapeHtml } from '../report/html.ts';
import { readJsonOrUndefined } from '../io/json.ts';

export interface CompareReport {
  htmlPath: string;
  markdownPath: string;
  jsonPath: string;
  /** The main table as Markdown (what the CLI prints). */
  markdown: string;
  methods: MethodStats[];
  runs: RunStats[];
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

/** The runs of a compare folder with their logs, methods in compare.json's order (then the others found). */
export function loadCompareFolder(dir: string): { meta: CompareMeta | undefined; loaded: LoadedRun[]; methods: string[]; runs: RunStats[] } {
  const meta = readCompareMeta(dir);
  const loaded: LoadedRun[] = listRunDirs(dir).map((rd) => {
    const log = readRunLog(rd.path);
    return { stats: runStats(rd.method, rd.seed, log), log, config: readJsonOrUndefined(join(rd.path, 'config.json')) as Record<string, unknown> | undefined };
  });
  const found = sortMethods(loaded.map((r) => r.stats.method));
  const order = meta ? [...meta.methods, ...found.filter((m) => !meta.methods.includes(m))] : found;
  const methods = order.filter((m) => loaded.some((r) => r.stats.method === m) || meta?.methods.includes(m));
  const runs = methods.flatMap((m) => loaded.filter((r) => r.stats.method === m).map((r) => r.stats));
  return { meta, loaded, methods, runs };
}

/** Build DIR/report.html, DIR/summary.md and DIR/summary.json from the logs under DIR/runs. */
export function buildCompareReport(dir: string): CompareReport {
  const { meta, loaded, methods, runs } = loadCompareFolder(dir);
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
    `same data order and initial parameters for every method of a seed. Every number is recomputed from <code>runs/*/log.jsonl</code>; ` +
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
    ...compareCharts(methods, loaded),
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
