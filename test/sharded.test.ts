/**
 * Sharded balancing (src/routing/sharded.ts, shardedSelect.ts): a batch split at random into W = 2, 3, 7
 * shards of unequal sizes must give, call after call, the single-process state (q, b, β) to the last bit
 * and every token the single-process experts and weights; auxloss its gradient bitwise and its loss to
 * float64 rounding. The exact distributed selection is also checked alone against quickselect on values
 * with many ties, with bracketing settings that force several levels and the level cap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../src/routing/factory.ts';
import { createShardedBalancer, evenShardSizes, routeSharded } from '../src/routing/sharded.ts';
import { countLadder, LADDER_EMIN, LADDER_OCTAVES, shardedColumnSelect, shardedKthLargest, type ShardedSelectOptions } from '../src/routing/shardedSelect.ts';
import { DualWorkspace, maxAbsDiff, rowStep } from '../src/routing/dual.ts';
import { loadKernelsSync } from '../src/routing/wasm/instance.ts';
import type { ShardLadder } from '../src/routing/wasm/kernels.ts';
import { runShards } from '../src/routing/collective.ts';
import { kthLargest } from '../src/routing/select.ts';
import type { AuxLossResult, BalancerState } from '../src/routing/types.ts';
import { Rng } from '../src/util/rng.ts';
import { adversarial, softmaxScores } from './helpers/scores.ts';

/** W sizes >= 1 summing to n, drawn unequal: W − 1 distinct random cut points. */
function randomSizes(n: number, W: number, rng: Rng): number[] {
  const cuts = new Set<number>();
  while (cuts.size < W - 1) cuts.add(1 + rng.int(n - 1));
  const sorted = [0, ...[...cuts].sort((a, b) => a - b), n];
  return sorted.slice(1).map((c, w) => c - sorted[w]);
}

/** Bitwise equality of two state objects (Object.is: distinguishes −0 and +0, NaN equal to NaN). */
function sameState(a: BalancerState, b: BalancerState, what: string): void {
  assert.deepEqual(Object.keys(a), Object.keys(b), `${what}: state keys`);
  for (const key of Object.keys(a)) {
    assert.equal(a[key].length, b[key].length, `${what}: ${key} length`);
    for (let j = 0; j < a[key].length; j++) {
      assert.ok(Object.is(a[key][j], b[key][j]), `${what}: ${key}[${j}] sharded ${a[key][j]} vs single ${b[key][j]}`);
    }
  }
}

const CONFIGS: [string, Record<string, unknown>][] = [
  ['topk', {}],
  ['bip', {}],
  ['bip', { iters: 8, truncate: false }],
  ['bip', { truncate: 'q' }],
  ['bip', { order: 'route-then-update', iters: 2 }],
  ['bip', { kernels: 'typescript' }],
  ['bip', { kernels: 'typescript', truncate: false, iters: 3 }],
  ['lossfree', {}],
  ['lossfree', { rate: 0.05, update: 'linear' }],
  ['quantile', {}],
  ['quantile', { bins: 64 }],
  ['quantile', { kernels: 'typescript' }],
  ['auxloss', {}],
  ['auxloss', { form: 'sequence', seqLen: 1 }],
];

const SELECTS: ShardedSelectOptions[] = [{}, { bins: 4, gatherMax: 3, maxLevels: 3 }];

test('sharded routing equals single-process routing exactly (W = 1, 2, 3, 7; unequal shards; 6 calls each; wasm and TypeScript shard paths)', () => {
  const rng = new Rng(11);
  const shapes: [number, number, number][] = [
    [517, 16, 2],
    [96, 8, 3],
    [61, 5, 1],
  ];
  let cases = 0;
  for (const [n, m, k] of shapes) {
    for (const [method, options] of CONFIGS) {
      for (const W of [1, 2, 3, 7]) {
        for (const select of SELECTS) {
          const single = createBalancer(method, options);
          const shards = Array.from({ length: W }, () => createShardedBalancer(method, options, select));
          // Four calls on different batches, so the warm-started state is compared after each.
          const batches = [softmaxScores(n, m, 100 + cases), softmaxScores(n, m, 200 + cases, 0.5), ...Object.values(adversarial(n, m, cases)).slice(0, 4)];
          for (let call = 0; call < batches.length; call++) {
            const scores = batches[call];
            const what = `${method} ${JSON.stringify(options)} n=${n} m=${m} k=${k} W=${W} select=${JSON.stringify(select)} call ${call}`;
            const sizes = randomSizes(n, W, rng);
            const want = single.route(scores, n, m, k);
            const { result: got } = routeSharded(shards, scores, n, m, k, sizes);
            assert.deepEqual(got.experts, want.experts, `${what}: experts`);
            assert.deepEqual(got.weights, want.weights, `${what}: weights`);
            assert.deepEqual(got.loads, want.loads, `${what}: loads`);
            for (const s of shards) sameState(s.getState(), single.getState(), what);
            if (method === 'auxloss') {
              const g = got as AuxLossResult;
              const w = want as AuxLossResult;
              if (options.form !== 'sequence') assert.deepEqual(g.auxGrad, w.auxGrad, `${what}: auxGrad`);
              else for (let x = 0; x < w.auxGrad.length; x++) assert.ok(Math.abs(g.auxGrad[x] - w.auxGrad[x]) <= 1e-6 * Math.abs(w.auxGrad[x]), `${what}: auxGrad[${x}]`);
              assert.ok(Math.abs(g.auxLoss - w.auxLoss) <= 1e-12 * Math.abs(w.auxLoss), `${what}: auxLoss ${g.auxLoss} vs ${w.auxLoss}`);
            }
          }
          cases++;
        }
      }
    }
  }
  assert.equal(cases, 3 * CONFIGS.length * 4 * SELECTS.length);
});

test('update: false routes with the state and changes nothing, sharded as unsharded', () => {
  const [n, m, k] = [200, 8, 2];
  for (const method of ['bip', 'lossfree', 'quantile']) {
    const single = createBalancer(method);
    const shards = [0, 1, 2].map(() => createShardedBalancer(method));
    single.route(softmaxScores(n, m, 1), n, m, k);
    routeSharded(shards, softmaxScores(n, m, 1), n, m, k, [50, 120, 30]);
    const before = single.getState();
    const want = single.route(softmaxScores(n, m, 2), n, m, k, { update: false });
    const { result, comm } = routeSharded(shards, softmaxScores(n, m, 2), n, m, k, [70, 10, 120], { update: false });
    assert.deepEqual(result.experts, want.experts, method);
    assert.equal(comm.rounds, 0, `${method}: no exchange without an update`);
    for (const s of shards) sameState(s.getState(), before, method);
  }
});

test('shardedKthLargest: the r-th largest of the union, for every r, with ties and several bracketing levels', () => {
  const rng = new Rng(5);
  for (const [N, m, distinct] of [
    [300, 3, 1000000],
    [300, 3, 7], // heavy ties
    [50, 2, 1], // all equal
  ] as [number, number, number][]) {
    const all = new Float64Array(N * m);
    for (let x = 0; x < all.length; x++) all[x] = rng.int(distinct) / distinct - 0.5;
    const sizes = randomSizes(N, 5, rng);
    for (const select of [{}, { bins: 2, gatherMax: 1, maxLevels: 2 }, { bins: 3, gatherMax: 1, maxLevels: 20 }]) {
      for (const r of [1, 2, 17, Math.floor(N / 2), N - 1, N, N + 1]) {
        // Hints: none, a value of the column (often the answer's neighbour), or one outside the values.
        for (const hint of [null, Float64Array.from({ length: m }, (_, j) => all[rng.int(N) * m + j]), Float64Array.from({ length: m }, () => rng.next() * 2 - 1)]) {
          let row = 0;
          const programs = sizes.map((s) => {
            const part = all.subarray(row * m, (row + s) * m);
            row += s;
            return shardedKthLargest(part, s, m, N, sizes.length, r, select, hint);
          });
          const { results } = runShards(programs);
          for (let j = 0; j < m; j++) {
            const col = new Float64Array(N);
            for (let i = 0; i < N; i++) col[i] = all[i * m + j];
            const want = kthLargest(col, N, r);
            for (const got of results) assert.ok(Object.is(got[j], want), `N=${N} distinct=${distinct} r=${r} col ${j} ${JSON.stringify(select)} hint ${hint?.[j]}: ${got[j]} vs ${want}`);
          }
        }
      }
    }
  }
});

test('shardedColumnSelect: s − p values spread over every octave around the hint, ties at it, and a floor', () => {
  const rng = new Rng(8);
  const [N, m] = [400, 4];
  // Column j's values: the hint h_j plus or minus 2^e·(1 + u), e from −60 to 8 (below, inside and above
  // the ladder's octaves), a fifth of them exactly h_j; kept as s = v + p with float32 s and float64 p
  // chosen so that s − p gives v back exactly (p a small dyadic, v a float32).
  const hint = Float64Array.of(0.25, 0, -3, 1e-9);
  const s = new Float32Array(N * m);
  const p = new Float64Array(N);
  for (let i = 0; i < N; i++) p[i] = rng.int(8) / 64;
  const v = new Float64Array(N * m);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < m; j++) {
      const e = rng.int(69) - 60;
      const x = rng.int(5) === 0 ? hint[j] : hint[j] + (rng.int(2) === 0 ? -1 : 1) * 2 ** e * (1 + rng.next());
      s[i * m + j] = Math.fround(x + p[i]);
      v[i * m + j] = s[i * m + j] - p[i];
    }
  }
  // Ranks exactly at the floors' counts (the r-th largest then is the smallest value ≥ the floor) too.
  const atFloor = [0, 0.25].map((f) => v.filter((x, a) => a % m === 0 && x >= f).length);
  const ranks = [1, 3, 77, 200, 399, N, ...atFloor, ...atFloor.map((c) => c + 1)];
  let checked = 0;
  for (const W of [1, 2, 3]) {
    const sizes = W === 1 ? [N] : randomSizes(N, W, rng);
    for (const select of [{}, { bins: 2, gatherMax: 1, maxLevels: 30 }, { bins: 3, gatherMax: 2, maxLevels: 1 }]) {
      for (const r of ranks) {
        for (const floor of [-Infinity, 0, 0.25]) {
          let row = 0;
          const programs = sizes.map((size) => {
            const src = { s: s.subarray(row * m, (row + size) * m), p: p.subarray(row, row + size), n: size, m };
            row += size;
            return shardedColumnSelect(src, (total) => (total === N ? r : -1), select, hint, floor);
          });
          const { results } = runShards(programs);
          for (let j = 0; j < m; j++) {
            const col = Float64Array.from({ length: N }, (_, i) => v[i * m + j]);
            const kth = kthLargest(col, N, r);
            const want = kth >= floor ? kth : -Infinity;
            for (const got of results) {
              assert.equal(got.total, N);
              assert.equal(got.shards, W);
              assert.ok(Object.is(got.values[j], want), `W=${W} r=${r} floor=${floor} col ${j} ${JSON.stringify(select)}: ${got.values[j]} vs ${want}`);
            }
            checked++;
          }
        }
      }
    }
  }
  assert.equal(checked, 3 * 3 * ranks.length * 3 * m);
});

test('wasm shard row step and ladder (c/shard.h) equal the TypeScript rowStep and countLadder bit for bit', () => {
  const kernels = loadKernelsSync();
  assert.ok(kernels, 'the wasm kernels load in Node');
  const rng = new Rng(21);
  let checked = 0;
  // (m, k) specialised and not, m not a multiple of 4 (padded rows), k = m − 1.
  for (const [n, m, k] of [
    [300, 16, 2],
    [97, 5, 1],
    [130, 64, 4],
    [61, 7, 6],
  ] as [number, number, number][]) {
    for (const [name, scores] of Object.entries({ ...adversarial(n, m, n), soft: softmaxScores(n, m, m) })) {
      for (const [truncP, floor] of [
        [true, 0],
        [false, -Infinity],
      ] as [boolean, number][]) {
        const ws = new DualWorkspace();
        ws.ensure(n, m, k);
        ws.pValid = false;
        const p = new Float64Array(n);
        const pRaw = new Float64Array(n);
        const owner = {};
        // Three iterations of one call: q moves (some q_j kept, some 0, some set to a value of the column,
        // so that keys tie), the first on fresh scores, the later ones from pRaw and delta.
        const q = new Float64Array(m);
        let qPrev = q.slice();
        for (let t = 0; t < 3; t++) {
          for (let j = 0; j < m; j++) {
            const c = rng.int(4);
            q[j] = c === 0 ? q[j] : c === 1 ? 0 : c === 2 ? scores[rng.int(n) * m + j] - 0.25 * rng.next() : rng.next() * 0.3;
          }
          const hint = Float64Array.from(q, (x, j) => (j % 3 === 0 ? x : rng.next() * 0.2));
          const delta = t === 0 ? Infinity : maxAbsDiff(q, qPrev);
          const got: ShardLadder = kernels.shardRowLadder(scores, n, m, k, q, truncP, t === 0, delta, owner, { hint, octaves: LADDER_OCTAVES, emin: LADDER_EMIN, floor }, p, pRaw);
          qPrev = q.slice();
          rowStep(scores, n, m, k, q, truncP, ws);
          const what = `${name} n=${n} m=${m} k=${k} truncP=${truncP} iteration ${t}`;
          for (let i = 0; i < n; i++) {
            assert.ok(Object.is(p[i], ws.p[i]), `${what}: p[${i}] ${p[i]} vs ${ws.p[i]}`);
            assert.ok(Object.is(pRaw[i], ws.pRaw[i]), `${what}: pRaw[${i}]`);
          }
          const buckets = new Uint8Array(n * m);
          const counts = new Int32Array(2 + m * (2 * LADDER_OCTAVES + 1) + m);
          countLadder({ s: scores, p: ws.p, n, m }, hint, floor, buckets, counts);
          const wantCounts = floor > -Infinity ? counts.subarray(2) : counts.subarray(2, counts.length - m);
          assert.deepEqual(got.counts.subarray(0, wantCounts.length), wantCounts, `${what}: ladder counts`);
          for (let i = 0; i < n; i++) {
            for (let j = 0; j < m; j++) assert.equal(got.buckets[i * got.stride + j], buckets[i * m + j], `${what}: bucket of (${i}, ${j})`);
          }
          checked++;
        }
      }
    }
  }
  assert.equal(checked, 4 * 6 * 2 * 3);
});

test('bytes exchanged: lossfree sends m + 1 int32 per call; exact bip far less than its scores', () => {
  const [n, m, k, W] = [4096, 16, 2, 4];
  const scores = softmaxScores(n, m, 3);
  const lf = routeSharded(
    Array.from({ length: W }, () => createShardedBalancer('lossfree')),
    scores,
    n,
    m,
    k,
    evenShardSizes(n, W),
  );
  assert.deepEqual(lf.comm.bytesSent, [68, 68, 68, 68]);
  const bip = routeSharded(
    Array.from({ length: W }, () => createShardedBalancer('bip', { iters: 4 })),
    scores,
    n,
    m,
    k,
    evenShardSizes(n, W),
  );
  // One shard's scores are (n/W)·m float32 = 65536 bytes; the exchange per call must be a small part.
  for (const b of bip.comm.bytesSent) assert.ok(b > 0 && b < 65536 / 4, `bip bytes per shard ${b}`);
});

test('sharded balancers reject what has no sharded form and bad shard sizes', () => {
  assert.throws(() => createShardedBalancer('optimal'), /no sharded form/);
  assert.throws(() => createShardedBalancer('bip', { iters: -1 }), /iters/);
  assert.throws(() => createShardedBalancer('bip', { capacityFactor: 1.5 }), /no sharded form with capacityFactor/);
  assert.throws(() => createShardedBalancer('lossfree', { groups: 2, topkGroups: 1 }), /no sharded form/);
  const s = [createShardedBalancer('bip'), createShardedBalancer('bip')];
  assert.throws(() => routeSharded(s, softmaxScores(10, 4, 1), 10, 4, 2, [5, 4]), /summing to n=10/);
  assert.throws(() => evenShardSizes(3, 4), /3 tokens into 4 shards/);
});
