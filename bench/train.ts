/**
 * Training throughput: tokens/s of full steps (forward + backward + AdamW update) of the moe16 preset on
 * the wasm and cpu backends, and the share of step time spent routing (reading the scores out of the
 * graph + balancer.route), with BIP T = 4 by default, and where the rest of the step goes (forward,
 * backward, gradient exchange, optimizer, waits at the workers' barriers: train/phases.ts).
 *
 *   npm run bench:train                       (wasm with 1 and 2 data-parallel workers, then cpu)
 *   npm run bench:train -- --config configs/moe64.json --method bip --steps 10 --backends wasm
 *   npm run bench:train -- --backends wasm --rounds 3 --steps 5 --warmup 2   (W = 1 and 2 alternating)
 *
 * The first steps are slower (JIT, the wasm heap growing to its peak): 4 warm-up steps on wasm are not
 * timed. Token ids are random (uniform over the vocabulary): throughput does not depend on the text, and the
 * benchmark does not need the BPE cache. Not a test: nothing is asserted. The machine's load average is
 * printed, because other processes on a shared machine slow every number down. `--rounds R` repeats the
 * runs R times, in reverse order every other round, and prints the worker ratio of each round and of all
 * steps together: on a machine whose speed drifts, runs close in time compare better than one long pair.
 *
 * Each run is its own child process, so that no run inherits another's warm JIT, grown wasm heap or
 * resident memory (with W = 2 after W = 1 in one process, rank 0 was warm and rank 1 cold, and rank 0
 * waited at the barriers of the first steps). The results, with every measured step's time, the load
 * average and the commit, are written to bench/results/train.json (`--out FILE`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/atomicWrite.ts';
import { parseFlags } from '../src/util/args.ts';
import { resolveConfig } from '../src/train/config.ts';
import { train, type TrainData } from '../src/train/trainer.ts';
import type { StepPhases } from '../src/train/phases.ts';
import { Rng } from '../src/util/rng.ts';

const { values } = parseFlags(process.argv.slice(2), {
  config: { type: 'string', default: 'configs/moe16.json' },
  method: { type: 'string', default: 'bip' },
  steps: { type: 'string', default: '10' },
  'cpu-steps': { type: 'string', default: '2' },
  warmup: { type: 'string', default: '4' },
  'cpu-warmup': { type: 'string', default: '1' },
  backends: { type: 'string', default: 'wasm,cpu' },
  workers: { type: 'string', default: '1,2' },
  rounds: { type: 'string', default: '1' },
  set: { type: 'string', multiple: true },
  out: { type: 'string' },
  /** Internal: run one row in this process (the parent spawns one child per row) and print it as JSON. */
  child: { type: 'string' },
});

const HERE = dirname(fileURLToPath(import.meta.url));

function randomData(vocabSize: number, n: number, seed: number): TrainData {
  const rng = new Rng(seed);
  const tokens = () => Int32Array.from({ length: n }, () => rng.int(vocabSize));
  return { name: 'random', vocabSize, train: tokens(), val: tokens() };
}

interface Row {
  round: number;
  backend: string;
  /** Data-parallel worker threads (train --workers). */
  workers: number;
  steps: number;
  tokensPerSec: number;
  tokensPerCpuSec: number;
  stepMs: number;
  routingMs: number;
  routingShare: number;
  /** Resident memory of this process after the run (the wasm heap keeps its peak size). */
  rssMB: number;
  /** Mean ms per measured step in each phase (rank 0's view; phases.ts). */
  phases: StepPhases;
  /** Every measured step's wall-clock time, in order. */
  stepsMs: number[];
  /** Load average (1 min) when the run started and when it ended. */
  load: [number, number];
}

const PHASES: (keyof StepPhases)[] = ['forward', 'routing', 'backward', 'exchange', 'optimizer', 'waits'];

interface Run {
  backend: string;
  workers: number;
  round: number;
}

/** One row, measured in this process. */
async function runOne({ backend, workers, round }: Run): Promise<Row> {
  const measured = Number(backend === 'cpu' ? values['cpu-steps'] : values.steps);
  const warmup = Number(backend === 'cpu' ? values['cpu-warmup'] : values.warmup);
  const cfg = resolveConfig({
    file: values.config,
    sets: values.set ?? [],
    flags: { method: values.method, backend, steps: warmup + measured, warmupSteps: 1, evalEvery: 0, evalBatches: 1, checkpointEvery: 0 },
  });
  const n = cfg.batchSize * cfg.seqLen;
  const data = randomData(cfg.vocabSize, Math.max(4 * n, 50_000), cfg.seed);
  const out = mkdtempSync(join(tmpdir(), 'moe-bench-train-'));
  const lines: { stepMs: number; routingMs: number }[] = [];
  const phases: StepPhases[] = [];
  let cpu0 = process.cpuUsage();
  let cpuMs = NaN;
  const load0 = loadavg()[0];
  try {
    await train({
      config: cfg,
      outDir: out,
      data,
      quiet: true,
      workers,
      // Stop before the final evaluation and checkpoint: only training steps are timed.
      stopAfterStep: warmup + measured,
      hooks: {
        afterPhases: (step, p) => {
          if (step > warmup) phases.push(p);
          process.stderr.write(`  ${backend} W=${workers} step ${step} phases: ${PHASES.map((k) => `${k} ${p[k].toFixed(0)}`).join(' ')}\n`);
        },
        afterStep: (l) => {
          if (l.step === warmup) cpu0 = process.cpuUsage();
          if (l.step > warmup) lines.push({ stepMs: l.stepMs, routingMs: l.routingMs });
          if (l.step === warmup + measured) cpuMs = (process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1000;
          process.stderr.write(`  ${backend} W=${workers} step ${l.step}: ${l.stepMs.toFixed(0)} ms (routing ${l.routingMs.toFixed(1)} ms)\n`);
        },
      },
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const stepMs = lines.reduce((a, l) => a + l.stepMs, 0) / lines.length;
  const routingMs = lines.reduce((a, l) => a + l.routingMs, 0) / lines.length;
  const rssMB = process.memoryUsage().rss / 1e6;
  // Tokens per second of this process's CPU time (all its threads): less sensitive to other processes
  // on a shared machine than the wall-clock figure, though not immune (caches, memory bandwidth).
  const tokensPerCpuSec = (n * lines.length) / (cpuMs / 1000);
  const mean = Object.fromEntries(PHASES.map((k) => [k, phases.reduce((a, p) => a + p[k], 0) / phases.length])) as unknown as StepPhases;
  return {
    round,
    backend,
    workers,
    steps: lines.length,
    tokensPerSec: n / (stepMs / 1000),
    tokensPerCpuSec,
    stepMs,
    routingMs,
    routingShare: routingMs / stepMs,
    rssMB,
    phases: mean,
    stepsMs: lines.map((l) => l.stepMs),
    load: [load0, loadavg()[0]],
  };
}

/** Runs one row in a fresh child process (this script with --child) and returns the row it prints last. */
function runChild(run: Run): Promise<Row> {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--child', JSON.stringify(run)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trimEnd().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) reject(new Error(`bench:train child (${run.backend}, W=${run.workers}) exited with ${code}`));
      else resolve(JSON.parse(last) as Row);
    });
  });
}

function describe(r: Row, warmup: number, bipIters: number | null): void {
  console.log(
    `${Number(values.rounds) > 1 ? `round ${r.round}: ` : ''}${values.config} method=${values.method}${bipIters !== null ? ` T=${bipIters}` : ''} backend=${r.backend} workers=${r.workers}: ` +
      `${r.tokensPerSec.toFixed(0)} tokens/s (${r.tokensPerCpuSec.toFixed(0)} per CPU-second), step ${r.stepMs.toFixed(0)} ms, routing ${r.routingMs.toFixed(1)} ms ` +
      `(${(100 * r.routingShare).toFixed(1)}% of the step), ${r.steps} steps after ${warmup} warm-up, ` +
      `rss ${r.rssMB.toFixed(0)} MB, load average ${r.load[0].toFixed(2)} -> ${r.load[1].toFixed(2)}`,
  );
  console.log(
    `  where the step goes (rank 0): ` +
      PHASES.map((k) => `${k} ${r.phases[k].toFixed(0)} ms${k === 'waits' ? '' : ` (${((100 * r.phases[k]) / r.stepMs).toFixed(1)}%)`}`).join(', ') +
      (r.workers > 1 ? ' (waits: at barriers, inside routing, exchange and optimizer)' : ''),
  );
}

if (values.child !== undefined) {
  console.log(JSON.stringify(await runOne(JSON.parse(values.child) as Run)));
  process.exit(0);
}

const rows: Row[] = [];
const runs = values.backends.split(',').flatMap((backend) => (backend === 'wasm' ? values.workers.split(',').map(Number) : [1]).map((workers) => ({ backend, workers })));
const schedule = Array.from({ length: Number(values.rounds) }, (_, r) => (r % 2 === 0 ? runs : [...runs].reverse()).map((x) => ({ ...x, round: r + 1 }))).flat();
const started = new Date().toISOString();
const { method, bipIters } = resolveConfig({ file: values.config, sets: values.set ?? [], flags: { method: values.method } });
for (const run of schedule) {
  const row = await runChild(run);
  rows.push(row);
  describe(row, Number(run.backend === 'cpu' ? values['cpu-warmup'] : values.warmup), method === 'bip' ? Number(bipIters) : null);
}
/** tokens/s over the given rows' measured steps together. */
const rate = (rs: Row[]) => rs.reduce((a, r) => a + r.tokensPerSec * r.stepMs * r.steps, 0) / rs.reduce((a, r) => a + r.stepMs * r.steps, 0);
const rounds = [...new Set(rows.map((r) => r.round))];
const wasmWorkers = [...new Set(rows.filter((r) => r.backend === 'wasm' && r.workers > 1).map((r) => r.workers))];
for (const W of wasmWorkers) {
  const pick = (w: number, round?: number) => rows.filter((r) => r.backend === 'wasm' && r.workers === w && (round === undefined || r.round === round));
  if (pick(1).length === 0) continue;
  if (rounds.length > 1) for (const round of rounds) console.log(`round ${round}: wasm workers=${W} vs 1: ${(rate(pick(W, round)) / rate(pick(1, round))).toFixed(2)}x tokens/s`);
  console.log(`${rounds.length > 1 ? 'all rounds: ' : ''}wasm workers=${W} vs 1: ${(rate(pick(W)) / rate(pick(1))).toFixed(2)}x tokens/s`);
}
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: HERE, encoding: 'utf8' }).trim();
} catch {
  // not a git checkout (an installed package): the results say 'unknown'
}
const result = {
  bench: 'train',
  config: values.config,
  method: values.method,
  started,
  finished: new Date().toISOString(),
  commit,
  cores: cpus().length,
  command: `npm run bench:train${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  rows,
};
const outPath = values.out ?? join(HERE, 'results', 'train.json');
writeFileAtomic(outPath, JSON.stringify(result, null, 1) + '\n');
console.log(`results: ${outPath}`);
