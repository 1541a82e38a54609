/**
 * Routing benchmark: ms per call of each balancer on both of its paths (the WebAssembly SIMD kernels,
 * the default, and the TypeScript reference) against the same algorithms written with numpy
 * (bench/peer_numpy.py) on the same inputs, and against the read floor: numpy's sum of the batch (one
 * pass over the scores) times the passes an algorithm cannot avoid (top-k and Loss-Free 1, Quantile 2,
 * BIP T+1: T row steps and the routing).
 *
 *   npm run bench                      # full run: (n, m, k) = (4096,16,2), (16384,64,4), (65536,256,8)
 *   npm run bench -- --quick           # smoke test: smallest size, few repeats
 *   moe-balance bench [--quick] [--out FILE] [--no-numpy] [--no-replay]
 *
 * Per size: median ms per call after warm-up (calls cycle through 3 batches of new tokens with the same
 * expert popularity, the state carried from call to call, as in training; numpy and ours take turns
 * for --rounds rounds and each keeps its lowest median) of topk, bip T=1,2,4,8, quantile, lossfree, and
 * online BIP (TypeScript only: a per-token loop, no wasm kernel and no numpy peer); tokens per second.
 * Targets (reported, not asserted), at (16384, 64, 4): bip T=4 at least 8x faster than numpy and within
 * 4x of T+1 = 5 reads of the scores (numpy sum); top-k at least 8x faster than numpy's argpartition;
 * bip T=4 within 3x of our top-k. Then end to end, both paths: `simulate --replay` and `route` (one
 * process per batch, state chained) on a recorded (steps, layers, n, m) replay written to a temporary
 * folder. Writes bench/results/routing.json (routing-quick.json with --quick).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../src/io/atomicWrite.ts';
import { readNpy, writeNpy } from '../src/io/npy.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { parseMethodSpec, type MethodSpec } from '../src/routing/registry.ts';
import type { Balancer } from '../src/routing/types.ts';
import { loadKernelsSync } from '../src/routing/wasm/instance.ts';
import { choiceFlag, intFlag, parseFlags } from '../src/util/args.ts';
import { median } from '../src/report/format.ts';
import { Rng } from '../src/util/rng.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');

const SIZES: [number, number, number][] = [
  [4096, 16, 2],
  [16384, 64, 4],
  [65536, 256, 8],
];

interface BenchMethod {
  /** Name in the results and the numpy peer's manifest. */
  name: string;
  /** Registry spec of the balancer. */
  spec: string;
  /** Passes over the n x m scores the algorithm cannot avoid: the read floor is this many sums. */
  reads: number;
  /** Online BIP (a per-token loop) and exact: no numpy peer and no wasm kernel (TypeScript only). */
  typescriptOnly?: true;
}

/** Batches per size, routed in turn. */
const BATCHES = 3;

const METHODS: (BenchMethod & MethodSpec)[] = [
  { name: 'topk', spec: 'topk', reads: 1 },
  { name: 'bip1', spec: 'bip-T1', reads: 2 },
  { name: 'bip2', spec: 'bip-T2', reads: 3 },
  { name: 'bip4', spec: 'bip-T4', reads: 5 },
  { name: 'bip8', spec: 'bip-T8', reads: 9 },
  { name: 'quantile', spec: 'quantile', reads: 2 },
  { name: 'lossfree', spec: 'lossfree', reads: 1 },
  // Online BIP: per token a top-k of s − q and the row's spread, then an O(m) update of q.
  { name: 'online', spec: 'online', reads: 1, typescriptOnly: true as const },
  // exact: top-k of s − q, eviction and repair over few rows, the certificate; bench/exact.ts has its breakdown.
  { name: 'exact', spec: 'exact', reads: 2, typescriptOnly: true as const },
  // The field's exact balancers (issue 14): Sinkhorn's default iterations, each a row and a column pass
  // (bench/sinkhorn.ts compares it with BIP pass for pass); Expert Choice, a top-c per expert column.
  { name: 'sinkhorn', spec: 'sinkhorn', reads: 2, typescriptOnly: true as const },
  { name: 'expertchoice', spec: 'expertchoice', reads: 1, typescriptOnly: true as const },
].map((b) => ({ ...b, ...parseMethodSpec(b.spec) }));

interface Budget {
  budgetMs: number;
  minReps: number;
  maxReps: number;
  warmup: number;
}

export interface MethodResult {
  name: string;
  /** ms per call, WebAssembly SIMD kernels (the default path), on the run's clock (cpu or wall). */
  ms: number;
  /** The same on the wall clock. */
  wallMs: number;
  reps: number;
  /** ms per call, TypeScript reference path (measured in the first round only). */
  typescriptMs: number;
  reads: number;
  /** ms / (reads x numpy's sum of one batch): how far from the memory-read floor. */
  overReadFloor: number | null;
  numpyMs: number | null;
  /** numpy_ms / ours_ms: above 1 means ours is faster. */
  numpyOverOurs: number | null;
  /** Tokens routed per second (n / the time per call). */
  tokensPerS: number;
  /** Fraction of tokens given the same expert set by numpy (one call from a fresh state). */
  agreementWithNumpy?: number | null;
}

export interface SizeResult {
  n: number;
  m: number;
  k: number;
  /** numpy's sum of one batch (ms): one read of the scores. */
  numpySumMs: number | null;
  /** The same with the wasm kernels' f32x4 sum of the batch already in wasm memory. */
  wasmSumMs: number;
  /** Copying one batch into wasm memory (every wasm call starts with it; part of each wasm ms). */
  copyInMs: number;
  methods: MethodResult[];
  /** 1-minute load average before and after this size (2 cores shared with other work). */
  loadAverage: [number, number];
}

interface PeerOutput {
  numpy: string;
  cases: { sumMs: number; sumCpuMs: number; methods: Record<string, { ms?: number; cpuMs?: number; expertsFile?: string }> }[];
}

/** Runs bench/peer_numpy.py on one score matrix. */
function runPeer(dir: string, scoresPaths: string[], k: number, budget: Budget): PeerOutput {
  const manifest = join(dir, 'manifest.json');
  writeFileAtomic(manifest, JSON.stringify({ cases: [{ k, scores: scoresPaths }], methods: METHODS.filter((x) => !x.typescriptOnly).map((x) => x.name), ...budget }));
  const r = spawnSync('python3', [join(HERE, 'peer_numpy.py'), manifest], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench/peer_numpy.py failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as PeerOutput;
}

/**
 * Which clock the reported ms use. 'cpu' (default): this process's CPU time per call, which on a
 * machine shared with other work is what a call cost (the wall time adds the time other processes held
 * the core: at load average 20-40 on 2 cores, most of it). 'wall': wall-clock time, for a quiet machine.
 */
type Clock = 'cpu' | 'wall';

/** Median ms of `fn` on the chosen clock (and on the other), after warm-up, repeats fitted to the budget. */
function timeCalls(fn: () => void, b: Budget, clock: Clock): { ms: number; wallMs: number; cpuMs: number; reps: number } {
  for (let w = 0; w < b.warmup; w++) fn();
  let t0 = performance.now();
  fn();
  const first = performance.now() - t0;
  const reps = Math.max(b.minReps, Math.min(b.maxReps, Math.ceil(b.budgetMs / Math.max(first, 1e-3))));
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const wallMs = median(wall);
  const cpuMs = median(cpu);
  return { ms: clock === 'cpu' ? cpuMs : wallMs, wallMs, cpuMs, reps };
}

/**
 * Router scores like a real gate's: softmax of normal logits plus a per-expert popularity offset.
 * Batches with the same `popularitySeed` share the offsets (one layer's router over successive batches);
 * `seed` draws the tokens.
 */
export function syntheticScores(n: number, m: number, seed: number, popularitySeed = seed): Float32Array {
  const popularity = new Rng(popularitySeed);
  const offset = Float64Array.from({ length: m }, () => popularity.normal());
  const rng = new Rng(seed + 0x9e3779b9);
  const s = new Float32Array(n * m);
  const row = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < m; j++) {
      row[j] = rng.normal() + offset[j];
      if (row[j] > max) max = row[j];
    }
    let sum = 0;
    for (let j = 0; j < m; j++) {
      row[j] = Math.exp(row[j] - max);
      sum += row[j];
    }
    for (let j = 0; j < m; j++) s[i * m + j] = row[j] / sum;
  }
  return s;
}

function numpyVersion(): string | null {
  const r = spawnSync('python3', ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function sameSets(a: Int32Array, b: Int32Array, n: number, k: number): number {
  let same = 0;
  for (let i = 0; i < n; i++) {
    const x = Array.from(a.subarray(i * k, i * k + k)).sort((p, q) => p - q);
    const y = Array.from(b.subarray(i * k, i * k + k)).sort((p, q) => p - q);
    if (x.every((v, t) => v === y[t])) same++;
  }
  return same / n;
}

const HELP = `Usage: npm run bench -- [options]   (or: moe-balance bench [options])

  --quick        smallest size only, few repeats (a smoke test)
  --no-numpy     skip the numpy peer (bench/peer_numpy.py); the read floor is then the wasm SIMD sum
  --no-replay    skip the end-to-end simulate/route replay
  --clock C      cpu (default): CPU time of the calling process per call, robust when other work
                 shares the cores; wall: wall-clock time (a quiet machine)
  --rounds R     numpy and ours take turns R times per size; each keeps its lowest median
                 (default 2; 1 with --quick)
  --out FILE     where to write the JSON results (default bench/results/routing.json,
                 bench/results/routing-quick.json with --quick)
  -h, --help     this help

  moe-balance bench sinkhorn [--quick] [--out FILE]: Sinkhorn against BIP at the same passes (bench/sinkhorn.ts)`;

/** The recorded replay of the end-to-end timing: (steps, layers, n, m) = REPLAY. */
const REPLAY = { steps: 6, layers: 2, n: 16384, m: 64, k: 4 };

export interface ReplayResult {
  shape: [number, number, number, number];
  k: number;
  methods: string;
  /** Wall-clock seconds of `simulate --replay` (one process: start-up, reading, routing, metrics, report). */
  simulateS: { wasm: number; typescript: number };
  /** Sum over steps, layers and methods of simulate's own routingMs (route() calls only), ms. */
  simulateRoutingMs: { wasm: number; typescript: number };
  /** Wall-clock seconds of `route --method bip` over every (step, layer 0) batch, one process each, state chained. */
  routeS: { wasm: number; typescript: number };
}

function cli(args: string[], kernels: string): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/moe-balance.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, MOE_BALANCE_KERNELS: kernels },
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`moe-balance ${args.join(' ')} failed:\n${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

/** simulate and route end to end on a replay written to `dir`, both paths. */
function replayBench(dir: string): ReplayResult {
  const { steps, layers, n, m, k } = REPLAY;
  const all = new Float32Array(steps * layers * n * m);
  for (let t = 0; t < steps; t++) {
    for (let l = 0; l < layers; l++) {
      const batch = syntheticScores(n, m, 5000 + 10 * t + l, 777 + l);
      all.set(batch, (t * layers + l) * n * m);
      if (l === 0) writeNpy(join(dir, `replay_step${t}.npy`), batch, [n, m]);
    }
  }
  const file = join(dir, 'replay.npy');
  writeNpy(file, all, [steps, layers, n, m]);
  const methods = 'topk lossfree quantile bip-T4';
  const res: ReplayResult = {
    shape: [steps, layers, n, m],
    k,
    methods,
    simulateS: { wasm: 0, typescript: 0 },
    simulateRoutingMs: { wasm: 0, typescript: 0 },
    routeS: { wasm: 0, typescript: 0 },
  };
  for (const kernels of ['wasm', 'typescript'] as const) {
    const out = join(dir, `sim-${kernels}`);
    res.simulateS[kernels] = cli(['simulate', '--replay', file, '--gate', 'none', '--k', String(k), '--methods', methods, '--out', out, '--quiet'], kernels);
    let ms = 0;
    for (const line of readFileSync(join(out, 'log.jsonl'), 'utf8').split('\n')) {
      if (line.trim() !== '') ms += (JSON.parse(line) as { routingMs: number | null }).routingMs ?? 0;
    }
    res.simulateRoutingMs[kernels] = ms;
    const state = join(dir, `state-${kernels}.json`);
    let s = 0;
    for (let t = 0; t < steps; t++) {
      s += cli(['route', '--method', 'bip', '--k', String(k), '--input', join(dir, `replay_step${t}.npy`), '--state', state, '--output', join(dir, `route-${kernels}.json`)], kernels);
    }
    res.routeS[kernels] = s;
  }
  return res;
}

export async function runRoutingBench(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    quick: { type: 'boolean' },
    'no-numpy': { type: 'boolean' },
    'no-replay': { type: 'boolean' },
    rounds: { type: 'string' },
    clock: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const quick = values.quick ?? false;
  const sizes = quick ? SIZES.slice(0, 1) : SIZES;
  const budget: Budget = quick ? { budgetMs: 150, minReps: 3, maxReps: 50, warmup: 1 } : { budgetMs: 1500, minReps: 7, maxReps: 400, warmup: 3 };
  // The TypeScript reference is timed once, with a smaller budget (it is the slow path).
  const tsBudget: Budget = quick ? budget : { budgetMs: 800, minReps: 3, maxReps: 100, warmup: 2 };
  const rounds = intFlag('rounds', values.rounds, 1) ?? (quick ? 1 : 2);
  const clock: Clock = choiceFlag('clock', values.clock, ['cpu', 'wall']) ?? 'cpu';
  const outPath = values.out ?? join(HERE, 'results', quick ? 'routing-quick.json' : 'routing.json');
  const npVersion = values['no-numpy'] ? null : numpyVersion();
  const kernels = loadKernelsSync();
  if (kernels === null) throw new Error('the WebAssembly SIMD kernels do not load here; the benchmark compares them with the reference');
  const load0 = loadavg();
  console.log(`routing bench: ${quick ? 'quick' : 'full'}; ${clock} clock; numpy ${npVersion ?? 'not used'}; load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);

  const dir = mkdtempSync(join(tmpdir(), 'moe-bench-'));
  try {
    // Inputs first, written as .npy so that numpy routes exactly the same float32 matrices.
    // BATCHES batches per size with the same expert popularity, routed in turn: each call sees new
    // tokens, as in training, so a warm-started state is not handed the answer to the same batch again.
    const inputs = sizes.map(([n, m, k], x) => {
      const batches = Array.from({ length: BATCHES }, (_, b) => syntheticScores(n, m, 1000 * (x + 1) + b, 1000 + x));
      const paths = batches.map((scores, b) => {
        const path = join(dir, `scores_${n}x${m}_${b}.npy`);
        writeNpy(path, scores, [n, m]);
        return path;
      });
      return { n, m, k, batches, paths };
    });

    const peerVersion: { numpy: string | null } = { numpy: null };
    const results: SizeResult[] = [];
    for (const { n, m, k, batches, paths } of inputs) {
      const scores = batches[0];
      const loadBefore = loadavg()[0];
      // numpy and ours take turns (never at the same time), `rounds` times; each keeps its lowest
      // median, so a burst of load from other processes during one turn does not decide the ratio.
      const oursMs = new Map<string, { ms: number; wallMs: number; reps: number }>();
      const tsMs = new Map<string, number>();
      const numpyMs = new Map<string, number>();
      let numpySumMs: number | null = null;
      let wasmSumMs = Infinity;
      let copyInMs = Infinity;
      let expertsFiles: Record<string, string> = {};
      for (let round = 0; round < rounds; round++) {
        if (npVersion !== null) {
          const peer = runPeer(dir, paths, k, budget);
          peerVersion.numpy = peer.numpy;
          const c = peer.cases[0];
          numpySumMs = Math.min(clock === 'cpu' ? c.sumCpuMs : c.sumMs, numpySumMs ?? Infinity);
          for (const [name, v] of Object.entries(c.methods)) {
            const ms = clock === 'cpu' ? v.cpuMs : v.ms;
            if (ms !== undefined) numpyMs.set(name, Math.min(ms, numpyMs.get(name) ?? Infinity));
            if (v.expertsFile !== undefined) expertsFiles = { ...expertsFiles, [name]: v.expertsFile };
          }
        }
        copyInMs = Math.min(copyInMs, timeCalls(() => kernels.loadForSum(scores, n, m), budget, clock).ms);
        kernels.loadForSum(scores, n, m);
        wasmSumMs = Math.min(wasmSumMs, timeCalls(() => void kernels.sumLoaded(), { ...budget, minReps: budget.minReps * 4, maxReps: budget.maxReps * 10 }, clock).ms);
        for (const spec of METHODS) {
          for (const path of round === 0 ? (['wasm', 'typescript'] as const) : (['wasm'] as const)) {
            if (spec.typescriptOnly && path === 'wasm') continue;
            const bal: Balancer = createBalancer(spec.method, spec.typescriptOnly ? spec.options : { ...spec.options, kernels: path });
            let call = 0;
            const t = timeCalls(() => void bal.route(batches[call++ % BATCHES], n, m, k), path === 'wasm' ? budget : tsBudget, clock);
            if (path === 'typescript') tsMs.set(spec.name, t.ms);
            if (spec.typescriptOnly) oursMs.set(spec.name, t);
            else if (!oursMs.has(spec.name) || t.ms < (oursMs.get(spec.name) as { ms: number }).ms) oursMs.set(spec.name, t);
          }
        }
      }
      const floorMs = numpySumMs ?? wasmSumMs;
      const methods: MethodResult[] = METHODS.map((spec) => {
        const t = oursMs.get(spec.name) as { ms: number; wallMs: number; reps: number };
        const np = numpyMs.get(spec.name);
        const res: MethodResult = {
          name: spec.name,
          ms: t.ms,
          wallMs: t.wallMs,
          reps: t.reps,
          typescriptMs: tsMs.get(spec.name) as number,
          reads: spec.reads,
          overReadFloor: t.ms / (spec.reads * floorMs),
          numpyMs: np ?? null,
          numpyOverOurs: np !== undefined ? np / t.ms : null,
          tokensPerS: n / (t.ms / 1000),
        };
        const file = expertsFiles[spec.name];
        if (file !== undefined) {
          const theirs = readNpy(file).data as Int32Array;
          const ours = createBalancer(spec.method, spec.options).route(scores, n, m, k).experts;
          res.agreementWithNumpy = sameSets(ours, theirs, n, k);
        }
        return res;
      });
      const size: SizeResult = { n, m, k, numpySumMs, wasmSumMs, copyInMs, methods, loadAverage: [loadBefore, loadavg()[0]] };
      results.push(size);
      printSize(size);
    }

    const targets = targetsOf(results);
    if (targets) {
      console.log('\ntargets at (16384, 64, 4):');
      for (const [name, t] of Object.entries(targets.checks)) console.log(`  ${name.padEnd(22)} ${fmt(t.value, 2).padStart(7)}  goal ${t.goal}: ${verdict(t.met)}`);
      if (Object.values(targets.checks).some((t) => t.met === false)) for (const line of targets.whereTimeGoes) console.log(`  ${line}`);
    }
    let replay: ReplayResult | null = null;
    if (!quick && !values['no-replay']) {
      replay = replayBench(dir);
      const { shape, simulateS, simulateRoutingMs, routeS } = replay;
      console.log(`\nreplay (steps, layers, n, m) = (${shape.join(', ')}), k = ${replay.k}; wasm vs typescript`);
      console.log(`  simulate --replay (${replay.methods}): ${simulateS.wasm.toFixed(2)} s vs ${simulateS.typescript.toFixed(2)} s wall; route() calls ${(simulateRoutingMs.wasm / 1000).toFixed(2)} s vs ${(simulateRoutingMs.typescript / 1000).toFixed(2)} s`);
      console.log(`  route --method bip, one process per batch (${shape[0]} batches): ${routeS.wasm.toFixed(2)} s vs ${routeS.typescript.toFixed(2)} s wall`);
    }
    const load1 = loadavg();
    const out = {
      date: new Date().toISOString(),
      quick,
      machine: {
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        node: process.version,
        numpy: peerVersion.numpy,
        platform: `${process.platform} ${process.arch}`,
        loadAverageStart: load0,
        loadAverageEnd: load1,
      },
      timing: {
        ...budget,
        typescriptBudget: tsBudget,
        rounds,
        batches: BATCHES,
        clock,
        statistic: `median ms per call (${clock === 'cpu' ? 'CPU time of the calling process' : 'wall clock'}) after warm-up, lowest over rounds (numpy and ours alternate; the TypeScript path in the first round only); calls cycle through ${BATCHES} batches of the same popularity; balancer state carried between calls`,
      },
      readFloor: 'reads x numpy sum of one batch (topk, lossfree 1; quantile 2; bip T+1)',
      sizes: results,
      targets,
      replay,
    };
    mkdirSync(dirname(outPath), { recursive: true });
    writeFileAtomic(outPath, JSON.stringify(out, null, 2) + '\n');
    console.log(`load average at the end ${load1.map((v) => v.toFixed(2)).join(' ')}; wrote ${outPath}`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Check {
  value: number | null;
  goal: string;
  met: boolean | null;
}

/**
 * Where a call's time goes, from this run's own numbers: the copy into wasm memory, the top-k pass in
 * units of reads of the batch, and BIP's cost per dual iteration ((T=8 - T=4) / 4) against a top-k.
 * A BIP call is the copy, T row passes (each with its column step) and the routing pass, and every
 * pass costs about one top-k, not one read: the time is in the ~k + 2 experts per row that pass the
 * SIMD prefilter (exact f64 keys, the selection network, the column buffers), c/kernels.c.
 */
function whereTimeGoes(r: SizeResult): string[] {
  const get = (name: string) => r.methods.find((x) => x.name === name) as MethodResult;
  const topk = get('topk').ms;
  const [b1, b4, b8] = [get('bip1').ms, get('bip4').ms, get('bip8').ms];
  const perIter = (b8 - b4) / 4;
  const read = r.numpySumMs ?? r.wasmSumMs;
  const lines = [
    `where the time goes (this run, ms): copying the scores into wasm memory ${r.copyInMs.toFixed(2)} (in every call); one read of the batch ${read.toFixed(2)};`,
    `  top-k ${topk.toFixed(2)} = copy + one pass of ${((topk - r.copyInMs) / read).toFixed(1)} reads (the pass spends its time on the ~k + 2 experts a row that pass the prefilter);`,
    `  bip: each further dual iteration ${perIter.toFixed(2)} (${(perIter / topk).toFixed(2)} top-k calls); T=1 ${b1.toFixed(2)} = ${(b1 / topk).toFixed(2)} top-k calls`,
    `  (copy, the first row pass with its group floors and the input check, the column step, the routing pass); T=4 ${b4.toFixed(2)} = ${(b4 / topk).toFixed(2)} top-k calls.`,
  ];
  const numpyTopk = get('topk').numpyMs;
  if (numpyTopk !== null) {
    lines.push(`  top-k at 8x numpy would be ${(numpyTopk / 8).toFixed(2)} ms: ${(numpyTopk / 8 - r.copyInMs).toFixed(2)} ms once the copy is paid, ${((numpyTopk / 8 - r.copyInMs) / read).toFixed(1)} reads for the whole pass.`);
  }
  return lines;
}

/** The four ratios at (16384, 64, 4). */
function targetsOf(results: SizeResult[]): { size: number[]; checks: Record<string, Check>; whereTimeGoes: string[] } | null {
  const r = results.find((x) => x.n === 16384 && x.m === 64 && x.k === 4);
  if (!r) return null;
  const get = (name: string) => r.methods.find((x) => x.name === name) as MethodResult;
  const bip4 = get('bip4');
  const topk = get('topk');
  const atLeast = (v: number | null, g: number): Check => ({ value: v, goal: `>= ${g}`, met: v === null ? null : v >= g });
  const atMost = (v: number | null, g: number): Check => ({ value: v, goal: `<= ${g}`, met: v === null ? null : v <= g });
  return {
    size: [16384, 64, 4],
    checks: {
      'bip4 numpy/ours': atLeast(bip4.numpyOverOurs, 8),
      'bip4 / 5 reads': atMost(bip4.overReadFloor, 4),
      'topk numpy/ours': atLeast(topk.numpyOverOurs, 8),
      'bip4 / our topk': atMost(bip4.ms / topk.ms, 3),
    },
    whereTimeGoes: whereTimeGoes(r),
  };
}

function fmt(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined ? '-' : v.toFixed(digits);
}

function verdict(met: boolean | null): string {
  return met === null ? 'n/a' : met ? 'met' : 'NOT met';
}

function printSize(r: SizeResult): void {
  console.log(
    `\n(n, m, k) = (${r.n}, ${r.m}, ${r.k}): scores ${((r.n * r.m * 4) / 2 ** 20).toFixed(2)} MiB; one read: numpy sum ${fmt(r.numpySumMs, 3)} ms, wasm sum ${r.wasmSumMs.toFixed(3)} ms; load average ${r.loadAverage.map((x) => x.toFixed(2)).join(' -> ')}`,
  );
  const head = ['method', 'wasm ms', 'Mtok/s', 'ts ms', 'ts/wasm', 'numpy ms', 'numpy/wasm', 'reads', 'wasm/floor', 'agree'];
  const rows = r.methods.map((x) => [
    x.name,
    x.ms.toFixed(3),
    (x.tokensPerS / 1e6).toFixed(2),
    x.typescriptMs.toFixed(2),
    (x.typescriptMs / x.ms).toFixed(1),
    fmt(x.numpyMs, 3),
    fmt(x.numpyOverOurs, 2),
    String(x.reads),
    fmt(x.overReadFloor, 2),
    x.agreementWithNumpy === undefined || x.agreementWithNumpy === null ? '' : `${(100 * x.agreementWithNumpy).toFixed(2)}%`,
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]): string => cells.map((s, c) => (c === 0 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join('  ');
  console.log(line(head));
  for (const row of rows) console.log(line(row));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runRoutingBench(process.argv.slice(2));
}
