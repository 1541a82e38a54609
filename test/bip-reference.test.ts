/**
 * The optimised BIP (quickselect, sampled column thresholds, floors from the previous iteration) must
 * equal a plain sort-based transcription of Algorithm 1, exactly: same q, same experts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BipBalancer } from '../src/routing/bip.ts';
import { QuantileBalancer } from '../src/routing/quantile.ts';
import { capacity } from '../src/routing/assign.ts';
import { softmaxScores } from './helpers/scores.ts';

/** Algorithm 1 by sorting; keys in float64 as in the implementation; ties: larger −q, then the rotated order from i mod m (select.ts). */
function referenceBip(s: Float32Array, n: number, m: number, k: number, q: Float64Array, T: number, truncate: boolean | 'q') {
  const c = capacity(n, m, k);
  const p = new Float64Array(n);
  const clampP = (v: number) => (truncate === true && v < 0 ? 0 : v);
  const clamp = (v: number) => (truncate !== false && v < 0 ? 0 : v);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < n; i++) {
      const keys = Array.from({ length: m }, (_, j) => s[i * m + j] - q[j]).sort((a, b) => b - a);
      p[i] = clampP(keys[k]);
    }
    for (let j = 0; j < m; j++) {
      const col = Array.from({ length: n }, (_, i) => s[i * m + j] - p[i]).sort((a, b) => b - a);
      q[j] = c + 1 > n ? 0 : clamp(col[c]);
    }
  }
  const experts: number[] = [];
  for (let i = 0; i < n; i++) {
    const order = Array.from({ length: m }, (_, j) => j).sort((a, b) => {
      const ka = s[i * m + a] - q[a];
      const kb = s[i * m + b] - q[b];
      return kb - ka || q[a] - q[b] || ((a - i + m) % m) - ((b - i + m) % m);
    });
    experts.push(...order.slice(0, k));
  }
  return experts;
}

test('optimised BIP equals the sort-based Algorithm 1, over several warm-started calls', () => {
  for (const [n, m, k, T, truncate] of [
    [4096, 16, 2, 4, true],
    [3000, 64, 4, 3, true],
    [777, 8, 1, 5, false],
    [2100, 32, 8, 2, true],
    [2500, 16, 2, 4, 'q'],
  ] as const) {
    const b = new BipBalancer({ iters: T, truncate });
    const q = new Float64Array(m);
    for (let step = 0; step < 3; step++) {
      const s = softmaxScores(n, m, 1000 * step + n, 1 + step);
      const r = b.route(s, n, m, k);
      const expected = referenceBip(s, n, m, k, q, T, truncate);
      assert.deepEqual(Array.from(b.qVector!), Array.from(q), `q differs: n=${n} m=${m} k=${k} step ${step}`);
      assert.deepEqual(Array.from(r.experts), expected, `experts differ: n=${n} m=${m} k=${k} step ${step}`);
    }
  }
});

test('Quantile Balancing equals its sort-based transcription (one untruncated iteration after routing)', () => {
  const [n, m, k] = [3000, 16, 2];
  const qb = new QuantileBalancer();
  const beta = new Float64Array(m);
  for (let step = 0; step < 3; step++) {
    const s = softmaxScores(n, m, 50 + step);
    const r = qb.route(s, n, m, k);
    const before = beta.slice();
    // Route with the previous beta (T = 0 iterations), then one iteration from it.
    assert.deepEqual(Array.from(r.experts), referenceBip(s, n, m, k, before, 0, false));
    referenceBip(s, n, m, k, beta, 1, false);
    assert.deepEqual(qb.getState().beta, Array.from(beta));
  }
});

test('the sampled column selection falls back to an exact one when its strided sample misleads (n >= 2048)', () => {
  // The column step looks for the (c+1)-th largest of s_ij - p_i over a column of n values by first
  // sampling every (n/256)-th value (dual.ts: SAMPLE = 256) to get a threshold. Here n = 4096, m = 8, k = 1:
  // c = 512, the target rank is 513 and the stride 16. Every 16th token (the ones the sample sees) scores
  // [1, 0, ..., 0], far above everyone else in column 0, so the sample puts the threshold at 1; only the
  // 256 sampled tokens reach it, fewer than 513, and the exact selection over the whole column must run.
  // Without it the column step finds no 513th value and sets q_0 = 0; the reference's q_0 is positive.
  // (Values larger off the stride would not do: the threshold would then be low and keep enough.)
  const [n, m, k] = [4096, 8, 1];
  for (const [T, truncate] of [[1, true], [3, true], [2, false]] as const) {
    const b = new BipBalancer({ iters: T, truncate });
    const q = new Float64Array(m);
    for (let step = 0; step < 2; step++) {
      const s = softmaxScores(n, m, 4000 + step);
      for (let i = 0; i < n; i += 16) s.fill(0, i * m, i * m + m).fill(1, i * m, i * m + 1);
      const r = b.route(s, n, m, k);
      const expected = referenceBip(s, n, m, k, q, T, truncate);
      assert.ok(q[0] > 0, `T=${T} step ${step}: reference q_0 = ${q[0]}, the input no longer needs the fallback`);
      assert.deepEqual(Array.from(b.qVector!), Array.from(q), `q differs: T=${T} truncate=${truncate} step ${step}`);
      assert.deepEqual(Array.from(r.experts), expected, `experts differ: T=${T} truncate=${truncate} step ${step}`);
    }
  }
});
