/**
 * README tables recomputed from committed simulate folders (DIR/log.jsonl, or DIR/log.jsonl.gz for long
 * logs, and DIR/run.json), through the simulate command's own summary (src/simulate/summary.ts), so a
 * table reads exactly as `simulate` printed it:
 *
 *   simulate DIR [methods=a,b]          the summary table of one run (the table `simulate` prints)
 *   simulate-streams DIR... [methods=]  one row per folder and method: AvgMaxVio, SupMaxVio, steps to
 *                                       MaxVio < threshold, retention vs top-k (and vs LP when solved)
 *   simulate-grid DIR... [methods=] [cols=]  one row per method, per folder the columns asked for (avgMaxVio,
 *                                       supMaxVio, first: first step with MaxVio < threshold on every layer,
 *                                       settled: the step from which it stays below, retention, retentionOpt,
 *                                       shardBytes, shardRounds (with --shards);
 *                                       default avgMaxVio,settled)
 *   rate-sweep DIR [cases=glob] [ref=label]  online's rate sweep: per rate, min – max over the case folders
 *                                       of AvgMaxVio and of retention vs the reference method − 1
 */
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InputError } from '../routing/errors.ts';
import type { StepRecord } from '../simulate/record.ts';
import { readSimulateRun, type RunInfo } from '../simulate/report.ts';
import { summarize, summaryTable, type MethodSummary } from '../simulate/summary.ts';
import { markdownTable, type Align } from '../report/markdown.ts';
import { MISSING, fmtPercent } from '../report/format.ts';

export interface SimulateFolder {
  /** The folder's name (last path component), used as the stream label. */
  name: string;
  info: RunInfo;
  summary: MethodSummary[];
  records: StepRecord[];
}

/** Read DIR/run.json and DIR/log.jsonl (or .gz) and summarise it as the simulate command did. */
function readSimulateFolder(dir: string): SimulateFolder {
  const { info, records } = readSimulateRun(dir);
  return { name: basename(dir), info, summary: summarize(records, info.threshold ?? 0.1), records };
}

/** The rows of the given methods (all when `methods` is undefined), in the order asked for. */
function pick(rows: MethodSummary[], methods: string[] | undefined, where: string): MethodSummary[] {
  if (!methods) return rows;
  return methods.map((name) => {
    const r = rows.find((x) => x.method === name);
    if (!r) throw new InputError(`${where}: no method '${name}' in the log (has ${rows.map((x) => x.method).join(', ')})`);
    return r;
  });
}

const f3 = (x: number | null): string => (x === null || !Number.isFinite(x) ? MISSING : x.toFixed(3));
const f4 = (x: number | null): string => (x === null || !Number.isFinite(x) ? MISSING : x.toFixed(4));
const settled = (s: number | null): string => (s === null ? 'never' : String(s));

export function simulateTable(dir: string, methods?: string[]): string {
  const folder = readSimulateFolder(dir);
  return summaryTable(pick(folder.summary, methods, dir), folder.info.threshold ?? 0.1);
}

export function simulateStreamsTable(dirs: string[], methods?: string[]): string {
  const folders = dirs.map(readSimulateFolder);
  const lp = folders.some((f) => f.summary.some((r) => r.retentionOpt !== null));
  const threshold = folders[0]?.info.threshold ?? 0.1;
  const headers = ['stream', 'method', 'AvgMaxVio', 'SupMaxVio', `steps to MaxVio<${threshold}`, 'retention vs top-k', ...(lp ? ['retention vs LP'] : [])];
  const rows = folders.flatMap((f, i) =>
    pick(f.summary, methods, dirs[i]).map((r, j) => [j === 0 ? f.name : '', r.method, f3(r.avgMaxVio), f3(r.supMaxVio), settled(r.settledStep), f4(r.retention), ...(lp ? [f4(r.retentionOpt)] : [])]),
  );
  return markdownTable(headers, rows, ['left', 'left', ...headers.slice(2).map((): Align => 'right')]);
}

/** Folder names without the prefix (up to a '-') they all share: simulate-study-collapse -> collapse. */
function shortNames(names: string[]): string[] {
  if (names.length < 2) return names;
  let p = names[0];
  while (p && !names.every((n) => n.startsWith(p))) p = p.slice(0, -1);
  const cut = p.lastIndexOf('-') + 1;
  return names.map((n) => n.slice(cut));
}

/** The first step at which MaxVio < threshold on every layer (null if none): when a method first balances. */
function firstBelow(records: readonly StepRecord[], method: string, threshold: number): number | null {
  const worst = new Map<number, number>();
  for (const r of records) if (r.method === method) worst.set(r.step, Math.max(worst.get(r.step) ?? -Infinity, r.maxVio));
  const below = [...worst].filter(([, v]) => v < threshold).map(([step]) => step);
  return below.length > 0 ? Math.min(...below) : null;
}

/** The columns simulate-grid can show per folder: header suffix and cell. */
const GRID_COLUMNS: Record<string, [string, (r: MethodSummary, threshold: number, f: SimulateFolder) => string]> = {
  avgMaxVio: ['AvgMaxVio', (r) => f3(r.avgMaxVio)],
  supMaxVio: ['SupMaxVio', (r) => f3(r.supMaxVio)],
  first: ['first step <{t}', (r, t, f) => settled(firstBelow(f.records, r.method, t))],
  settled: ['stays <{t} from', (r) => settled(r.settledStep)],
  retention: ['retention vs top-k', (r) => f4(r.retention)],
  retentionOpt: ['retention vs LP', (r) => f4(r.retentionOpt)],
  shardBytes: ['bytes one shard sends per call', (r) => (r.shardBytes === null ? MISSING : r.shardBytes.toFixed(0))],
  shardRounds: ['collectives per call', (r) => (r.shardRounds === null ? MISSING : r.shardRounds.toFixed(1))],
};

export function simulateGridTable(dirs: string[], methods?: string[], columns = ['avgMaxVio', 'settled']): string {
  const read = dirs.map(readSimulateFolder);
  const short = shortNames(read.map((f) => f.name));
  const folders = read.map((f, i) => ({ ...f, name: short[i] }));
  const threshold = folders[0]?.info.threshold ?? 0.1;
  const cols = columns.map((c) => {
    const col = GRID_COLUMNS[c];
    if (!col) throw new InputError(`unknown column '${c}' (known: ${Object.keys(GRID_COLUMNS).join(', ')})`);
    return col;
  });
  const names = methods ?? folders[0]?.summary.map((r) => r.method) ?? [];
  // One folder: the column names alone; several: each prefixed by its folder's short name.
  const headers = ['method', ...folders.flatMap((f) => cols.map(([h]) => `${folders.length > 1 ? `${f.name}: ` : ''}${h.replace('{t}', String(threshold))}`))];
  const rows = names.map((name) => [
    name,
    ...folders.flatMap((f, i) => {
      const [r] = pick(f.summary, [name], dirs[i]);
      return cols.map(([, cell]) => cell(r, threshold, f));
    }),
  ]);
  return markdownTable(headers, rows, ['left', ...headers.slice(1).map((): Align => 'right')]);
}

/** Case folders of a sweep: the subfolders of DIR whose names match `pattern` (a regular expression), sorted. */
function sweepCases(dir: string, pattern: string): string[] {
  const re = new RegExp(`^(?:${pattern})$`);
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && re.test(e.name))
    .map((e) => join(dir, e.name))
    .sort();
}

export function rateSweepTable(dir: string, pattern: string, ref: string): string {
  const folders = sweepCases(dir, pattern).map(readSimulateFolder);
  if (folders.length === 0) throw new InputError(`${dir}: no case folder matches '${pattern}'`);
  const labels = folders[0].summary.map((r) => r.method).filter((m) => m !== ref);
  const range = (xs: number[], fmt: (x: number) => string): string => `${fmt(Math.min(...xs))} – ${fmt(Math.max(...xs))}`;
  const rows = labels.map((label) => {
    const avg: number[] = [];
    const score: number[] = [];
    for (const f of folders) {
      const [r, base] = pick(f.summary, [label, ref], f.name);
      avg.push(r.avgMaxVio);
      score.push(r.retention / base.retention - 1);
    }
    return [label, range(avg, (x) => x.toFixed(3)), range(score, (x) => fmtPercent(x, 1, true))];
  });
  const headers = ['method', `AvgMaxVio, ${folders.length} cases (min – max)`, `score vs ${ref} (min – max)`];
  return markdownTable(headers, rows, ['left', 'right', 'right']);
}
