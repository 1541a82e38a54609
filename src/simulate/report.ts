/**
 * The simulate report: DIR/report.html built from DIR/log.jsonl and DIR/run.json alone, so
 * `writeSimulateReport(dir)` can rebuild it at any time. Charts: MaxVio per step (linear and log
 * scale) and score retention per step, one line per method, averaged over layers; with several
 * layers, one MaxVio panel per layer too. Self-contained HTML (inline SVG, no scripts, no network).
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.ts';
import { InputError } from '../routing/errors.ts';
import { chartCard, chartGrid, escapeHtml, htmlTable, renderPage } from '../report/html.ts';
import { mean } from '../report/format.ts';
import { lineChart, type Series } from '../report/svg.ts';
import { parseLog, type StepRecord } from './record.ts';
import type { StreamParams } from './streams.ts';
import { summarize, summaryCells, type MethodSummary } from './summary.ts';

/** True when DIR/log.jsonl starts with a simulate line (step, layer, method, maxVio): `moe-balance report` asks. */
export function isSimulateDir(dir: string): boolean {
  const file = join(dir, 'log.jsonl');
  if (!existsSync(file)) return false;
  const first = readFileSync(file, 'utf8').split('\n', 1)[0];
  try {
    const o = JSON.parse(first) as Record<string, unknown>;
    return typeof o.step === 'number' && typeof o.layer === 'number' && typeof o.method === 'string' && typeof o.maxVio === 'number';
  } catch {
    return false;
  }
}

/** What run.json holds (written by the simulate command). */
export interface RunInfo {
  command: string;
  stream: string;
  seed: number | null;
  n: number;
  m: number;
  k: number;
  steps: number;
  layers: number;
  gate: string;
  /** The synthetic stream's parameters (null for a replay). */
  params: StreamParams | null;
  methods: { label: string; method: string; options: Record<string, unknown> }[];
  optimal: boolean;
  threshold: number;
  /** --groups G, when given. */
  groups?: number;
  timing: boolean;
  /** --shards W (1: not sharded); absent in folders written before it was recorded. */
  shards?: number;
}

/** Per method, the mean over layers of `value` at each step. */
function perStep(records: readonly StepRecord[], value: (r: StepRecord) => number | undefined, layer?: number): Series[] {
  const acc = new Map<string, Map<number, number[]>>();
  for (const r of records) {
    if (layer !== undefined && r.layer !== layer) continue;
    const v = value(r);
    if (v === undefined) continue;
    let byStep = acc.get(r.method);
    if (!byStep) acc.set(r.method, (byStep = new Map()));
    let list = byStep.get(r.step);
    if (!list) byStep.set(r.step, (list = []));
    list.push(v);
  }
  return [...acc].map(([name, byStep]) => {
    const steps = [...byStep.keys()].sort((a, b) => a - b);
    return { name, x: steps, y: steps.map((s) => mean(byStep.get(s) as number[])) };
  });
}

function summaryHtml(rows: MethodSummary[], threshold: number): string {
  const { header, body } = summaryCells(rows, threshold);
  return htmlTable(header, body, ['left', ...header.slice(1).map(() => 'right' as const)]);
}

/** The report page as HTML. */
function simulateReportHtml(info: RunInfo, records: readonly StepRecord[]): string {
  const summary = summarize(records, info.threshold);
  const multi = info.layers > 1;
  const over = multi ? ` (mean over ${info.layers} layers)` : '';
  const maxVio = perStep(records, (r) => r.maxVio);
  const sections = [
    { heading: 'Summary', html: summaryHtml(summary, info.threshold) },
    {
      heading: 'MaxVio per step',
      html:
        chartCard(lineChart({ title: `MaxVio per step${over}`, xLabel: 'step', yLabel: 'MaxVio', series: maxVio, yInclude: [0], yRef: info.threshold }), `Dashed line: the threshold ${info.threshold}. MaxVio = (max load − mean load) / mean load.`) +
        chartCard(lineChart({ title: `MaxVio per step, log scale${over}`, xLabel: 'step', yLabel: 'MaxVio', series: maxVio, logY: true, yRef: info.threshold }), 'Steps with MaxVio = 0 leave a gap on the log scale.'),
    },
    {
      heading: 'Score retention per step',
      html:
        chartCard(lineChart({ title: `Retention vs plain top-k${over}`, xLabel: 'step', yLabel: 'Σ chosen scores / top-k', series: perStep(records, (r) => r.retention) })) +
        (info.optimal
          ? chartCard(
              lineChart({ title: `Retention vs the LP optimum${over}`, xLabel: 'step', yLabel: 'Σ chosen scores / LP optimum', series: perStep(records, (r) => r.retentionOpt), yRef: 1 }),
              'The LP optimum keeps every expert at capacity ⌈k·n/m⌉; an unbalanced method can exceed 1.',
            )
          : '<p class="note">The exact LP optimum was not solved for this run (n·m above the limit, or --optimal off).</p>'),
    },
  ];
  if (multi) {
    const panels = Array.from({ length: info.layers }, (_, l) =>
      lineChart({ title: `layer ${l}`, xLabel: 'step', yLabel: 'MaxVio', series: perStep(records, (r) => r.maxVio, l), legend: false, yInclude: [0], width: 420, height: 240 }),
    );
    sections.push({ heading: 'MaxVio per layer', html: chartGrid(panels, summary.map((s) => s.method)) });
  }
  const seed = info.seed === null ? 'recorded scores (replay)' : String(info.seed);
  return renderPage({
    title: `moe-balance simulate: ${info.stream}`,
    intro: `<p>${escapeHtml(`${info.methods.length} methods over the ${info.stream} stream: n = ${info.n} tokens per batch, m = ${info.m} experts, top-${info.k}, ${info.steps} steps, ${info.layers} layer${multi ? 's' : ''}, ${info.gate} gate, seed ${seed}.`)}</p>`,
    meta: {
      command: info.command,
      seed,
      stream: info.stream,
      configuration: JSON.stringify({ n: info.n, m: info.m, k: info.k, steps: info.steps, layers: info.layers, gate: info.gate, params: info.params }, null, 1),
      methods: info.methods.map((s) => `${s.label}: ${s.method} ${JSON.stringify(s.options)}`).join('\n'),
      'LP optimum': info.optimal ? 'solved per step and layer' : 'not solved',
      timing: info.timing ? 'routingMs measured with performance.now() around route()' : 'off (routingMs null)',
    },
    sections,
  });
}

/**
 * A simulate run folder read back: DIR/run.json and DIR/log.jsonl (or the committed log.jsonl.gz), each
 * refused by name when missing, torn or not a simulate run. The report and `npm run verify` both read here.
 */
export function readSimulateRun(dir: string): { info: RunInfo; records: StepRecord[] } {
  const infoFile = join(dir, 'run.json');
  let info: RunInfo;
  try {
    info = JSON.parse(readFileSync(infoFile, 'utf8')) as RunInfo;
  } catch (err) {
    throw new InputError(`${infoFile}: cannot be read as JSON (${(err as Error).message.slice(0, 120)}); rerun the simulation`);
  }
  if (typeof info !== 'object' || info === null || !Array.isArray(info.methods) || typeof info.stream !== 'string') {
    throw new InputError(`${infoFile}: not a simulate run description (no 'stream' or 'methods'); rerun the simulation`);
  }
  const plain = join(dir, 'log.jsonl');
  const gz = `${plain}.gz`;
  const logFile = existsSync(plain) || !existsSync(gz) ? plain : gz;
  let records: StepRecord[];
  try {
    const bytes = readFileSync(logFile);
    records = parseLog((logFile === gz ? gunzipSync(bytes) : bytes).toString('utf8'));
  } catch (err) {
    throw new InputError(`${logFile}: ${(err as Error).message} (torn or edited); rerun the simulation`);
  }
  return { info, records };
}

/** Reads DIR/run.json and DIR/log.jsonl and writes DIR/report.html (atomically). Returns its path. */
export function writeSimulateReport(dir: string): string {
  const { info, records } = readSimulateRun(dir);
  const path = join(dir, 'report.html');
  writeFileAtomic(path, simulateReportHtml(info, records));
  return path;
}
