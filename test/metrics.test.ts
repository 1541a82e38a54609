import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalanceAccumulator, maxVio, minVio, avgMaxVio, supMaxVio, retention, scoreSum, epStepTime, droppedTokens, expertLoads } from '../src/routing/metrics.ts';
import { topk } from '../src/routing/topk.ts';
import { createBalancer, SYNC_METHODS } from '../src/routing/factory.ts';
import { Rng } from '../src/util/rng.ts';
import { softmaxScores } from './helpers/scores.ts';

test('MaxVio and MinVio by hand, with a fractional mean load', () => {
  // n = 10, k = 1, m = 4: mean load 2.5. Loads [5, 3, 2, 0]: MaxVio = (5 - 2.5)/2.5 = 1, MinVio = -1.
  const loads = Int32Array.from([5, 3, 2, 0]);
  assert.equal(maxVio(loads, 10, 1), 1);
  assert.equal(minVio(loads, 10, 1), -1);
  // Loads [3, 3, 2, 2]: MaxVio = 0.5/2.5 = 0.2.
  assert.ok(Math.abs(maxVio(Int32Array.from([3, 3, 2, 2]), 10, 1) - 0.2) < 1e-12);
});

test('AvgMaxVio and SupMaxVio over a series', () => {
  assert.equal(avgMaxVio([0.5, 0.1, 0.3]), 0.3);
  assert.equal(supMaxVio([0.5, 0.1, 0.3]), 0.5);
});

test('BalanceAccumulator by hand: overall and per-layer AvgMaxVio / SupMaxVio, EP step time, carried through its totals', () => {
  // Two steps × two layers. Layer 0: MaxVio 0.5 then 0.1; layer 1: 0.2 then 0.
  // Loads (m = 2): layer 0 [3, 1] and [2, 2]; layer 1 [4, 0] and none given (left out of the step time).
  // Half-way the totals go through JSON (a checkpoint) into a second accumulator: both must agree.
  const acc = new BalanceAccumulator();
  assert.ok(Number.isNaN(acc.avgMaxVio) && Number.isNaN(acc.supMaxVio) && Number.isNaN(acc.epStepTime), 'empty is NaN');
  acc.add(0, 0.5, [3, 1]);
  acc.add(1, 0.2, [4, 0]);
  const half = new BalanceAccumulator(JSON.parse(JSON.stringify(acc.totals())));
  for (const a of [acc, half]) {
    a.add(0, 0.1, [2, 2]);
    a.add(1, 0);
  }
  for (const a of [acc, half]) {
    assert.equal(a.count, 4);
    assert.ok(Math.abs(a.avgMaxVio - 0.2) < 1e-12); // (0.5 + 0.2 + 0.1 + 0) / 4
    assert.equal(a.supMaxVio, 0.5);
    assert.deepEqual(a.layerAvgMaxVio.map((x) => Math.round(x * 1e12) / 1e12), [0.3, 0.1]);
    assert.deepEqual(a.layerSupMaxVio, [0.5, 0.2]);
    // Σ max load / Σ mean load over the routings with loads: (3 + 4 + 2) / (2 + 2 + 2) = 1.5.
    assert.equal(a.epStepTime, 1.5);
  }
  // Maxima start at the first value, so a series of negatives has a negative sup (MinVio-like series).
  const neg = new BalanceAccumulator();
  neg.add(2, -0.5);
  neg.add(2, -0.25);
  assert.equal(neg.supMaxVio, -0.25);
  assert.deepEqual(neg.layerSupMaxVio.slice(0, 2).map(Number.isNaN), [true, true], 'layers never added are NaN');
  assert.equal(neg.layerSupMaxVio[2], -0.25);
  assert.throws(() => neg.add(-1, 0), /layer must be an integer >= 0/);
});

test('retention: plain top-k keeps 1; a worse routing keeps less; against an LP objective', () => {
  const s = Float32Array.from([0.7, 0.2, 0.1, 0.1, 0.6, 0.3]);
  const plain = topk(s, 2, 3, 1);
  assert.equal(retention(s, plain), 1);
  const other = { ...plain, experts: Int32Array.from([1, 2]) };
  // (0.2 + 0.3) / (0.7 + 0.6)
  assert.ok(Math.abs(retention(s, other) - 0.5 / 1.3) < 1e-6);
  assert.ok(Math.abs(retention(s, other, 1.0) - scoreSum(s, other)) < 1e-12);
});

test('expert-parallel step time is sum of max loads over sum of mean loads', () => {
  // Two layers, n = 4, k = 1, m = 2 (mean 2): max loads 3 and 2 -> (3 + 2) / (2 + 2) = 1.25.
  assert.equal(epStepTime([Int32Array.from([3, 1]), Int32Array.from([2, 2])], 4, 1), 1.25);
});

test('dropped tokens at a capacity factor; loads from ids', () => {
  // mean 2.5, factor 1.2 -> capacity floor(3) = 3: loads [5, 3, 2, 0] drop 2.
  assert.equal(droppedTokens(Int32Array.from([5, 3, 2, 0]), 10, 1, 1.2), 2);
  assert.deepEqual(Array.from(expertLoads(Int32Array.from([0, 2, 2, 1]), 3)), [1, 1, 2]);
  assert.throws(() => expertLoads(Int32Array.from([3]), 3), /outside 0..2/);
});

test('MaxVio and MinVio with k = 2, by hand and against the definition on random loads', () => {
  // n = 6, k = 2, m = 4: mean load k*n/m = 3. Loads [6, 2, 2, 2]: MaxVio = (6 - 3)/3 = 1, MinVio = (2 - 3)/3 = -1/3.
  // (A mean of n/m = 1.5 would give MaxVio 3.)
  assert.equal(maxVio(Int32Array.from([6, 2, 2, 2]), 6, 2), 1);
  assert.ok(Math.abs(minVio(Int32Array.from([6, 2, 2, 2]), 6, 2) + 1 / 3) < 1e-12);
  const rng = new Rng(4);
  for (let trial = 0; trial < 20; trial++) {
    const [m, k] = [2 + rng.int(15), 1 + rng.int(3)];
    const n = 1 + rng.int(200);
    const loads = new Int32Array(m);
    for (let x = 0; x < n * k; x++) loads[rng.int(m)]++;
    const mean = (n * k) / m;
    assert.ok(Math.abs(maxVio(loads, n, k) - (Math.max(...loads) / mean - 1)) < 1e-12, `maxVio n=${n} m=${m} k=${k}`);
    assert.ok(Math.abs(minVio(loads, n, k) - (Math.min(...loads) / mean - 1)) < 1e-12, `minVio n=${n} m=${m} k=${k}`);
  }
});

test('retention of every balancer is its chosen score over the top-k score, at most 1 with k per token (computed here by sorting rows)', () => {
  const [n, m, k] = [64, 8, 2];
  const s = softmaxScores(n, m, 17);
  let best = 0;
  for (let i = 0; i < n; i++) {
    const row = Array.from(s.subarray(i * m, i * m + m)).sort((a, b) => b - a);
    for (let t = 0; t < k; t++) best += row[t];
  }
  for (const method of SYNC_METHODS) {
    const r = createBalancer(method).route(s, n, m, k);
    let own = 0;
    for (let i = 0; i < n; i++) {
      // Ragged routings (Expert Choice) give token i the ids at [offsets[i], offsets[i+1]), any number of them.
      const [a, b] = r.offsets ? [r.offsets[i], r.offsets[i + 1]] : [i * k, i * k + k];
      for (let x = a; x < b; x++) own += s[i * m + r.experts[x]];
    }
    const got = retention(s, r);
    assert.ok(Math.abs(got - own / best) < 1e-9, `${method}: retention ${got}, expected ${own / best}`);
    // k experts per token can keep at most the top-k score; a ragged routing may give a token more.
    if (!r.offsets) assert.ok(got <= 1 + 1e-12, `${method}: retention ${got} > 1`);
  }
  // A balancer that moves tokens keeps strictly less than plain top-k on these skewed-enough scores.
  assert.ok(retention(s, createBalancer('bip').route(s, n, m, k)) < 1);
});
