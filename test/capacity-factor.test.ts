/**
 * Capacity factor with dropping (src/routing/capacityFactor.ts): hand-worked drops under both policies,
 * dropped = the excess over capacity on any input, kept pairs keep their pre-drop weights, options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../src/routing/factory.ts';
import { dropOverCapacity, expertCapacity } from '../src/routing/capacityFactor.ts';
import { droppedTokens } from '../src/routing/metrics.ts';
import { pairEnd, pairStart } from '../src/routing/ragged.ts';
import { topk } from '../src/routing/topk.ts';
import { InputError } from '../src/routing/errors.ts';
import { adversarial } from './helpers/scores.ts';

// 3 tokens x 3 experts, k = 2, scores in sixteenths. Plain top-2:
//   token 0 [8, 6, 2]  -> [0, 1], weights 8/14, 6/14
//   token 1 [9, 4, 3]  -> [0, 1], weights 9/13, 4/13
//   token 2 [10, 1, 8] -> [0, 2], weights 10/18, 8/18
// Loads [3, 2, 1]; capacity ⌈1·2·3/3⌉ = 2, so expert 0 is one over.
const S = Float32Array.from([8, 6, 2, 9, 4, 3, 10, 1, 8].map((x) => x / 16));

test('dropping by hand, policy score: expert 0 drops its lowest-score token (token 0, 8/16)', () => {
  const r = createBalancer('topk', { capacityFactor: 1 }).route(S, 3, 3, 2);
  assert.equal(r.dropped, 1);
  assert.deepEqual(Array.from(r.offsets!), [0, 1, 3, 5]);
  assert.deepEqual(Array.from(r.experts), [1, 0, 1, 0, 2]);
  assert.deepEqual(Array.from(r.loads), [2, 2, 1]);
  // Kept pairs keep the pre-drop weight: token 0 keeps 6/14 for expert 1 (not renormalised to 1).
  const w = Array.from(r.weights);
  [6 / 14, 9 / 13, 4 / 13, 10 / 18, 8 / 18].forEach((x, a) => assert.ok(Math.abs(w[a] - x) < 1e-6, `weight ${a}: ${w[a]} vs ${x}`));
  assert.deepEqual(Array.from(r.preDrop!), [0, 1, 0, 1, 0, 2]);
});

test('dropping by hand, policy position: expert 0 drops its last token in batch order (token 2)', () => {
  const r = createBalancer('topk', { capacityFactor: 1, dropPolicy: 'position' }).route(S, 3, 3, 2);
  assert.equal(r.dropped, 1);
  assert.deepEqual(Array.from(r.offsets!), [0, 2, 4, 5]);
  assert.deepEqual(Array.from(r.experts), [0, 1, 0, 1, 2]);
  assert.deepEqual(Array.from(r.loads), [2, 2, 1]);
});

test('capacity ⌈f·k·n/m⌉ with float guard; a larger factor drops nothing here', () => {
  assert.equal(expertCapacity(3, 3, 2, 1), 2);
  assert.equal(expertCapacity(100, 2, 1, 1.1), 55); // 1.1·1·100/2 = 55.00000000000001 in floating point
  assert.equal(expertCapacity(10, 4, 1, 1.2), 3); // 1.2·2.5 = 3 exactly
  assert.equal(expertCapacity(10, 4, 1, 1.3), 4); // 3.25 -> 4
  assert.equal(createBalancer('topk', { capacityFactor: 1.5 }).route(S, 3, 3, 2).dropped, 0);
});

test('dropped pairs = Σ_j max(0, load_j − C) and kept loads = min(load_j, C), for any method and input', () => {
  const shapes: [number, number, number][] = [
    [37, 5, 2],
    [96, 16, 4],
    [64, 8, 1],
  ];
  for (const [method, extra] of [
    ['topk', {}],
    ['lossfree', { rate: 0.05 }],
    ['bip', { iters: 2 }],
    ['sinkhorn', { iters: 3 }],
  ] as [string, Record<string, unknown>][]) {
    for (const f of [0.5, 1, 1.25]) {
      for (const policy of ['score', 'position']) {
        for (const [n, m, k] of shapes) {
          for (const [name, s] of Object.entries(adversarial(n, m, 7))) {
            const plain = createBalancer(method, extra);
            const capped = createBalancer(method, { ...extra, capacityFactor: f, dropPolicy: policy });
            for (let step = 0; step < 2; step++) {
              const before = plain.route(s, n, m, k);
              const r = capped.route(s, n, m, k);
              const what = `${method} f=${f} ${policy} ${name} n=${n} m=${m} k=${k} step ${step}`;
              const C = expertCapacity(n, m, k, f);
              let excess = 0;
              for (let j = 0; j < m; j++) {
                excess += Math.max(0, before.loads[j] - C);
                assert.equal(r.loads[j], Math.min(before.loads[j], C), `${what}: expert ${j} kept load`);
              }
              assert.equal(r.dropped, excess, what);
              assert.equal(droppedTokens(before.loads, n, k, f), excess, `${what}: droppedTokens metric`);
              assert.equal(r.experts.length, n * k - excess, what);
              // Every kept pair was routed before dropping, with the same weight.
              for (let i = 0; i < n; i++) {
                const pre = Array.from(before.experts.subarray(i * k, i * k + k));
                for (let a = pairStart(r, i); a < pairEnd(r, i); a++) {
                  const t = pre.indexOf(r.experts[a]);
                  assert.ok(t >= 0, `${what}: token ${i} kept an expert it was not routed to`);
                  assert.equal(r.weights[a], before.weights[i * k + t], `${what}: weight changed`);
                }
              }
            }
          }
        }
      }
    }
  }
});

test('policy score keeps, per expert, the highest-scoring routed tokens', () => {
  const [n, m, k] = [96, 16, 4];
  const { skewed, random } = adversarial(n, m, 11);
  for (const s of [skewed, random]) {
    const before = topk(s, n, m, k);
    const r = dropOverCapacity(s, before, 20, 'score');
    for (let j = 0; j < m; j++) {
      const kept: number[] = [];
      const all: number[] = [];
      for (let i = 0; i < n; i++) {
        if (before.experts.subarray(i * k, i * k + k).includes(j)) all.push(s[i * m + j]);
        if (r.experts.subarray(pairStart(r, i), pairEnd(r, i)).includes(j)) kept.push(s[i * m + j]);
      }
      all.sort((a, b) => b - a);
      kept.sort((a, b) => b - a);
      assert.deepEqual(kept, all.slice(0, 20), `expert ${j}`);
    }
  }
});

test('capacity options: checked, and expertchoice takes capacityFactor as its own (no dropping)', () => {
  assert.throws(() => createBalancer('topk', { dropPolicy: 'score' }), InputError);
  assert.throws(() => createBalancer('topk', { capacityFactor: 0 }), InputError);
  assert.throws(() => createBalancer('topk', { capacityFactor: 1, dropPolicy: 'random' }), InputError);
  assert.throws(() => createBalancer('expertchoice', { capacityFactor: 1, dropPolicy: 'score' }), InputError);
  const r = createBalancer('expertchoice', { capacityFactor: 1 }).route(S, 3, 3, 2);
  assert.equal(r.dropped, undefined);
});
