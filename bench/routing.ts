/**
 * Routing benchmark: ms per call of each balancer against the memory bandwidth of this machine and
 * against the same algorithms written with numpy (bench/peer_numpy.py), on the same inputs.
 *
 *   npm run bench                      # full run: (n, m, k) = (4096,16,2), (16384,64,4), (65536,256,8)
 *   npm run bench -- --quick           # smoke test: smallest size, few repeats
 *   moe-balance bench [--quick] [--out FILE] [--no-numpy]
 *
 * Per size: median ms per call after warm-up (calls cycle through 3 batches of new tokens with the same
 * expert popularity, the state carried from call to call, as in training; numpy and ours take turns
 * for --rounds rounds and each keeps its lowest median) of
 * topk, bip T=1,2,4, quantile, lossfree, online (no numpy peer: a per-token loop); tokens per second; the bytes of scores read per call, counted as n·m·4 times the
 * algorithm's passes over the score matrix (top-k 1, lossfree 1, quantile 3, bip 2T+1), and the GB/s
 * achieved; the read bandwidth measured by summing a Float32Array of the same size; for bip T=4 the
 * ratio of its time to 2T+1 reads at that bandwidth; numpy's ms and numpy_ms / ours_ms. Targets
 * (reported, not asserted), at (16384, 64, 4): bip T=4 at least 2x faster than numpy, and within 4x of
 * 2T+1 reads at the measured bandwidth. Writes bench/results/routing.json (routing-quick.json with --quick).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CliError } from '../src/cli/errors.ts';
import { writeFileAtomic } from '../src/io/atomicWrite.ts';
import { readNpy, writeNpy } from '../src/io/npy.ts';
import { createBalancer } from '../src/routing/factory.ts';
import type { Balancer } from '../src/routing/types.ts';
import { Rng } from '../src/util/rng.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

const SIZES: [number, number, number][] = [
  [4096, 16, 2],
  [16384, 64, 4],
  [65536, 256, 8],
];

interface MethodSpec {
  name: string;
  method: string;
  options: Record<string, unknown>;
  /** Passes over the n x m scores the algorithm makes (its nominal reads). */
  passes: number;
  /** Whether bench/peer_numpy.py has it (online BIP is a per-token loop: no vectorised numpy peer). */
  peer?: false;
}

/** Batches per size, routed in turn. */
const BATCHES = 3;

const METHODS: MethodSpec[] = [
  { name: 'topk', method: 'topk', options: {}, passes: 1 },
  { name: 'bip1', method: 'bip', options: { iters: 1 }, passes: 3 },
  { name: 'bip2', method: 'bip', options: { iters: 2 }, passes: 5 },
  { name: 'bip4', method: 'bip', options: { iters: 4 }, passes: 9 },
  { name: 'quantile', method: 'quantile', options: {}, passes: 3 },
  { name: 'lossfree', method: 'lossfree', options: {}, passes: 1 },
  // Online BIP: per token a top-k of s − q and the row's spread (2 passes), then an O(m) update of q.
  { name: 'online', method: 'online', options: {}, passes: 2, peer: false },
];

interface Budget {
  budgetMs: number;
  minReps: number;
  maxReps: number;
  warmup: number;
}

export interface MethodResult {
  name: string;
  ms: number;
  reps: number;
  passes: number;
  bytesPerCall: number;
  gbPerS: number;
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
  readBandwidthGBs: number;
  methods: MethodResult[];
  /** bip T=4: ms / (ms to read the scores 2T+1 = 9 times at the measured bandwidth). */
  bip4OverBandwidth: number;
  /** 1-minute load average before and after this size (2 cores shared with other work). */
  loadAverage: [number, number];
}

interface PeerOutput {
  numpy: string;
  cases: { methods: Record<string, { ms?: number; expertsFile?: string }> }[];
}

/** Runs bench/peer_numpy.py on one score matrix. */
function runPeer(dir: string, scoresPaths: string[], k: number, budget: Budget): PeerOutput {
  const manifest = join(dir, 'manifest.json');
  writeFileAtomic(manifest, JSON.stringify({ cases: [{ k, scores: scoresPaths }], methods: METHODS.filter((x) => x.peer !== false).map((x) => x.name), ...budget }));
  const r = spawnSync('python3', [join(HERE, 'peer_numpy.py'), manifest], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench/peer_numpy.py failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as PeerOutput;
}

/** Median of `fn`'s wall time in ms, after warm-up, with the number of repeats fitted to the budget. */
function timeCalls(fn: () => void, b: Budget): { ms: number; reps: number } {
  for (let w = 0; w < b.warmup; w++) fn();
  let t0 = performance.now();
  fn();
  const first = performance.now() - t0;
  const reps = Math.max(b.minReps, Math.min(b.maxReps, Math.ceil(b.budgetMs / Math.max(first, 1e-3))));
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const mid = times.length >> 1;
  return { ms: times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2, reps };
}

/** Sum with four accumulators (so the loop is bound by loads, not by one add chain). */
function sumFloat32(a: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const len = a.length - (a.length % 4);
  for (let x = 0; x < len; x += 4) {
    s0 += a[x];
    s1 += a[x + 1];
    s2 += a[x + 2];
    s3 += a[x + 3];
  }
  for (let x = len; x < a.length; x++) s0 += a[x];
  return s0 + s1 + s2 + s3;
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
  --no-numpy     skip the numpy peer (bench/peer_numpy.py)
  --rounds R     numpy and ours take turns R times per size; each keeps its lowest median
                 (default 2; 1 with --quick)
  --out FILE     where to write the JSON results (default bench/results/routing.json,
                 bench/results/routing-quick.json with --quick)
  -h, --help     this help`;

export async function runRoutingBench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      'no-numpy': { type: 'boolean' },
      rounds: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const quick = values.quick ?? false;
  const sizes = quick ? SIZES.slice(0, 1) : SIZES;
  const budget: Budget = quick ? { budgetMs: 150, minReps: 3, maxReps: 50, warmup: 1 } : { budgetMs: 1500, minReps: 7, maxReps: 400, warmup: 3 };
  const rounds = values.rounds === undefined ? (quick ? 1 : 2) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new CliError(`--rounds must be an integer >= 1, got '${values.rounds}'`);
  const outPath = values.out ?? join(HERE, 'results', quick ? 'routing-quick.json' : 'routing.json');
  const npVersion = values['no-numpy'] ? null : numpyVersion();
  const load0 = loadavg();
  console.log(`routing bench: ${quick ? 'quick' : 'full'}; numpy ${npVersion ?? 'not used'}; load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);

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
      const bytes = n * m * 4;
      const loadBefore = loadavg()[0];
      // numpy and ours take turns (never at the same time), `rounds` times; each keeps its lowest
      // median, so a burst of load from other processes during one turn does not decide the ratio.
      const oursMs = new Map<string, { ms: number; reps: number }>();
      const numpyMs = new Map<string, number>();
      let bwMs = Infinity;
      let expertsFiles: Record<string, string> = {};
      for (let round = 0; round < rounds; round++) {
        if (npVersion !== null) {
          const peer = runPeer(dir, paths, k, budget);
          peerVersion.numpy = peer.numpy;
          for (const [name, v] of Object.entries(peer.cases[0].methods)) {
            if (v.ms !== undefined) numpyMs.set(name, Math.min(v.ms, numpyMs.get(name) ?? Infinity));
            if (v.expertsFile !== undefined) expertsFiles = { ...expertsFiles, [name]: v.expertsFile };
          }
        }
        bwMs = Math.min(bwMs, timeCalls(() => void sumFloat32(scores), { ...budget, minReps: budget.minReps * 4, maxReps: budget.maxReps * 10 }).ms);
        for (const spec of METHODS) {
          const bal: Balancer = createBalancer(spec.method, spec.options);
          let call = 0;
          const t = timeCalls(() => void bal.route(batches[call++ % BATCHES], n, m, k), budget);
          const prev = oursMs.get(spec.name);
          if (prev === undefined || t.ms < prev.ms) oursMs.set(spec.name, t);
        }
      }
      const readBandwidthGBs = bytes / (bwMs * 1e6);
      const methods: MethodResult[] = METHODS.map((spec) => {
        const t = oursMs.get(spec.name) as { ms: number; reps: number };
        const np = numpyMs.get(spec.name);
        const res: MethodResult = {
          name: spec.name,
          ms: t.ms,
          reps: t.reps,
          passes: spec.passes,
          bytesPerCall: bytes * spec.passes,
          gbPerS: (bytes * spec.passes) / (t.ms * 1e6),
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
      const bip4 = methods.find((r) => r.name === 'bip4') as MethodResult;
      const size: SizeResult = {
        n,
        m,
        k,
        readBandwidthGBs,
        methods,
        bip4OverBandwidth: bip4.ms / ((9 * bytes) / (readBandwidthGBs * 1e6)),
        loadAverage: [loadBefore, loadavg()[0]],
      };
      results.push(size);
      printSize(size);
    }

    const target = results.find((r) => r.n === 16384 && r.m === 64 && r.k === 4);
    const bip4 = target?.methods.find((r) => r.name === 'bip4');
    const targets = target && bip4
      ? {
          size: [16384, 64, 4],
          bip4NumpyOverOurs: { value: bip4.numpyOverOurs, goal: '>= 2', met: bip4.numpyOverOurs === null ? null : bip4.numpyOverOurs >= 2 },
          bip4OverBandwidth: { value: target.bip4OverBandwidth, goal: '<= 4', met: target.bip4OverBandwidth <= 4 },
        }
      : null;
    if (targets) {
      console.log(
        `\ntargets at (16384, 64, 4): bip T=4 numpy/ours = ${fmt(targets.bip4NumpyOverOurs.value, 2)} (goal >= 2: ${verdict(targets.bip4NumpyOverOurs.met)}); ` +
          `time / 9 reads at measured bandwidth = ${fmt(targets.bip4OverBandwidth.value, 2)} (goal <= 4: ${verdict(targets.bip4OverBandwidth.met)})`,
      );
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
        rounds,
        batches: BATCHES,
        statistic: `median ms per call after warm-up, lowest over rounds (numpy and ours alternate); calls cycle through ${BATCHES} batches of the same popularity; balancer state carried between calls`,
      },
      passesCounted: 'nominal passes over the n*m float32 scores: topk 1, lossfree 1, quantile 3, bip 2T+1, online 2 (input validation, the transposed copy and quickselect re-reads are not counted)',
      sizes: results,
      targets,
    };
    mkdirSync(dirname(outPath), { recursive: true });
    writeFileAtomic(outPath, JSON.stringify(out, null, 2) + '\n');
    console.log(`load average at the end ${load1.map((v) => v.toFixed(2)).join(' ')}; wrote ${outPath}`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fmt(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined ? '-' : v.toFixed(digits);
}

function verdict(met: boolean | null): string {
  return met === null ? 'n/a' : met ? 'met' : 'NOT met';
}

function printSize(r: SizeResult): void {
  console.log(`\n(n, m, k) = (${r.n}, ${r.m}, ${r.k}): scores ${((r.n * r.m * 4) / 2 ** 20).toFixed(2)} MiB; read bandwidth (Float32Array sum) ${r.readBandwidthGBs.toFixed(2)} GB/s; load average ${r.loadAverage.map((x) => x.toFixed(2)).join(' -> ')}`);
  const head = ['method', 'ms/call', 'Mtok/s', 'passes', 'MB/call', 'GB/s', 'numpy ms', 'numpy/ours', 'agree'];
  const rows = r.methods.map((x) => [
    x.name,
    x.ms.toFixed(3),
    (x.tokensPerS / 1e6).toFixed(2),
    String(x.passes),
    (x.bytesPerCall / 1e6).toFixed(1),
    x.gbPerS.toFixed(2),
    fmt(x.numpyMs, 3),
    fmt(x.numpyOverOurs, 2),
    x.agreementWithNumpy === undefined || x.agreementWithNumpy === null ? '' : `${(100 * x.agreementWithNumpy).toFixed(2)}%`,
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]): string => cells.map((s, c) => (c === 0 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join('  ');
  console.log(line(head));
  for (const row of rows) console.log(line(row));
  console.log(`bip T=4: ${r.bip4OverBandwidth.toFixed(2)} x the time of 9 reads of the scores at the measured bandwidth`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runRoutingBench(process.argv.slice(2));
}
