/**
 * Group-limited routing (src/routing/groupLimited.ts): a hand-worked top-k case, a plain sort-based
 * reference for the groups each token may use (never selects outside them, for topk, lossfree and bip,
 * warm-started over several batches), per-group MaxVio, and the option checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../src/routing/factory.ts';
import { groupLoads, groupMaxVio, maxVio } from '../src/routing/metrics.ts';
import { InputError } from '../src/routing/errors.ts';
import { adversarial, softmaxScores } from './helpers/scores.ts';

test('group-limited top-k by hand: 3 tokens, 4 experts in 2 groups, 1 group per token, k = 2', () => {
  // Scores in sixteenths; groups {0, 1} and {2, 3}; group score = sum of the token's top-2 in the group.
  //   token 0 [5, 4, 6, 1]: g0 = 5+4 = 9, g1 = 6+1 = 7 -> g0 -> [0, 1], weights 5/9, 4/9 (plain top-2: [2, 0])
  //   token 1 [1, 2, 7, 6]: g0 = 3, g1 = 13 -> g1 -> [2, 3], weights 7/13, 6/13
  //   token 2 [8, 0, 4, 4]: g0 = 8, g1 = 8, tie -> lower group g0 -> [0, 1], weights 8/8, 0/8
  // Loads [2, 2, 1, 1]; group loads [4, 2]; mean group load k·n/G = 3 -> group MaxVio 1/3.
  const s = Float32Array.from([5, 4, 6, 1, 1, 2, 7, 6, 8, 0, 4, 4].map((x) => x / 16));
  const r = createBalancer('topk', { groups: 2, topkGroups: 1 }).route(s, 3, 4, 2);
  assert.deepEqual(Array.from(r.experts), [0, 1, 2, 3, 0, 1]);
  const w = Array.from(r.weights);
  [5 / 9, 4 / 9, 7 / 13, 6 / 13, 1, 0].forEach((x, a) => assert.ok(Math.abs(w[a] - x) < 1e-6, `weight ${a}: ${w[a]} vs ${x}`));
  assert.deepEqual(Array.from(r.loads), [2, 2, 1, 1]);
  assert.deepEqual(Array.from(groupLoads(r.loads, 2)), [4, 2]);
  assert.ok(Math.abs(groupMaxVio(r.loads, 2, 3, 2) - 1 / 3) < 1e-12);
});

/** The groups token i may use, by sorting: group score = sum of its 2 largest keys (1 if size 1). */
function referenceGroups(key: (i: number, j: number) => number, i: number, m: number, G: number, topkGroups: number): Set<number> {
  const size = m / G;
  const scored = Array.from({ length: G }, (_, g) => {
    const keys = Array.from({ length: size }, (_, t) => key(i, g * size + t)).sort((a, b) => b - a);
    return { g, score: keys.slice(0, Math.min(2, size)).reduce((a, b) => a + b, 0) };
  });
  scored.sort((a, b) => b.score - a.score || a.g - b.g);
  return new Set(scored.slice(0, topkGroups).map((x) => x.g));
}

test('group-limited routing never selects outside the token’s chosen groups (topk, lossfree, bip; warm state)', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['topk', {}],
    ['lossfree', { rate: 0.05 }],
    ['bip', {}],
    ['bip', { iters: 8, truncate: false }],
    ['bip', { order: 'route-then-update' }],
  ];
  const shapes: [number, number, number, number, number][] = [
    // n, m, k, groups, topkGroups
    [64, 8, 2, 4, 1],
    [96, 16, 4, 4, 2],
    [37, 6, 3, 3, 2],
    [50, 8, 1, 8, 3],
  ];
  for (const [method, extra] of cases) {
    for (const [n, m, k, G, TG] of shapes) {
      for (const [name, s] of Object.entries(adversarial(n, m, n * 7 + m))) {
        const b = createBalancer(method, { ...extra, groups: G, topkGroups: TG });
        for (let step = 0; step < 4; step++) {
          const state = b.getState();
          const v = state.q ?? state.b ?? [];
          // The key the groups are chosen by: s − q (bip, the q the call starts from), s + b (lossfree), s.
          const sh = (j: number) => (v.length === 0 ? 0 : method === 'bip' ? -v[j] : v[j]);
          const key = (i: number, j: number) => s[i * m + j] + sh(j);
          const r = b.route(s, n, m, k);
          const what = `${method} ${JSON.stringify(extra)} ${name} n=${n} m=${m} k=${k} G=${G}/${TG} step ${step}`;
          const loads = new Int32Array(m);
          for (let i = 0; i < n; i++) {
            const allowed = referenceGroups(key, i, m, G, TG);
            const ids = Array.from(r.experts.subarray(i * k, i * k + k));
            assert.equal(new Set(ids).size, k, `${what}: token ${i} ids not distinct`);
            for (const j of ids) {
              assert.ok(allowed.has(Math.floor(j / (m / G))), `${what}: token ${i} got expert ${j} outside groups ${[...allowed]}`);
              loads[j]++;
            }
          }
          assert.deepEqual(Array.from(r.loads), Array.from(loads), `${what}: loads`);
          for (const x of Object.values(b.getState()).flat()) assert.ok(Number.isFinite(x), `${what}: state not finite`);
        }
      }
    }
  }
});

test('group-limited BIP balances experts and groups on a skewed stream; top-k does not', () => {
  const [n, m, k, G] = [512, 16, 2, 4];
  const s = softmaxScores(n, m, 3, 2);
  // Skew towards group 0 (experts 0-3).
  for (let i = 0; i < n; i++) for (let j = 0; j < 4; j++) s[i * m + j] += 0.3;
  const bip = createBalancer('bip', { groups: G, topkGroups: 2, iters: 8, truncate: false });
  const top = createBalancer('topk', { groups: G, topkGroups: 2 });
  let rb = bip.route(s, n, m, k);
  for (let t = 0; t < 3; t++) rb = bip.route(s, n, m, k);
  const rt = top.route(s, n, m, k);
  assert.ok(groupMaxVio(rt.loads, G, n, k) > 1, `top-k group MaxVio ${groupMaxVio(rt.loads, G, n, k)}`);
  assert.ok(groupMaxVio(rb.loads, G, n, k) < 0.1, `bip group MaxVio ${groupMaxVio(rb.loads, G, n, k)}`);
  assert.ok(maxVio(rb.loads, n, k) < 0.2, `bip expert MaxVio ${maxVio(rb.loads, n, k)}`);
});

test('group options are checked', () => {
  assert.throws(() => createBalancer('topk', { groups: 4 }), InputError);
  assert.throws(() => createBalancer('topk', { groups: 4, topkGroups: 5 }), InputError);
  assert.throws(() => createBalancer('quantile', { groups: 4, topkGroups: 2 }), InputError);
  assert.throws(() => createBalancer('sinkhorn', { groups: 4, topkGroups: 2 }), InputError);
  assert.throws(() => createBalancer('expertchoice', { groups: 4, topkGroups: 2 }), InputError);
  const s = softmaxScores(8, 6, 1);
  assert.throws(() => createBalancer('topk', { groups: 4, topkGroups: 1 }).route(s, 8, 6, 2), /does not divide/);
  assert.throws(() => createBalancer('topk', { groups: 3, topkGroups: 1 }).route(s, 8, 6, 3), /cannot hold/);
  assert.throws(() => createBalancer('bip', { groups: 3, topkGroups: 1, iters: -1 }), InputError);
});
