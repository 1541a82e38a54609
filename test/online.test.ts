/**
 * Online BIP (src/routing/online.ts, algorithms.md §2b) against ground truth: hand-worked sequences
 * (values in sixteenths, so every step is exact), convergence to the batch BIP's q on a stationary
 * stream, causality, scale invariance of the relative step, and constant memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnlineBalancer, rowSpread } from '../src/routing/online.ts';
import { BipBalancer } from '../src/routing/bip.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { maxVio } from '../src/routing/metrics.ts';
import { syntheticStream } from '../src/simulate/streams.ts';
import { softmaxScores } from './helpers/scores.ts';

// Six tokens, m = 4 experts, k = 2 (share k/m = 1/2). Scores in sixteenths.
const SIX = [
  [8, 4, 2, 1],
  [8, 6, 2, 0],
  [10, 4, 4, 2],
  [8, 8, 8, 8],
  [12, 2, 1, 1],
  [14, 1, 1, 0],
];
const sixScores = (rows = SIX) => Float32Array.from(rows.flat().map((x) => x / 16));
const sixteenths = (v: ArrayLike<number>) => Array.from(v, (x) => x * 16);

/** Routes the tokens one call each, recording q (in sixteenths) after every token. */
function qTrace(b: OnlineBalancer, rows: number[][]): { experts: number[][]; q: number[][] } {
  const experts: number[][] = [];
  const q: number[][] = [];
  for (const row of rows) {
    experts.push(Array.from(b.route(sixScores([row]), 1, 4, 2).experts));
    q.push(sixteenths(b.qVector!));
  }
  return { experts, q };
}

test('online, truncated, by hand: 6 tokens, q after each token', () => {
  // η = 0.5 = 8/16 absolute (scale 'none'): a chosen expert's q rises by η·(1 − 1/2) = 4/16, the others
  // fall by η·1/2 = 4/16, then max(0, ·). Keys are s − q; a tie goes to the smaller q, then the lower id.
  //   t0 s=[8,4,2,1]   q=[0,0,0,0]   keys [8,4,2,1]          -> {0,1}                 q=[4,4,0,0]  (2,3 clipped)
  //   t1 s=[8,6,2,0]   q=[4,4,0,0]   keys [4,2,2,0]          -> 0; tie 1/2, q 4 > 0 -> 2   q=[8,0,4,0]
  //   t2 s=[10,4,4,2]  q=[8,0,4,0]   keys [2,4,0,2]          -> 1; tie 0/3, q 8 > 0 -> 3   q=[4,4,0,4]
  //   t3 s=[8,8,8,8]   q=[4,4,0,4]   keys [4,4,8,4]          -> 2; tie 0/1/3, equal q -> 0 q=[8,0,4,0]
  //   t4 s=[12,2,1,1]  q=[8,0,4,0]   keys [4,2,-3,1]         -> {0,1}                 q=[12,4,0,0]
  //   t5 s=[14,1,1,0]  q=[12,4,0,0]  keys [2,-3,1,0]         -> {0,2}                 q=[16,0,4,0]
  const expected = {
    experts: [[0, 1], [0, 2], [1, 3], [2, 0], [0, 1], [0, 2]],
    q: [[4, 4, 0, 0], [8, 0, 4, 0], [4, 4, 0, 4], [8, 0, 4, 0], [12, 4, 0, 0], [16, 0, 4, 0]],
  };
  assert.deepEqual(qTrace(new OnlineBalancer({ rate: 0.5, scale: 'none' }), SIX), expected);
  // One call of 6 tokens is the same sequence: loads [5,3,3,1], final q [16,0,4,0].
  const b = new OnlineBalancer({ rate: 0.5, scale: 'none' });
  const r = b.route(sixScores(), 6, 4, 2);
  assert.deepEqual(Array.from(r.experts), expected.experts.flat());
  assert.deepEqual(Array.from(r.loads), [5, 3, 3, 1]);
  assert.deepEqual(sixteenths(b.qVector!), [16, 0, 4, 0]);
  // Weights: the original scores of the chosen experts, renormalised (t0: 8/12, 4/12), never s − q.
  assert.ok(Math.abs(r.weights[0] - 8 / 12) < 1e-7 && Math.abs(r.weights[1] - 4 / 12) < 1e-7);
  assert.ok(Math.abs(r.weights[2] - 8 / 10) < 1e-7 && Math.abs(r.weights[3] - 2 / 10) < 1e-7);
});

test('online, untruncated, by hand: the same 6 tokens; q may go negative and Σ q stays 0', () => {
  //   t0 keys [8,4,2,1]                      -> {0,1}                      q=[4,4,-4,-4]
  //   t1 s=[8,6,2,0]  keys [4,2,6,4]          -> 2; tie 0/3, q 4 > -4 -> 3  q=[0,0,0,0]
  //   t2 s=[10,4,4,2] keys [10,4,4,2]         -> 0; tie 1/2, equal q -> 1   q=[4,4,-4,-4]
  //   t3 s=[8,8,8,8]  keys [4,4,12,12]        -> 2, 3 (tie, lower id first) q=[0,0,0,0]
  //   t4 s=[12,2,1,1] keys [12,2,1,1]         -> {0,1}                      q=[4,4,-4,-4]
  //   t5 s=[14,1,1,0] keys [10,-3,5,4]        -> {0,2}                      q=[8,0,0,-8]
  const { experts, q } = qTrace(new OnlineBalancer({ rate: 0.5, scale: 'none', truncate: false }), SIX);
  assert.deepEqual(experts, [[0, 1], [2, 3], [0, 1], [2, 3], [0, 1], [0, 2]]);
  assert.deepEqual(q, [[4, 4, -4, -4], [0, 0, 0, 0], [4, 4, -4, -4], [0, 0, 0, 0], [4, 4, -4, -4], [8, 0, 0, -8]]);
});

test('online, group = 2, by hand: pairs routed with one q, then the summed update', () => {
  // η = 8/16; per group of b = 2 tokens q_j ← max(0, q_j + 8·(count_j − b·k/m)) = max(0, q_j + 8·(count_j − 1)).
  //   t0, t1 with q=[0,0,0,0]: {0,1}, keys [8,6,2,0] -> {0,1}; counts [2,2,0,0] -> q=[8,8,0,0]
  //   t2 keys [2,-4,4,2] -> 2; tie 0/3, q 8 > 0 -> 3; t3 keys [0,0,8,8] -> {2,3}; counts [0,0,2,2] -> q=[0,0,8,8]
  //   t4 keys [12,2,-7,-7] -> {0,1}; t5 keys [14,1,-7,-8] -> {0,1}; counts [2,2,0,0] -> q=[8,8,0,0]
  const b = new OnlineBalancer({ rate: 0.5, scale: 'none', group: 2 });
  const r = b.route(sixScores(), 6, 4, 2);
  assert.deepEqual(Array.from(r.experts), [0, 1, 0, 1, 2, 3, 2, 3, 0, 1, 0, 1]);
  assert.deepEqual(sixteenths(b.qVector!), [8, 8, 0, 0]);
  // A group never spans two calls: tokens 0..2 then 3..5 close a group of one after token 2.
  const c = new OnlineBalancer({ rate: 0.5, scale: 'none', group: 2 });
  c.route(sixScores(SIX.slice(0, 3)), 3, 4, 2);
  // After t0,t1: q=[8,8,0,0]; t2 alone (b = 1): {2,3}; q_j ← max(0, q_j + 8·(count_j − 1/2)) = [4,4,4,4].
  assert.deepEqual(sixteenths(c.qVector!), [4, 4, 4, 4]);
});

test('online, relative step: η = rate × the running spread; the first token sets the spread', () => {
  // Token 0 = [8,4,2,1]/16: mean 15/64 = 0.234375; mean of squares (64+16+4+1)/256/4 = 0.0830078125;
  // variance 0.0830078125 − 0.054931640625 = 0.028076171875, spread sd0 = 0.167559...
  // After token 0 (chosen {0,1}), q = [η/2, η/2, 0, 0] with η = 0.1·sd0.
  const sd0 = Math.sqrt(0.028076171875);
  assert.ok(Math.abs(rowSpread(sixScores(), 0, 4) - sd0) < 1e-12);
  const b = new OnlineBalancer({ rate: 0.1 });
  b.route(sixScores([SIX[0]]), 1, 4, 2);
  const q = b.qVector!;
  for (const [j, want] of [0.05 * sd0, 0.05 * sd0, 0, 0].entries()) assert.ok(Math.abs(q[j] - want) < 1e-12, `q[${j}] = ${q[j]}, expected ${want}`);
  assert.ok(Math.abs(b.getState().spread[0] - sd0) < 1e-12);
});

test('online, relative step: scaling every score by 4 gives the same routing and q × 4 (scale invariance)', () => {
  const [n, m, k] = [2000, 16, 2];
  const s = softmaxScores(n, m, 3);
  const s4 = s.map((x) => x * 4); // exact in binary floating point
  const a = new OnlineBalancer();
  const b = new OnlineBalancer();
  const ra = a.route(s, n, m, k);
  const rb = b.route(s4, n, m, k);
  assert.deepEqual(Array.from(rb.experts), Array.from(ra.experts));
  assert.deepEqual(Array.from(b.qVector!), Array.from(a.qVector!, (x) => x * 4));
  // And the absolute step is not scale invariant (so this test can tell the two apart).
  const c = new OnlineBalancer({ scale: 'none', rate: 0.01 });
  const d = new OnlineBalancer({ scale: 'none', rate: 0.01 });
  assert.notDeepEqual(Array.from(d.route(s4, n, m, k).experts), Array.from(c.route(s, n, m, k).experts));
});

/** max_j |a_j − b_j|, after removing each vector's mean when `centre` (untruncated q is free up to a constant). */
function qDistance(a: Float64Array, b: Float64Array, centre: boolean): number {
  const mean = (v: Float64Array) => (centre ? v.reduce((x, y) => x + y, 0) / v.length : 0);
  const [ma, mb] = [mean(a), mean(b)];
  let d = 0;
  for (let j = 0; j < a.length; j++) d = Math.max(d, Math.abs(a[j] - ma - (b[j] - mb)));
  return d;
}

/**
 * Stationary stream (the skewed stream: fixed router, fresh tokens each batch). The batch q* is BIP
 * (T = 32; within 1e-4 of T = 64 here) on one batch of 65536 tokens, with the matching truncation:
 * online's max(0, ·) on q alone is bip's truncate 'q' (every token takes exactly k experts, no p ≥ 0).
 */
const STATIONARY = { n: 4096, m: 16, k: 2, N: 65536, steps: 40 };
let stationaryCache: { big: Float32Array; batches: Float32Array[] } | null = null;
function stationary(): { big: Float32Array; batches: Float32Array[] } {
  if (stationaryCache) return stationaryCache;
  const { n, m, N, steps } = STATIONARY;
  const [[big]] = [...syntheticStream({ kind: 'skewed', n: N, m, steps: 1, seed: 7 }).batches()];
  const batches = [...syntheticStream({ kind: 'skewed', n, m, steps, seed: 7 }).batches()].map(([s]) => s);
  return (stationaryCache = { big, batches });
}

function batchQ(truncate: boolean): Float64Array {
  const { m, k, N } = STATIONARY;
  const bip = new BipBalancer({ iters: 32, truncate: truncate ? 'q' : false });
  bip.route(stationary().big, N, m, k);
  return bip.qVector!;
}

/**
 * The distance of the online q, averaged over the second half of 40 batches of 4096 tokens, to q*, and
 * the worst MaxVio of those batches (each batch is a window of n consecutive tokens).
 */
function convergence(rate: number, truncate: boolean, qStar: Float64Array): { dist: number; worstVio: number } {
  const { n, m, k, steps } = STATIONARY;
  const online = new OnlineBalancer({ rate, scale: 'none', truncate });
  const mean = new Float64Array(m);
  let worstVio = 0;
  let step = 0;
  for (const s of stationary().batches) {
    const r = online.route(s, n, m, k);
    if (++step <= steps / 2) continue;
    worstVio = Math.max(worstVio, maxVio(r.loads, n, k));
    const q = online.qVector!;
    for (let j = 0; j < m; j++) mean[j] += q[j] / (steps / 2);
  }
  return { dist: qDistance(mean, qStar, !truncate), worstVio };
}

test('online converges to the batch BIP q on a stationary stream (error ~ sqrt(η)); MaxVio per window of n < 0.05', () => {
  // Measured (seed 7): distance 0.023 at η = 0.004 and 0.0044 at η = 0.00025 truncated; 0.0054 and 0.0017
  // untruncated. A constant-step stochastic subgradient method settles within O(sqrt(η)) of the
  // optimum, so the tolerance is 0.5·sqrt(η) (truncated) and 0.15·sqrt(η) (untruncated), and a
  // 16× smaller step must land closer.
  for (const truncate of [true, false]) {
    const qStar = batchQ(truncate);
    const coarse = convergence(0.004, truncate, qStar);
    const fine = convergence(0.00025, truncate, qStar);
    const c = truncate ? 0.5 : 0.15;
    assert.ok(Math.max(...qStar) - Math.min(...qStar) > 0.2, 'q* is far from constant (the stream needs balancing)');
    assert.ok(coarse.dist < c * Math.sqrt(0.004), `truncate=${truncate} η=0.004: |q − q*| = ${coarse.dist}`);
    assert.ok(fine.dist < c * Math.sqrt(0.00025), `truncate=${truncate} η=0.00025: |q − q*| = ${fine.dist}`);
    assert.ok(fine.dist < coarse.dist, `truncate=${truncate}: a smaller step did not land closer (${fine.dist} vs ${coarse.dist})`);
    assert.ok(coarse.worstVio < 0.05, `truncate=${truncate}: MaxVio over a window of 4096 tokens ${coarse.worstVio}`);
  }
  // With the default step (relative, 0.1 × spread) every window of n tokens after the first batch is within 0.05.
  const online = createBalancer('online');
  let step = 0;
  for (const [s] of syntheticStream({ kind: 'skewed', n: 4096, m: 16, steps: 10, seed: 8 }).batches()) {
    const vio = maxVio(online.route(s, 4096, 16, 2).loads, 4096, 2);
    if (++step > 1) assert.ok(vio < 0.05, `default step: MaxVio ${vio} at batch ${step}`);
  }
});

test('causality: token i is routed the same whatever the tokens after it', () => {
  const [n, m, k] = [300, 16, 2];
  const s = softmaxScores(n, m, 11);
  for (const options of [{}, { group: 3 }, { truncate: false, rate: 0.5 }]) {
    const warm = createBalancer('online', options);
    warm.route(softmaxScores(500, m, 12), 500, m, k); // a non-trivial starting state
    const state = warm.getState();
    for (const i of [0, 1, 57, 150, n - 2]) {
      const changed = s.slice();
      // Replace every token after i with another stream's tokens.
      changed.set(softmaxScores(n - i - 1, m, 100 + i, 4), (i + 1) * m);
      const a = createBalancer('online', options);
      const b = createBalancer('online', options);
      a.setState(state);
      b.setState(state);
      const ra = a.route(s, n, m, k);
      const rb = b.route(changed, n, m, k);
      assert.deepEqual(Array.from(rb.experts.subarray(0, (i + 1) * k)), Array.from(ra.experts.subarray(0, (i + 1) * k)), `${JSON.stringify(options)} token ${i}`);
      assert.notDeepEqual(Array.from(rb.experts), Array.from(ra.experts), 'the later tokens did change (else the test shows nothing)');
    }
  }
});

/** Numbers held by an object graph: typed-array and array elements, number fields, recursively. */
function heldNumbers(x: unknown, seen = new Set<unknown>()): number {
  if (x === null || typeof x !== 'object' || seen.has(x)) return typeof x === 'number' ? 1 : 0;
  seen.add(x);
  if (ArrayBuffer.isView(x)) return (x as unknown as ArrayLike<number>).length;
  let total = 0;
  const values = x instanceof Map || x instanceof Set ? [...x.values()] : Object.values(x);
  for (const v of values) total += heldNumbers(v, seen);
  return total;
}

test('constant memory: state and buffers do not grow with the tokens seen (a 10× longer batch, many calls)', () => {
  const [n, m, k] = [512, 16, 2];
  for (const options of [{}, { group: 8 }]) {
    const b = new OnlineBalancer(options);
    b.route(softmaxScores(n, m, 1), n, m, k);
    const held = heldNumbers(b);
    const bytes = b.heldBytes;
    const stateSize = JSON.stringify(b.getState()).length;
    b.route(softmaxScores(10 * n, m, 2), 10 * n, m, k);
    for (let t = 0; t < 20; t++) b.route(softmaxScores(n, m, 3 + t), n, m, k);
    assert.equal(heldNumbers(b), held, 'numbers held by the balancer grew');
    assert.equal(b.heldBytes, bytes, 'buffer bytes grew');
    assert.ok(held <= 4 * m + 4 * k + 16, `O(m + k) numbers held: ${held}`);
    // The state is q (m numbers) and one spread: its JSON length changes with the digits only.
    const state = b.getState();
    assert.deepEqual([state.q.length, state.spread.length], [m, 1]);
    assert.ok(Math.abs(JSON.stringify(state).length - stateSize) < 4 * m, 'state size grew');
  }
});

test('online rejects bad options and states with one-line errors', () => {
  assert.throws(() => createBalancer('online', { rate: -1 }), /option 'rate' of 'online' must be a number >= 0/);
  assert.throws(() => createBalancer('online', { group: 0 }), /option 'group' of 'online' must be an integer >= 1/);
  assert.throws(() => createBalancer('online', { group: 1.5 }), /option 'group'/);
  assert.throws(() => createBalancer('online', { truncate: 'q' }), /option 'truncate' of 'online' must be true or false/);
  assert.throws(() => createBalancer('online', { scale: 'log' }), /option 'scale' of 'online' must be one of spread, none/);
  assert.throws(() => createBalancer('online', { iters: 4 }), /unknown option 'iters' for method 'online'/);
  const b = createBalancer('online');
  b.route(softmaxScores(8, 4, 1), 8, 4, 2);
  assert.throws(() => b.setState({ q: [0, 0, 0] }), /'q' has 3 entries, but this balancer has m=4/);
  assert.throws(() => b.setState({ q: [0, 0, 0, 0], spread: [-1] }), /'spread' must be \[\] or \[one finite number >= 0\]/);
  assert.throws(() => b.setState({ q: [0, 0, 0, 0], beta: [1] }), /unknown key 'beta'/);
});
