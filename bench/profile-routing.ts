/**
 * Focused profile of the wasm routing path at one shape (default (16384, 64, 4)): the whole balancer
 * call against its parts (copy + check of the scores, the kernel alone, copying the results out), and
 * optionally an external .wasm build for comparison. Variants alternate within one run, CPU clock.
 *
 *   node --import tsx bench/profile-routing.ts [--n 16384 --m 64 --k 4] [--rounds 3] [--only NAME]
 *     [--seed 2000 --popularity 1001]   the batches (syntheticScores of bench/routing.ts)
 *     [--alt FILE.wasm ...]   also time other builds of c/kernels.c (bare kernel calls), e.g. a variant
 *     [--proto DIR]           the prototype's builds (DIR/bip2*.wasm, /work/shared/prototypes/wasm-bip)
 *     [--before DIR]          also the balancers of another checkout (e.g. a git worktree of an older
 *                             commit): before/after in one run
 *     [--phases FILE.wasm]    a profiling build (bash scripts/build-wasm.sh --phases FILE.wasm): wall ms
 *                             per phase of dualRoute T=4 (row pass t, column step t, final routing)
 */
import { readFileSync, existsSync } from 'node:fs';
import { parseFlags } from '../src/util/args.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { loadKernelsSync } from '../src/routing/wasm/instance.ts';
import { KernelTuning, RoutingKernels, type KernelExports } from '../src/routing/wasm/kernels.ts';
import { syntheticScores } from './routing.ts';

const { values } = parseFlags(process.argv.slice(2), {
  n: { type: 'string', default: '16384' },
  m: { type: 'string', default: '64' },
  k: { type: 'string', default: '4' },
  rounds: { type: 'string', default: '3' },
  seed: { type: 'string', default: '2000' },
  popularity: { type: 'string', default: '1001' },
  reps: { type: 'string', default: '60' },
  proto: { type: 'string' },
  alt: { type: 'string', multiple: true },
  phases: { type: 'string' },
  before: { type: 'string' },
  only: { type: 'string' },
});
const n = Number(values.n), m = Number(values.m), k = Number(values.k);
const rounds = Number(values.rounds), reps = Number(values.reps);
// By default the batches of bench/routing.ts at (16384, 64, 4) (its size index x = 1): same popularity,
// new tokens; --seed and --popularity draw others.
const batches = [0, 1, 2].map((b) => syntheticScores(n, m, Number(values.seed) + b, Number(values.popularity)));

function cpuMedian(fn: () => void): number {
  for (let w = 0; w < 3; w++) fn();
  const t: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    t.push((c.user + c.system) / 1000);
  }
  t.sort((a, b) => a - b);
  return t[t.length >> 1];
}

const kernels = loadKernelsSync();
if (!kernels) throw new Error('no kernels');
const x = (kernels as unknown as { x: KernelExports }).x;

let b = 0;
const next = () => batches[b++ % 3];
const variants: [string, () => void][] = [];
const topk = createBalancer('topk', {});
variants.push(['ours topk (balancer)', () => topk.route(next(), n, m, k)]);
for (const T of [1, 4]) {
  const bip = createBalancer('bip', { iters: T });
  variants.push([`ours bip T=${T} (balancer)`, () => bip.route(next(), n, m, k)]);
}
// Parts: loading (copy + check) alone, then the kernel alone on loaded scores.
variants.push(['ours load (copy+check)', () => (kernels as unknown as { load(s: Float32Array, n: number, m: number, k: number): void }).load(next(), n, m, k)]);
variants.push(['ours topk_plain kernel', () => x.topk_plain()]);
variants.push(['ours sum_scores', () => x.sum_scores()]);
if (values.before) {
  const { createBalancer: createBefore } = (await import(`${values.before}/src/routing/factory.ts`)) as { createBalancer: typeof createBalancer };
  const old = createBefore('topk', {});
  variants.push(['before: topk (balancer)', () => old.route(next(), n, m, k)]);
  for (const T of [1, 4]) {
    const bip = createBefore('bip', { iters: T });
    variants.push([`before: bip T=${T} (balancer)`, () => bip.route(next(), n, m, k)]);
  }
}

/** Bare kernel calls of one build: top-k and dualRoute T=1, 4 from a warm q. */
function kernelVariants(label: string, kern: RoutingKernels): void {
  variants.push([`${label} topk (kernels.ts)`, () => kern.topk(next(), n, m, k)]);
  for (const T of [1, 4]) {
    const q = new Float64Array(m);
    const tun = new KernelTuning();
    for (let w = 0; w < 6; w++) kern.dualRoute(next(), n, m, k, q, T, 3, tun);
    variants.push([`${label} dualRoute T=${T}`, () => kern.dualRoute(next(), n, m, k, q, T, 3, tun)]);
  }
}
kernelVariants('ours', kernels);
for (const file of values.alt ?? []) {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), {});
  kernelVariants(file.replace(/^.*\//, ''), new RoutingKernels(inst.exports as unknown as KernelExports));
}

if (values.proto) {
  const dir = values.proto;
  const file = existsSync(`${dir}/bip2_m${m}k${k}.wasm`) ? `${dir}/bip2_m${m}k${k}.wasm` : `${dir}/bip2.wasm`;
  const mod = new WebAssembly.Module(readFileSync(file));
  for (const T of [1, 4]) {
    const inst = new WebAssembly.Instance(mod, {});
    const px = inst.exports as Record<string, (...a: number[]) => number> & { memory: WebAssembly.Memory };
    const sPtr = px.init(n, m, k, T);
    const view = () => new Float32Array(px.memory.buffer, sPtr, n * m);
    if (T === 1) {
      variants.push(['proto topk (copy+kernel)', () => { view().set(next()); px.topk_only(); }]);
      variants.push(['proto topk kernel', () => px.topk_only()]);
    }
    variants.push([`proto bip T=${T} (copy+kernel)`, () => { view().set(next()); px.route(); }]);
  }
}

const sel = values.only ? variants.filter(([name]) => name.includes(values.only!)) : variants;
const best = new Map<string, number>();
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of sel) {
    const ms = cpuMedian(fn);
    best.set(name, Math.min(best.get(name) ?? Infinity, ms));
  }
}
const { loadavg } = await import('node:os');
console.log(`(${n}, ${m}, ${k}), CPU ms per call, lowest median of ${rounds} rounds x ${reps} reps; load ${loadavg()[0].toFixed(2)}`);
for (const [name, ms] of best) console.log(`${name.padEnd(36)} ${ms.toFixed(3)}`);

if (values.phases) {
  // Phase timers (c/kernels.c TIC/TOC): slots 2t and 2t+1 for row pass and column step t, 15 the final routing.
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(values.phases)), { env: { now: () => performance.now() } });
  const px = inst.exports as unknown as KernelExports & { phases(): number };
  const kern = new RoutingKernels(px);
  const q = new Float64Array(m);
  const tun = new KernelTuning();
  for (let w = 0; w < 10; w++) kern.dualRoute(next(), n, m, k, q, 4, 3, tun);
  new Float64Array(px.memory.buffer, px.phases(), 16).fill(0);
  const calls = reps;
  const t0 = performance.now();
  for (let c = 0; c < calls; c++) kern.dualRoute(next(), n, m, k, q, 4, 3, tun);
  const total = (performance.now() - t0) / calls;
  const ph = Array.from(new Float64Array(px.memory.buffer, px.phases(), 16), (v) => v / calls);
  const named = [0, 1, 2, 3].map((t) => `row ${t} ${ph[2 * t].toFixed(3)}, col ${t} ${ph[2 * t + 1].toFixed(3)}`).join('; ');
  console.log(`phases of dualRoute T=4 (wall ms per call, ${calls} calls, total ${total.toFixed(3)}): ${named}; route ${ph[15].toFixed(3)}`);
}
