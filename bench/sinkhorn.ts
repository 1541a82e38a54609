/**
 * Sinkhorn (S-BASE) against BIP at the same number of iterations T, i.e. the same number of row and
 * column passes over the scores (each does one row pass and one column pass per iteration):
 *
 *   npm run bench:sinkhorn              # (n, m, k) = (4096,16,2), (16384,64,4); T = 1, 2, 4, 8
 *   moe-balance bench sinkhorn [--quick] [--out FILE]
 *
 * Per size and T: median ms per call (after warm-up, calls cycling through 3 batches of the same expert
 * popularity, bench/routing.ts's generator), the nominal passes over the n x m scores (BIP 2T + 1: T dual
 * iterations and the routing; Sinkhorn 2T + 3: the kernel exp(log s / τ), T iterations, the keys, the
 * top-k), and the MaxVio of one call from a cold start (BIP's q = 0, Sinkhorn is stateless) and, for
 * BIP, after 10 warm-started calls. Sinkhorn runs with tol = 0 so that it does exactly T iterations.
 * Writes bench/results/sinkhorn.json. Reported, not asserted (speed is never a test).
 */
import { loadavg, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../src/io/atomicWrite.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { maxVio } from '../src/routing/metrics.ts';
import { parseFlags } from '../src/util/args.ts';
import { median } from '../src/report/format.ts';
import { syntheticScores } from './routing.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

const HELP = `Usage: moe-balance bench sinkhorn [options]   (or: npm run bench:sinkhorn -- [options])

Sinkhorn (S-BASE) against BIP at the same number of iterations T = 1, 2, 4, 8 (one row and one column
pass over the scores each): ms per call, passes, and MaxVio from a cold start (and BIP warm).
  --quick        (4096, 16, 2) only, T = 1 and 4, few repeats
  --out FILE     JSON results (default bench/results/sinkhorn.json; sinkhorn-quick.json with --quick)
  -h, --help     this help`;

interface Row {
  n: number;
  m: number;
  k: number;
  T: number;
  bipMs: number;
  sinkhornMs: number;
  bipPasses: number;
  sinkhornPasses: number;
  bipColdMaxVio: number;
  bipWarmMaxVio: number;
  sinkhornMaxVio: number;
}

function timeMs(fn: (b: number) => void, reps: number, batches: number): number {
  for (let w = 0; w < 3; w++) fn(w % batches);
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn(r % batches);
    times.push(performance.now() - t0);
  }
  return median(times);
}

export async function runSinkhornBench(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { quick: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const quick = values.quick ?? false;
  const sizes: [number, number, number][] = quick ? [[4096, 16, 2]] : [[4096, 16, 2], [16384, 64, 4]];
  const iters = quick ? [1, 4] : [1, 2, 4, 8];
  const reps = quick ? 5 : 21;
  const load0 = loadavg()[0];
  const rows: Row[] = [];
  for (const [n, m, k] of sizes) {
    const batches = [0, 1, 2].map((b) => syntheticScores(n, m, 100 + b, 7));
    for (const T of iters) {
      const bip = createBalancer('bip', { iters: T });
      const sk = createBalancer('sinkhorn', { iters: T, tol: 0 });
      const bipMs = timeMs((b) => bip.route(batches[b], n, m, k), reps, batches.length);
      const sinkhornMs = timeMs((b) => sk.route(batches[b], n, m, k), reps, batches.length);
      const cold = createBalancer('bip', { iters: T }).route(batches[0], n, m, k);
      const warmBip = createBalancer('bip', { iters: T });
      let warm = warmBip.route(batches[0], n, m, k);
      for (let c = 1; c < 10; c++) warm = warmBip.route(batches[c % 3], n, m, k);
      const skr = sk.route(batches[0], n, m, k);
      rows.push({
        n,
        m,
        k,
        T,
        bipMs,
        sinkhornMs,
        bipPasses: 2 * T + 1,
        sinkhornPasses: 2 * T + 3,
        bipColdMaxVio: maxVio(cold.loads, n, k),
        bipWarmMaxVio: maxVio(warm.loads, n, k),
        sinkhornMaxVio: maxVio(skr.loads, n, k),
      });
    }
  }
  const load1 = loadavg()[0];
  const f = (x: number, d: number) => x.toFixed(d);
  console.log('| n | m | k | T | BIP ms | Sinkhorn ms | Sinkhorn / BIP | passes BIP / Sinkhorn | MaxVio BIP cold | BIP warm (10 calls) | Sinkhorn |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.n} | ${r.m} | ${r.k} | ${r.T} | ${f(r.bipMs, 2)} | ${f(r.sinkhornMs, 2)} | ${f(r.sinkhornMs / r.bipMs, 2)}× | ${r.bipPasses} / ${r.sinkhornPasses} | ${f(r.bipColdMaxVio, 3)} | ${f(r.bipWarmMaxVio, 3)} | ${f(r.sinkhornMaxVio, 3)} |`,
    );
  }
  console.log(`load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after, ${cpus().length} cores${quick ? ' (--quick)' : ''}`);
  const out = values.out ?? join(HERE, 'results', quick ? 'sinkhorn-quick.json' : 'sinkhorn.json');
  writeFileAtomic(out, `${JSON.stringify({ date: new Date().toISOString(), loadAverage: [load0, load1], cores: cpus().length, reps, rows }, null, 2)}\n`);
  console.log(`wrote ${out}`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = await runSinkhornBench(process.argv.slice(2));
