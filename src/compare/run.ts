/**
 * The compare orchestrator: trains one model per method and seed by running `moe-balance train` as
 * child processes (at most `jobs` at once; the process pool is pool.ts), then writes DIR/compare.json and the report.
 *
 *   await runCompare({ config: 'configs/moe16.json', methods: ['auxloss', 'bip'], seeds: [1], steps: 200, out: 'runs/c', jobs: 2, set: [] });
 *
 * Each run goes to DIR/runs/<method>-s<seed> (log.jsonl, config.json, checkpoints, train.out with the
 * child's own output). Interrupted compares resume: a run whose log has its summary line is skipped,
 * a run with a checkpoint gets `--resume`, any other starts afresh.
 *
 * Methods are registry specs: `bip-T8-notrunc` trains bip with bipIters = 8, bipTruncate = false; `auxloss-a0.01` sets auxAlpha, `lossfree-u0.01` lossfreeRate. `--set key=value` applies to every run;
 * `--set method:key=value` only to the runs of that method (e.g. `bip:bipOrder=route-then-update`),
 * since the trainer rejects one method's options on another method.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readRunLog, runName } from './logs.ts';
import { machineInfo, packageVersions, readCompareMeta, type CompareMeta, type RunRecord } from './meta.ts';
import { runPool, startChild, stopSignals } from './pool.ts';
import { buildCompareReport, type CompareReport } from './report.ts';
import { fmtDuration } from '../report/format.ts';
import { formatOptionValue } from '../routing/options.ts';
import { parseMethodList } from '../routing/registry.ts';
import { hasCheckpoint } from '../train/checkpoint.ts';
import { readJsonOrUndefined } from '../io/json.ts';
import { methodSpecConfig } from '../train/config.ts';

/** The package root (where package.json and bin/ are). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CompareOptions {
  /** Training configuration file passed to every run. */
  config: string;
  methods: string[];
  seeds: number[];
  steps: number;
  /** Output folder DIR. */
  out: string;
  /** Runs at once (default 1). */
  jobs?: number;
  /** Data-parallel workers per run (train --workers, default 1); jobs × workers is kept within the cores. */
  workers?: number;
  /** Cores to keep within (default: this machine's). */
  cores?: number;
  /** `key=value` or `method:key=value` overrides, passed as `--set`. */
  set?: string[];
  evalEvery?: number;
  /** Name of the preset the options came from, for the record. */
  preset?: string;
  /** The command line to record in compare.json (default: this process's argv). */
  command?: string;
  /** Command that trains one run, before its options (default: node bin/moe-balance.js train). Tests pass a fake. */
  trainCommand?: string[];
  /** Where progress lines go (default console.log). */
  log?: (line: string) => void;
  /** Print the progress of running runs this often (default 30 s; 0 = never). */
  statusEveryMs?: number;
}

export interface CompareResult {
  records: RunRecord[];
  report: CompareReport;
  /** Number of runs that exited non-zero. */
  failed: number;
  /** True when stopped by SIGINT/SIGTERM before all runs finished. */
  interrupted: boolean;
}

/** How one method spec maps onto the trainer: the base method and the config overrides its options imply. */
export function methodToTrain(method: string): { base: string; set: string[] } {
  const { method: base, ...keys } = methodSpecConfig(method);
  return { base: base as string, set: Object.entries(keys).map(([k, v]) => `${k}=${formatOptionValue(v)}`) };
}

/** Checks method specs before starting anything (the trainer would reject them one by one, much later). */
export function checkMethods(methods: string[]): string | undefined {
  try {
    for (const m of methods) methodToTrain(m);
    parseMethodList(methods.join(' '), { complete: false });
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

/** The `--set` values that apply to a run of `method`: global ones, its variant's, and `method:key=value` ones. */
export function setsFor(method: string, set: string[]): string[] {
  const out = [...methodToTrain(method).set];
  for (const s of set) {
    const m = /^([A-Za-z0-9_-]+):(.+)$/.exec(s);
    if (!m) out.push(s);
    else if (m[1] === method || m[1] === methodToTrain(method).base) out.push(m[2]);
  }
  return out;
}

/** The last step in a run's log, reading only the file's tail (logs grow while we poll). */
export function lastLoggedStep(runDir: string): number {
  const file = join(runDir, 'log.jsonl');
  if (!existsSync(file)) return 0;
  const size = statSync(file).size;
  const len = Math.min(size, 256 * 1024);
  const buf = Buffer.alloc(len);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, len, size - len);
  } finally {
    closeSync(fd);
  }
  const lines = buf.toString('utf8').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /"step":(\d+)/.exec(lines[i]);
    if (m) return Number(m[1]);
  }
  return 0;
}

/** The last non-empty line of a text file (the child's error message, usually). */
function lastLine(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').at(-1)?.slice(0, 300) ?? '';
  } catch {
    return '';
  }
}

interface Job {
  method: string;
  seed: number;
  name: string;
  dir: string;
}

/** Arguments of the train command for one run. */
export function trainArgs(o: CompareOptions, job: Job, resume: boolean): string[] {
  const args = ['--config', o.config, '--method', methodToTrain(job.method).base, '--seed', String(job.seed), '--steps', String(o.steps), '--out', job.dir];
  if (o.evalEvery !== undefined) args.push('--eval-every', String(o.evalEvery));
  for (const s of setsFor(job.method, o.set ?? [])) args.push('--set', s);
  // compare owns the run folder: a run without a checkpoint starts afresh over whatever a killed attempt left.
  args.push(resume ? '--resume' : '--force');
  if ((o.workers ?? 1) > 1) args.push('--workers', String(o.workers));
  return args;
}

function writeMeta(out: string, meta: CompareMeta): void {
  writeFileSync(join(out, 'compare.json'), JSON.stringify(meta, null, 2) + '\n');
}

/** Runs at once such that runs × workers per run ≤ cores (at least one run); says when it lowers --jobs. */
export function jobsWithinCores(jobs: number, workers: number, cores: number, log: (line: string) => void): number {
  const fit = Math.max(1, Math.floor(cores / workers));
  if (jobs <= fit) return Math.max(1, jobs);
  log(`--jobs ${jobs} × --workers ${workers} exceeds the ${cores} cores: running ${fit} at once`);
  return fit;
}

/** Train every (method, seed) not finished yet, then write compare.json and the report. */
export async function runCompare(o: CompareOptions): Promise<CompareResult> {
  const log = o.log ?? ((line: string) => console.log(line));
  const jobsAtOnce = jobsWithinCores(o.jobs ?? 1, o.workers ?? 1, o.cores ?? availableParallelism(), log);
  const trainCommand = o.trainCommand ?? [process.execPath, join(PACKAGE_ROOT, 'bin', 'moe-balance.js'), 'train'];
  mkdirSync(join(o.out, 'runs'), { recursive: true });

  // The trainer reports a bad config file itself, with a better message.
  const configValues = readJsonOrUndefined(o.config) ?? null;
  const previous = readCompareMeta(o.out);
  const meta: CompareMeta & { previousStarts?: string[] } = {
    command: o.command ?? ['moe-balance', ...process.argv.slice(2)].join(' '),
    cwd: process.cwd(),
    config: { path: o.config, values: configValues },
    methods: o.methods,
    seeds: o.seeds,
    steps: o.steps,
    evalEvery: o.evalEvery,
    jobs: jobsAtOnce,
    set: o.set ?? [],
    preset: o.preset,
    versions: { ...packageVersions(PACKAGE_ROOT), node: process.version },
    machine: machineInfo(),
    startedAt: new Date().toISOString(),
    runs: [],
  };
  if (previous?.startedAt) meta.previousStarts = [...((previous as { previousStarts?: string[] }).previousStarts ?? []), previous.startedAt];
  writeMeta(o.out, meta);

  const jobs: Job[] = o.methods.flatMap((method) => o.seeds.map((seed) => ({ method, seed, name: runName(method, seed), dir: join(o.out, 'runs', runName(method, seed)) })));
  const records = new Map<string, RunRecord>();
  const pending: Job[] = [];
  for (const job of jobs) {
    const runLog = readRunLog(job.dir);
    if (runLog.summary) {
      // Keep what the invocation that trained it recorded (time, concurrency).
      const before = previous?.runs?.find((r) => r.name === job.name && r.status !== 'failed' && r.status !== 'pending');
      records.set(job.name, { ...before, name: job.name, status: 'skipped' });
      const note = runLog.summary.steps !== o.steps ? ` (it ran ${runLog.summary.steps} steps, not ${o.steps}; delete its folder to retrain)` : '';
      log(`${job.name}: finished already, skipped${note}`);
    } else pending.push(job);
  }

  const running = new Map<string, { child: ChildProcess; start: number; job: Job }>();
  let interrupted = false;
  const stopWatching = stopSignals(
    () => [...running.values()].map((r) => r.child),
    (sig) => {
      interrupted = true;
      log(`${sig}: stopping ${running.size} run(s) after their current step; run the same command again to resume`);
    },
  );

  const t0 = Date.now();
  const statusEvery = o.statusEveryMs ?? 30_000;
  const timer =
    statusEvery > 0
      ? setInterval(() => {
          if (running.size === 0) return;
          const parts = [...running.values()].map((r) => `${r.job.name} ${lastLoggedStep(r.job.dir)}/${o.steps}`);
          const done = [...records.values()].filter((r) => r.status !== 'skipped').length;
          log(`[${fmtDuration(Date.now() - t0)}] running: ${parts.join(', ')}; ${done} done, ${pending.length} waiting`);
        }, statusEvery)
      : undefined;

  const total = pending.length;
  const concurrent = new Map<string, number>();
  let started = 0;
  const runOne = async (job: Job): Promise<void> => {
    mkdirSync(job.dir, { recursive: true });
    const resume = hasCheckpoint(job.dir);
    const start = Date.now();
    started++;
    log(`[${started}/${total}] ${job.name}: ${resume ? 'resuming from its checkpoint' : 'training'}`);
    const { child, exited } = startChild([...trainCommand, ...trainArgs(o, job, resume)], join(job.dir, 'train.out'));
    running.set(job.name, { child, start, job });
    for (const r of running.keys()) concurrent.set(r, Math.max(concurrent.get(r) ?? 0, running.size));
    const { code, err } = await exited;
    running.delete(job.name);
    const ms = Date.now() - start;
    const ok = code === 0 && readRunLog(job.dir).summary !== undefined;
    // Stopped on our request with its checkpoint written (the trainer's exit status 130): it resumes next time.
    const stopped = !ok && interrupted && code === 130;
    const status: RunRecord['status'] = ok ? (resume ? 'resumed' : 'done') : stopped ? 'pending' : 'failed';
    records.set(job.name, { name: job.name, status, exitCode: code ?? -1, ms, concurrent: concurrent.get(job.name) });
    if (ok) log(`${job.name}: done in ${fmtDuration(ms)}`);
    else if (stopped) log(`${job.name}: stopped at its checkpoint after ${fmtDuration(ms)}`);
    else {
      const why = err ? err.message : `exit ${code}${code === 0 ? ', no summary line in log.jsonl' : ''}`;
      log(`${job.name}: FAILED (${why}): ${lastLine(join(job.dir, 'train.out'))}`);
      log(`  see ${join(job.dir, 'train.out')}`);
    }
  };

  // The first run is under way once it has logged a step.
  const underWay = async (job: Job, firstDone: () => boolean): Promise<void> => {
    const logFile = join(job.dir, 'log.jsonl');
    const size0 = existsSync(logFile) ? statSync(logFile).size : 0;
    while (!firstDone() && !interrupted && (existsSync(logFile) ? statSync(logFile).size : 0) <= size0) await new Promise((r) => setTimeout(r, 250));
  };
  try {
    await runPool(pending, jobsAtOnce, runOne, underWay, () => interrupted);
  } finally {
    if (timer) clearInterval(timer);
    stopWatching();
  }

  meta.runs = jobs.map((j) => records.get(j.name) ?? { name: j.name, status: 'pending' });
  meta.endedAt = new Date().toISOString();
  writeMeta(o.out, meta);
  const report = buildCompareReport(o.out);
  const failed = [...records.values()].filter((r) => r.status === 'failed').length;
  return { records: meta.runs, report, failed, interrupted };
}
