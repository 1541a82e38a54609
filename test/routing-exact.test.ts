/**
 * Balancers against ground truth: hand-worked examples (arithmetic in the comments, values in
 * sixteenths so that every sum is exact in floating point), brute force, and the exact LP optimum.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BipBalancer } from '../src/routing/bip.ts';
import { LossFreeBalancer } from '../src/routing/lossFree.ts';
import { QuantileBalancer, quantileHistogram, mergeHistograms, betaFromHistogram } from '../src/routing/quantile.ts';
import { AuxLossBalancer, auxLoss } from '../src/routing/auxLoss.ts';
import { topk } from '../src/routing/topk.ts';
import { capacity } from '../src/routing/assign.ts';
import { loadSolver, solveOptimal, type Solver } from '../src/routing/optimal.ts';
import { maxVio, scoreSum } from '../src/routing/metrics.ts';
import { softmaxScores } from './helpers/scores.ts';

// The hand-worked example: n = 8 tokens, m = 4 experts, k = 1, so c = k*n/m = 2. Scores in sixteenths.
// Tokens 0-3 prefer expert 0, tokens 4-7 expert 1: plain top-1 loads are [4, 4, 0, 0].
const HAND = [
  [14, 2, 0, 0],
  [13, 2, 1, 0],
  [12, 0, 4, 2],
  [10, 0, 0, 6],
  [2, 14, 0, 0],
  [0, 13, 3, 0],
  [0, 12, 0, 5],
  [3, 10, 3, 0],
];
const handScores = () => Float32Array.from(HAND.flat().map((x) => x / 16));
const sixteenths = (v: ArrayLike<number>) => Array.from(v, (x) => x * 16);

test('BIP, T = 1, by hand (8 tokens, 4 experts, k = 1)', () => {
  // q starts at 0. Row step: p_i = max(0, 2nd largest of s_i - q) = [2, 2, 4, 6, 2, 3, 5, 3].
  // Column step: q_j = max(0, 3rd largest over i of s_ij - p_i):
  //   expert 0: s - p = [12, 11, 8, 4, 0, -3, -5, 0]  -> 3rd largest 8 -> q0 = 8
  //   expert 1: s - p = [0, 0, -4, -6, 12, 10, 7, 7]  -> 3rd largest 7 -> q1 = 7
  //   expert 2: s - p = [-2, -1, 0, -6, -2, 0, -5, 0] -> 3rd largest 0 -> q2 = 0
  //   expert 3: s - p = [-2, -2, -2, 0, -2, -3, 0, -3] -> 3rd largest -2 -> q3 = max(0, -2) = 0
  // Route top-1 of s - q, q = [8, 7, 0, 0]:
  //   t0 [6,-5,0,0] -> 0; t1 [5,-5,1,0] -> 0; t2 [4,-7,4,2] -> tie 0/2, smaller q wins -> 2;
  //   t3 [2,-7,0,6] -> 3; t4 [-6,7,0,0] -> 1; t5 [-8,6,3,0] -> 1; t6 [-8,5,0,5] -> tie 1/3 -> 3;
  //   t7 [-5,3,3,0] -> tie 1/2 -> 2.  Loads [2, 2, 2, 2]: perfect balance in one step.
  // (The ties are structural: q_j is set to exactly the key of column j's (c+1)-th token.)
  const b = new BipBalancer({ iters: 1 });
  const r = b.route(handScores(), 8, 4, 1);
  assert.deepEqual(sixteenths(b.qVector!), [8, 7, 0, 0]);
  assert.deepEqual(Array.from(r.experts), [0, 0, 2, 3, 1, 1, 3, 2]);
  assert.deepEqual(Array.from(r.loads), [2, 2, 2, 2]);
  // Weights are the original scores (k = 1: not renormalised), never s - q.
  assert.deepEqual(sixteenths(r.weights), [14, 13, 4, 6, 14, 13, 5, 3]);
});

test('BIP route-then-update routes with the previous q (plain top-1 on the first batch), then updates', () => {
  const b = new BipBalancer({ iters: 1, order: 'route-then-update' });
  const r1 = b.route(handScores(), 8, 4, 1);
  assert.deepEqual(Array.from(r1.experts), [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual(sixteenths(b.qVector!), [8, 7, 0, 0]); // same q as the hand computation above
  const r2 = b.route(handScores(), 8, 4, 1);
  // Second batch: routed with q = [8,7,0,0] (balanced, as above), then q updated again from it.
  assert.deepEqual(Array.from(r2.loads), [2, 2, 2, 2]);
});

test('BIP without truncation, T = 1, by hand: q3 goes negative', () => {
  // Same row step (all p_i >= 0 anyway). Column step without max(0, .): q = [8, 7, 0, -2].
  // Route: t0 [6,-5,0,2] -> 0; t1 [5,-5,1,2] -> 0; t2 [4,-7,4,4] -> tie 0/2/3, smallest q (3) -> 3;
  //   t3 [2,-7,0,8] -> 3; t4 [-6,7,0,2] -> 1; t5 [-8,6,3,2] -> 1; t6 [-8,5,0,7] -> 3;
  //   t7 [-5,3,3,2] -> tie 1/2 -> 2.  Loads [2, 2, 1, 3]: the negative q3 over-attracts expert 3.
  const b = new BipBalancer({ iters: 1, truncate: false });
  const r = b.route(handScores(), 8, 4, 1);
  assert.deepEqual(sixteenths(b.qVector!), [8, 7, 0, -2]);
  assert.deepEqual(Array.from(r.experts), [0, 0, 3, 3, 1, 1, 3, 2]);
  assert.deepEqual(Array.from(r.loads), [2, 2, 1, 3]);
});

test('Quantile Balancing, two steps by hand: causal, untruncated', () => {
  // Step 1 routes with beta = 0: plain top-1, loads [4, 4, 0, 0]. Then alpha_i = 2nd largest of s_i
  // = [2,2,4,6,2,3,5,3] and beta_j = 3rd largest of s_ij - alpha_i = [8, 7, 0, -2] (as BIP untruncated).
  const b = new QuantileBalancer();
  const r1 = b.route(handScores(), 8, 4, 1);
  assert.deepEqual(Array.from(r1.loads), [4, 4, 0, 0]);
  assert.deepEqual(sixteenths(b.getState().beta), [8, 7, 0, -2]);
  // Step 2 routes with beta = [8, 7, 0, -2]: the routing of the untruncated BIP example above.
  const r2 = b.route(handScores(), 8, 4, 1);
  assert.deepEqual(Array.from(r2.experts), [0, 0, 3, 3, 1, 1, 3, 2]);
});

test('Loss-Free, two steps by hand: sign and linear updates', () => {
  // 4 tokens, 3 experts, k = 1; mean load 4/3. Scores in sixteenths; every token prefers expert 0 by a hair
  // over expert 1, except token 3.
  const s = Float32Array.from([8, 7, 1, 8, 7, 1, 8, 7, 1, 1, 8, 7].map((x) => x / 16));
  const u = 1 / 32;
  const b = new LossFreeBalancer({ rate: u });
  const r1 = b.route(s, 4, 3, 1);
  // Routed with b = 0: loads [3, 1, 0]; b += u * sign(4/3 - load) = u * [-1, +1, +1].
  assert.deepEqual(Array.from(r1.loads), [3, 1, 0]);
  assert.deepEqual(b.getState().b, [-u, u, u]);
  // Step 2: keys s + b: tokens 0-2: expert 0: 8/16 - 1/32 = 15/32, expert 1: 7/16 + 1/32 = 15/32 -> tie,
  // broken towards the larger bias (expert 1). Token 3: expert 1 (8/16 + 1/32). Loads [0, 4, 0].
  const r2 = b.route(s, 4, 3, 1);
  assert.deepEqual(Array.from(r2.loads), [0, 4, 0]);
  // Linear form: b_j += u * (mean - load) / (n*k) = u * [4/3 - 3, 4/3 - 1, 4/3 - 0] / 4.
  const lin = new LossFreeBalancer({ rate: u, update: 'linear' });
  lin.route(s, 4, 3, 1);
  const expected = [4 / 3 - 3, 4 / 3 - 1, 4 / 3].map((e) => (u * e) / 4);
  lin.getState().b.forEach((x, j) => assert.ok(Math.abs(x - expected[j]) < 1e-15, `b[${j}] = ${x}, expected ${expected[j]}`));
});

test('the LP optimum equals brute force on tiny instances', async () => {
  const solver = await loadSolver();
  for (let seed = 1; seed <= 6; seed++) {
    const [n, m, k] = [5, 3, 1]; // c = ceil(5/3) = 2
    const s = softmaxScores(n, m, seed);
    const c = capacity(n, m, k);
    let best = -Infinity;
    for (let code = 0; code < m ** n; code++) {
      const loads = new Array(m).fill(0);
      let v = 0;
      let x = code;
      for (let i = 0; i < n; i++) {
        const j = x % m;
        x = Math.floor(x / m);
        loads[j]++;
        v += s[i * m + j];
      }
      if (loads.every((l) => l <= c)) best = Math.max(best, v);
    }
    const opt = solveOptimal(solver, s, n, m, k);
    assert.ok(Math.abs(opt.objective - best) < 1e-6, `seed ${seed}: LP ${opt.objective} vs brute force ${best}`);
    assert.ok(Math.max(...opt.routing.loads) <= c);
  }
});

test('BIP with many iterations against the exact LP optimum, up to n = 512, m = 64', async () => {
  // Measured (npx tsx, 10 seeds per shape, T = 100): the dual iterations reach a fixed point whose
  // routing exceeds capacity by at most 6 tokens (n=512, m=64, k=4, c=32) and whose objective is within
  // 0.4% of the LP optimum (above it, since it keeps a few extra high scores). Plain block-coordinate
  // steps on this non-smooth dual stall at ties rather than reaching the LP optimum exactly.
  const solver = await loadSolver();
  const rows: string[] = [];
  for (const [n, m, k] of [[64, 8, 2], [128, 16, 2], [256, 16, 4], [512, 64, 4]] as const) {
    for (let seed = 1; seed <= 3; seed++) {
      const s = softmaxScores(n, m, seed * 97 + n);
      const c = capacity(n, m, k);
      const opt = solveOptimal(solver, s, n, m, k);
      const bip = new BipBalancer({ iters: 100 }).route(s, n, m, k);
      const plain = topk(s, n, m, k);
      const gap = scoreSum(s, bip) / opt.objective - 1;
      const over = Math.max(...bip.loads) - c;
      rows.push(`n=${n} m=${m} k=${k} seed=${seed}: gap=${gap.toExponential(2)} overload=${over} maxVio bip=${maxVio(bip.loads, n, k).toFixed(3)} opt=${maxVio(opt.routing.loads, n, k).toFixed(3)} topk=${maxVio(plain.loads, n, k).toFixed(3)}`);
      assert.ok(Math.abs(gap) < 0.01, `objective gap ${gap}`);
      assert.ok(over <= 8, `BIP overload ${over} tokens above c=${c}`);
      assert.ok(Math.max(...opt.routing.loads) <= c, 'LP optimum violates capacity');
      assert.ok(scoreSum(s, opt.routing) <= scoreSum(s, plain) + 1e-6, 'LP optimum above plain top-k');
      assert.ok(maxVio(bip.loads, n, k) < maxVio(plain.loads, n, k), 'BIP no better balanced than top-k');
    }
  }
  console.log(rows.join('\n'));
});

test('quantile histogram: shard histograms merge exactly, and beta is within half a bin of the exact one', () => {
  const [n, m, k] = [512, 8, 2];
  const s = softmaxScores(n, m, 3);
  const beta0 = new Float64Array(m);
  const bins = 256;
  const range: [number, number] = [-2, 2];
  const whole = quantileHistogram(s, n, m, k, beta0, bins, range);
  const parts = [0, 100, 101, 300, 512];
  const shards = [];
  for (let x = 0; x + 1 < parts.length; x++) {
    shards.push(quantileHistogram(s.subarray(parts[x] * m, parts[x + 1] * m), parts[x + 1] - parts[x], m, k, beta0, bins, range));
  }
  const merged = mergeHistograms(shards);
  assert.deepEqual(Array.from(merged.counts), Array.from(whole.counts));
  const betaHist = betaFromHistogram(merged);
  const exact = new QuantileBalancer();
  exact.route(s, n, m, k);
  const betaExact = exact.getState().beta;
  const half = (range[1] - range[0]) / bins / 2;
  betaExact.forEach((x, j) => assert.ok(Math.abs(betaHist[j] - x) <= half + 1e-9, `beta[${j}]: hist ${betaHist[j]} vs exact ${x}`));
});

test('aux loss: a uniform balanced router gives alpha; one sequence equals global; gradient matches finite differences', () => {
  const [n, m, k] = [16, 4, 2];
  // Uniform scores; a balanced routing (token i -> experts i mod 4, (i+1) mod 4): f_j = 1, P_j = 1/m.
  const uniform = new Float32Array(n * m).fill(1 / m);
  const experts = new Int32Array(n * k);
  for (let i = 0; i < n; i++) {
    experts[i * k] = i % m;
    experts[i * k + 1] = (i + 1) % m;
  }
  const routing = { n, m, k, experts, weights: new Float32Array(n * k), loads: new Int32Array(m).fill((n * k) / m) };
  assert.ok(Math.abs(auxLoss(uniform, routing, 0.1).auxLoss - 0.1) < 1e-9);

  const s = softmaxScores(n, m, 11);
  const g = new AuxLossBalancer({ alpha: 0.1 }).route(s, n, m, k);
  const one = new AuxLossBalancer({ alpha: 0.1, form: 'sequence', seqLen: n }).route(s, n, m, k);
  assert.ok(Math.abs(g.auxLoss - one.auxLoss) < 1e-9);

  const seq = new AuxLossBalancer({ alpha: 0.1, form: 'sequence', seqLen: 4 });
  const r = seq.route(s, n, m, k);
  const h = 1e-3;
  for (const x of [0, 5, 17, 63]) {
    const sp = Float64Array.from(s);
    sp[x] += h;
    const sm = Float64Array.from(s);
    sm[x] -= h;
    // Routing held fixed (f is a count of discrete selections, treated as a constant).
    const fd = (auxLoss(Float32Array.from(sp), r, 0.1, 'sequence', 4).auxLoss - auxLoss(Float32Array.from(sm), r, 0.1, 'sequence', 4).auxLoss) / (2 * h);
    assert.ok(Math.abs(fd - r.auxGrad[x]) < 1e-4, `grad[${x}] = ${r.auxGrad[x]}, finite difference ${fd}`);
  }
});

test('Loss-Free with k = 2, one step by hand: the mean load and the linear divisor are n*k-based', () => {
  // 4 tokens, 3 experts, k = 2: mean load c̄ = n*k/m = 8/3. Scores in sixteenths:
  //   t0, t1: [8, 7, 1] -> top-2 {0, 1};   t2, t3: [8, 1, 7] -> top-2 {0, 2}.   Loads [4, 2, 2].
  // c̄ - load = [8/3 - 4, 8/3 - 2, 8/3 - 2] = [-4/3, 2/3, 2/3].
  const s = Float32Array.from([8, 7, 1, 8, 7, 1, 8, 1, 7, 8, 1, 7].map((x) => x / 16));
  const u = 3 / 4;
  // Sign rule: b = u * sign([-4/3, 2/3, 2/3]) = [-3/4, 3/4, 3/4]. (A mean of n/m = 4/3 would give
  // 4/3 - 2 < 0 for experts 1 and 2, so b = [-3/4, -3/4, -3/4].)
  const sign = new LossFreeBalancer({ rate: u });
  assert.deepEqual(Array.from(sign.route(s, 4, 3, 2).loads), [4, 2, 2]);
  assert.deepEqual(sign.getState().b, [-u, u, u]);
  // Linear rule: b = u * (c̄ - load) / (n*k) = (3/4) * [-4/3, 2/3, 2/3] / 8 = [-1/8, 1/16, 1/16].
  // (Dividing by n = 4 would double it; by n*k/m or m it would differ again.)
  const lin = new LossFreeBalancer({ rate: u, update: 'linear' });
  const r1 = lin.route(s, 4, 3, 2);
  assert.deepEqual(Array.from(r1.experts), [0, 1, 0, 1, 0, 2, 0, 2]);
  const close = (got: number[], want: number[], what: string) =>
    got.forEach((x, j) => assert.ok(Math.abs(x - want[j]) < 1e-15, `${what}: b[${j}] = ${x}, expected ${want[j]}`));
  close(lin.getState().b, [-1 / 8, 1 / 16, 1 / 16], 'step 1');
  // Step 2 routes with that b: t0, t1 keys s + b = [8 - 2, 7 + 1, 1 + 1]/16 = [6, 8, 2]/16 -> experts [1, 0]
  // (best first); t2, t3: [8 - 2, 1 + 1, 7 + 1]/16 = [6, 2, 8]/16 -> [2, 0]. Loads stay [4, 2, 2], so
  // the same increment is added again: b = [-1/4, 1/8, 1/8].
  const r2 = lin.route(s, 4, 3, 2);
  assert.deepEqual(Array.from(r2.experts), [1, 0, 1, 0, 2, 0, 2, 0]);
  close(lin.getState().b, [-1 / 4, 1 / 8, 1 / 8], 'step 2');
});

test('quantile histogram merge keeps the under- and overflow bins (a range narrow enough to fill both)', () => {
  // r = alpha_i - s_ij is negative (down to about -1) for a token's top-k experts and positive for the
  // rest, so a range of [-0.02, 0.02] puts counts in both edge bins of every expert's row.
  const [n, m, k] = [300, 6, 2];
  const s = softmaxScores(n, m, 21);
  const beta = Float64Array.from([0.05, -0.05, 0, 0.1, -0.1, 0]);
  const bins = 8;
  const range: [number, number] = [-0.02, 0.02];
  const whole = quantileHistogram(s, n, m, k, beta, bins, range);
  const row = bins + 2;
  for (let j = 0; j < m; j++) {
    assert.ok(whole.counts[j * row] > 0, `expert ${j}: no underflow count, the test would not check the edge bins`);
    assert.ok(whole.counts[j * row + bins + 1] > 0, `expert ${j}: no overflow count`);
  }
  const cuts = [0, 1, 77, 150, 300];
  const shards = cuts.slice(0, -1).map((a, x) => quantileHistogram(s.subarray(a * m, cuts[x + 1] * m), cuts[x + 1] - a, m, k, beta, bins, range));
  const merged = mergeHistograms(shards);
  assert.deepEqual(Array.from(merged.counts), Array.from(whole.counts));
  assert.equal(merged.tokens, n);
  // Every row still counts every token once (the edge bins included).
  for (let j = 0; j < m; j++) assert.equal(merged.counts.subarray(j * row, (j + 1) * row).reduce((a, b) => a + b, 0), n);
  assert.deepEqual(Array.from(betaFromHistogram(merged)), Array.from(betaFromHistogram(whole)));
});

test('Quantile beta is the (c+1)-th largest of s - alpha even below zero (no truncation): a dead expert', () => {
  // n = 64, m = 6, k = 2: c = ceil(128/6) = 22. Expert 5 scores 0 for every token. Step 1 routes with
  // beta = 0 and then sets alpha_i = 3rd largest of s_i (> 0: five positive scores) and
  // beta_j = 23rd largest over i of (s_ij - alpha_i); for expert 5 that is -(23rd smallest alpha_i) < 0,
  // which a max(0, .) would turn into 0.
  const [n, m, k] = [64, 6, 2];
  const c = capacity(n, m, k);
  assert.equal(c, 22);
  const five = softmaxScores(n, 5, 8);
  const s = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < 5; j++) s[i * m + j] = five[i * 5 + j];
  const qb = new QuantileBalancer();
  qb.route(s, n, m, k);
  const beta = qb.getState().beta;
  const alpha = Array.from({ length: n }, (_, i) => Array.from(s.subarray(i * m, i * m + m)).sort((a, b) => b - a)[k]);
  const alphaUp = [...alpha].sort((a, b) => a - b);
  assert.ok(beta[5] < 0, `beta[5] = ${beta[5]}`);
  assert.equal(beta[5], -alphaUp[c]);
  // Each beta_j is the order statistic it claims to be, by counting (no sort of the column):
  // at most c values of s_ij - alpha_i lie above it and at least c + 1 at or above it.
  for (let j = 0; j < m; j++) {
    let above = 0;
    let atOrAbove = 0;
    for (let i = 0; i < n; i++) {
      const v = s[i * m + j] - alpha[i];
      if (v > beta[j]) above++;
      if (v >= beta[j]) atOrAbove++;
    }
    assert.ok(above <= c && atOrAbove >= c + 1, `beta[${j}] = ${beta[j]}: ${above} above, ${atOrAbove} at or above, c = ${c}`);
  }
});

test('capacity c = ceil(k*n/m), by hand and against integer arithmetic', () => {
  // 9*1/4 = 2.25 -> 3 (rounding would give 2); 10*1/4 = 2.5 -> 3; 37*2/5 = 14.8 -> 15 (floor: 14);
  // 8*1/4 = 2 exactly -> 2 (not 3); 64*2/8 = 16 -> 16.
  assert.deepEqual([capacity(9, 4, 1), capacity(10, 4, 1), capacity(37, 5, 2), capacity(8, 4, 1), capacity(64, 8, 2)], [3, 3, 15, 2, 16]);
  // Independent of floating point: c is the smallest integer with c*m >= k*n.
  for (let n = 1; n <= 130; n += 3) {
    for (let m = 2; m <= 17; m++) {
      for (let k = 1; k < m; k += 2) {
        const c = capacity(n, m, k);
        assert.ok(c * m >= k * n && (c - 1) * m < k * n, `capacity(${n}, ${m}, ${k}) = ${c}`);
      }
    }
  }
});

test('aux loss and both gradient factors by hand, global and per sequence, with k = 2', () => {
  // n = 4, m = 3, k = 2, alpha = 1/2. Scores in eighths: t0, t1 = [4, 3, 1], t2 = [1, 3, 4], t3 = [4, 1, 3];
  // top-2: t0, t1 -> {0, 1}, t2 -> {2, 1}, t3 -> {0, 2}.
  const s = Float32Array.from([4, 3, 1, 4, 3, 1, 1, 3, 4, 4, 1, 3].map((x) => x / 8));
  const alpha = 0.5;
  // Global: counts [3, 3, 2], f = m*count/(n*k) = 3*[3, 3, 2]/8 = [9/8, 9/8, 6/8],
  // P = mean_i s_ij = [13, 10, 9]/32; sum f*P = (9*13 + 9*10 + 6*9)/256 = 261/256; aux = alpha * 261/256 = 261/512.
  // dAux/ds_ij = alpha * f_j / n = (1/2) * [9/8, 9/8, 6/8] / 4 = [9/64, 9/64, 6/64] on every row.
  const g = new AuxLossBalancer({ alpha }).route(s, 4, 3, 2);
  assert.deepEqual(Array.from(g.experts), [0, 1, 0, 1, 2, 1, 0, 2]);
  assert.equal(g.auxLoss, 261 / 512);
  assert.deepEqual(Array.from(g.auxGrad), [9, 9, 6, 9, 9, 6, 9, 9, 6, 9, 9, 6].map((x) => x / 64));
  // Sequences of 2 (B = 2): seq 0 = t0, t1: counts [2, 2, 0], f = 3*[2, 2, 0]/(2*2) = [3/2, 3/2, 0],
  //   P = [4, 3, 1]/8, sum f*P = 3/4 + 9/16 = 21/16;
  // seq 1 = t2, t3: counts [1, 1, 2], f = [3/4, 3/4, 3/2], P = [5, 4, 7]/16, sum = (15 + 12 + 42)/64 = 69/64.
  // aux = alpha * (21/16 + 69/64) / 2 = 153/256. dAux/ds_ij = alpha * f_j^(b) / (seqLen * B) = f/8:
  // seq 0 rows [3/16, 3/16, 0], seq 1 rows [3/32, 3/32, 3/16].
  const q = new AuxLossBalancer({ alpha, form: 'sequence', seqLen: 2 }).route(s, 4, 3, 2);
  assert.equal(q.auxLoss, 153 / 256);
  assert.deepEqual(Array.from(q.auxGrad), [6, 6, 0, 6, 6, 0, 3, 3, 6, 3, 3, 6].map((x) => x / 32));
});

/** A stand-in for HiGHS that reports an optimum with the given column values (only what solveOptimal calls). */
function stubSolver(colValue: number[], status = 7): Solver {
  const model = {
    options: { set: () => {} },
    passModel: () => {},
    run: () => {},
    getModelStatus: () => status,
    getSolution: () => ({ colValue: Float64Array.from(colValue) }),
  };
  const solver = {
    infinity: Infinity,
    constants: { objectiveSense: { maximize: -1 }, modelStatus: { optimal: 7 } },
    withModel: <R>(body: (m: typeof model) => R): R => body(model),
  };
  return solver as unknown as Solver;
}

test('the LP optimum rejects a fractional solution (integrality check), and a non-optimal status', () => {
  // n = 2, m = 2, k = 1 (c = 1). x = [0.6, 0.4 | 0.4, 0.6] satisfies every constraint and rounds to a
  // valid routing (token 0 -> 0, token 1 -> 1), so only the integrality check can catch it.
  const s = Float32Array.from([0.7, 0.3, 0.2, 0.8]);
  const ok = solveOptimal(stubSolver([1, 0, 0, 1]), s, 2, 2, 1);
  assert.deepEqual(Array.from(ok.routing.experts), [0, 1]);
  assert.ok(Math.abs(ok.objective - 1.5) < 1e-6);
  assert.throws(() => solveOptimal(stubSolver([0.6, 0.4, 0.4, 0.6]), s, 2, 2, 1), /not integral \(x\[0,0\] = 0\.6\)/);
  assert.throws(() => solveOptimal(stubSolver([1, 0, 0, 1], 8), s, 2, 2, 1), /did not reach an optimum \(model status 8\)/);
});
