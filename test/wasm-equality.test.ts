/**
 * The WebAssembly SIMD kernels must give exactly what the TypeScript reference gives: the same experts
 * in the same order, the same weights and loads, and the same state (q, b, beta) to the last bit, call
 * after call with the state carried over (warm start). Shapes: those of the other routing tests, plus
 * n not a multiple of the SIMD width, m not a multiple of 4, m = 2, k = m - 1, large batches; inputs:
 * random, skewed, all-equal, zero, coarse ties (adversarial()).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../src/routing/factory.ts';
import type { Balancer, RouteResult } from '../src/routing/types.ts';
import { loadKernelsSync } from '../src/routing/wasm/instance.ts';
import { adversarial, softmaxScores } from './helpers/scores.ts';

const CONFIGS: [string, Record<string, unknown>][] = [
  ['topk', {}],
  ['bip', {}],
  ['bip', { iters: 1 }],
  ['bip', { iters: 2 }],
  ['bip', { iters: 8, truncate: false }],
  ['bip', { truncate: 'q' }],
  ['bip', { order: 'route-then-update' }],
  ['bip', { iters: 0 }],
  ['lossfree', {}],
  ['lossfree', { rate: 0.05, update: 'linear' }],
  ['quantile', {}],
  ['quantile', { bins: 64 }],
];

const SHAPES: [number, number, number][] = [
  [37, 5, 2],
  [64, 8, 1],
  [96, 16, 4],
  [3, 4, 3],
  [1001, 7, 3], // n and m not multiples of 4
  [513, 2, 1], // m = 2
  [200, 13, 12], // k = m - 1, m odd
  [130, 66, 5], // m > 64: two mask words, m not a multiple of 4
  [2049, 64, 4],
  [1024, 16, 2],
];

/** Bits of a number (so that -0 and 0, or two NaNs, are told apart exactly). */
function bits(v: number[]): string[] {
  const f = new Float64Array(1);
  const u = new BigUint64Array(f.buffer);
  return v.map((x) => {
    f[0] = x;
    return u[0].toString(16);
  });
}

/** Index of the first element where two arrays differ (Object.is), or -1. */
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let x = 0; x < a.length; x++) if (!Object.is(a[x], b[x])) return x;
  return -1;
}

function assertSame(a: RouteResult, b: RouteResult, what: string): void {
  for (const key of ['experts', 'weights', 'loads'] as const) {
    const x = firstDiff(a[key], b[key]);
    assert.equal(x, -1, `${what}: ${key}[${x}] = ${a[key][x]} (wasm) vs ${b[key][x]} (typescript)`);
  }
}

function assertSameState(a: Balancer, b: Balancer, what: string): void {
  const sa = a.getState();
  const sb = b.getState();
  assert.deepEqual(Object.keys(sa), Object.keys(sb), `${what}: state keys`);
  for (const key of Object.keys(sa)) assert.deepEqual(bits(sa[key]), bits(sb[key]), `${what}: state ${key} differs in some bit`);
}

/** Routes the same stream through both paths, comparing every call. */
function compareStream(method: string, options: Record<string, unknown>, batches: Float32Array[], n: number, m: number, k: number, label: string): void {
  const fast = createBalancer(method, { ...options, kernels: 'wasm' });
  const ref = createBalancer(method, { ...options, kernels: 'typescript' });
  batches.forEach((s, step) => {
    const what = `${method} ${JSON.stringify(options)} ${label} n=${n} m=${m} k=${k} call ${step}`;
    assertSame(fast.route(s, n, m, k), ref.route(s, n, m, k), what);
    assertSameState(fast, ref, what);
    // Evaluation calls (update: false) route with the current state and leave it alone.
    assertSame(fast.route(s, n, m, k, { update: false }), ref.route(s, n, m, k, { update: false }), `${what} (update: false)`);
  });
}

test('the wasm kernels load here (Node with WebAssembly SIMD)', () => {
  assert.ok(loadKernelsSync() !== null, 'WebAssembly SIMD kernels failed to load');
});

test('wasm kernels equal the TypeScript reference on every shape, method and warm-started stream', () => {
  for (const [n, m, k] of SHAPES) {
    // Five calls of new tokens with the same expert popularity (the state carries over), then the
    // adversarial inputs in turn on the same balancers.
    const random = Array.from({ length: 5 }, (_, b) => softmaxScores(n, m, 7 * n + b, 1 + (b % 3)));
    const adv = adversarial(n, m, n + m);
    for (const [method, options] of CONFIGS) {
      compareStream(method, options, [...random, ...Object.values(adv), random[0]], n, m, k, 'stream');
      for (const [name, s] of Object.entries(adv)) compareStream(method, options, [s, s], n, m, k, name);
    }
  }
});

test('wasm kernels equal the reference on a large batch, long warm-started streams (sparse iterations exercised)', () => {
  const [n, m, k] = [8192, 64, 4];
  const batches = Array.from({ length: 6 }, (_, b) => softmaxScores(n, m, 99 + b, 2));
  for (const options of [{}, { truncate: false, iters: 3 }]) compareStream('bip', options, batches, n, m, k, 'large');
  compareStream('quantile', {}, batches, n, m, k, 'large');
});

test('huge finite scores are accepted and routed as the reference does (the fused check only hints, then confirms)', () => {
  // The first pass checks a row with a running f32 sum: 16 scores of 3e37 per lane overflow it to
  // +inf, which the check must confirm on the row itself (no bad score) instead of refusing the batch.
  for (const [n, m, k] of [[300, 64, 4], [300, 16, 2], [300, 8, 1]] as [number, number, number][]) {
    const s = softmaxScores(n, m, 5 * n + m);
    for (let i = 0; i < n; i += 3) for (let j = 0; j < m; j++) s[i * m + j] = 3e37 * (1 + ((i + j) % 5));
    for (const [method, options] of [['topk', {}], ['bip', {}], ['lossfree', {}], ['quantile', {}]] as [string, Record<string, unknown>][]) {
      compareStream(method, options, [s, s], n, m, k, 'huge');
    }
  }
});

test('kernels option: unknown values are rejected with the option named', () => {
  assert.throws(() => createBalancer('bip', { kernels: 'gpu' }), /option 'kernels' of 'bip' must be one of auto, wasm, typescript/);
});

test('the kernels check the scores in their first pass exactly as the reference does: same message, state untouched', () => {
  // Shapes where the check is fused into the first pass (m a multiple of 4, with and without a
  // specialised build) and where it is its own pass (m not a multiple of 4, m = 2; k + 1 > 16: no group floor).
  const shapes: [number, number, number][] = [
    [300, 64, 4],
    [300, 16, 2],
    [300, 12, 3],
    [300, 7, 3],
    [300, 2, 1],
    [300, 40, 20],
  ];
  const configs: [string, Record<string, unknown>][] = [['topk', {}], ['bip', {}], ['bip', { iters: 0 }], ['bip', { order: 'route-then-update' }], ['quantile', {}], ['lossfree', {}]];
  for (const [n, m, k] of shapes) {
    const base = softmaxScores(n, m, n + m);
    const bads = [NaN, Infinity, -Infinity, ...(k > 1 ? [-0.25] : [])];
    bads.forEach((v, b) => {
      for (const at of [0, n * m - 1, ((b + 1) * 7919 * m + 3) % (n * m)]) {
        const s = base.slice();
        s[at] = v;
        if (k > 1) s[(at + 5 * m) % (n * m)] = -1; // a second bad score later in the batch: the first is named
        for (const [method, options] of configs) {
          const messages = (['wasm', 'typescript'] as const).map((kernels) => {
            const bal = createBalancer(method, { ...options, kernels });
            bal.route(base, n, m, k);
            const before = JSON.stringify(bal.getState());
            let message = 'no error';
            try {
              bal.route(s, n, m, k);
            } catch (e) {
              message = (e as Error).message;
            }
            assert.equal(JSON.stringify(bal.getState()), before, `${method} ${kernels}: state changed by a refused call`);
            return message;
          });
          const what = `${method} ${JSON.stringify(options)} n=${n} m=${m} k=${k}, ${v} at ${at}`;
          assert.notEqual(messages[0], 'no error', `${what}: wasm accepted it`);
          assert.equal(messages[0], messages[1], what);
        }
      }
    });
  }
});
