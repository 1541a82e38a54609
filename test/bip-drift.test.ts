/**
 * A finding about Algorithm 1 with a warm-started q (algorithms.md §2 infers the warm start): the
 * paper's truncation of p (p_i >= 0, the dual of Σ_j x_ij <= k) lets q creep upwards from batch to
 * batch, because a token whose k-th largest s_ij − q_j is negative counts as taking fewer than k
 * experts while routing still gives it k. Keeping only q >= 0 (truncate: 'q', the dual of
 * Σ_j x_ij = k, which is what routing does) removes the drift. Measured with `moe-balance simulate
 * --stream drift --steps 100 --seed 1` (n = 4096, m = 16, k = 2, T = 4): AvgMaxVio 0.641 (paper's),
 * 0.097 ('q'), 0.096 (no truncation).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../src/routing/factory.ts';
import { maxVio } from '../src/routing/metrics.ts';
import { syntheticStream } from '../src/simulate/streams.ts';

test("drift stream: the paper's truncation drifts; truncate 'q' does not", () => {
  const [n, m, k] = [2048, 16, 2];
  const paper = createBalancer('bip', { iters: 4 });
  const qOnly = createBalancer('bip', { iters: 4, truncate: 'q' });
  const late: Record<string, number[]> = { paper: [], qOnly: [] };
  let step = 0;
  for (const [scores] of syntheticStream({ kind: 'drift', n, m, steps: 80, seed: 1 }).batches()) {
    step++;
    const a = maxVio(paper.route(scores, n, m, k).loads, n, k);
    const b = maxVio(qOnly.route(scores, n, m, k).loads, n, k);
    if (step > 60) {
      late.paper.push(a);
      late.qOnly.push(b);
    }
  }
  const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
  assert.ok(mean(late.qOnly) < 0.2, `truncate 'q': mean MaxVio over steps 61-80 = ${mean(late.qOnly)}`);
  assert.ok(mean(late.paper) > 2 * mean(late.qOnly), `paper's truncation: ${mean(late.paper)} vs 'q' ${mean(late.qOnly)}`);
  // The mechanism: q's level rises under the paper's truncation.
  assert.ok(Math.min(...paper.getState().q) > 0, 'min q stayed at 0');
});
