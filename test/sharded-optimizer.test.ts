/**
 * The split AdamW step of data-parallel training (src/train/shardedOptimizer.ts): W ranks each reduce
 * and update one element range of the shared weights and moments; together they must give what one
 * process's adamWStep gives on the summed gradient Σ_w (B_w / B) g_w. The ranks are driven in turn in
 * one thread (no barriers: reduce on every rank, then update on every rank).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/model/backend.ts';
import type { Params } from '../src/model/params.ts';
import { adamWStep, initAdamWState, type AdamWOptions } from '../src/train/optimizer.ts';
import { elementRange, shareAdamState, ShardedAdamW } from '../src/train/shardedOptimizer.ts';
import { allocGroupMemory, WorkerGroup } from '../src/train/workerGroup.ts';
import { Rng } from '../src/util/rng.ts';

await setBackend('cpu');

/** Parameters of odd sizes, so that the ranks' element ranges cut through them. */
function makeParams(rng: Rng, prefix: string): Params {
  const shapes: [string, number[]][] = [
    ['a', [5, 3]],
    ['norm', [7]],
    ['b', [1]],
    ['c', [4, 6]],
    ['d', [11]],
  ];
  return new Map(shapes.map(([name, shape]) => [name, tf.variable(tf.tensor(Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => rng.normal()), shape), true, `${prefix}.${name}`)]));
}

const decay = (name: string) => name !== 'norm';

for (const [W, clip] of [
  [2, 0],
  [3, 0],
  [3, 0.05],
  [7, 1],
] as const) {
  test(`split AdamW over W = ${W} ranks equals one process's step on the summed gradient (clip ${clip}, 3 steps)`, () => {
    const rng = new Rng(11 + W);
    const params = makeParams(rng, `W${W}-clip${clip}`);
    try {
      const N = [...params.values()].reduce((a, p) => a + p.size, 0);
      const opts: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: clip };
      const reference = initAdamWState(params);
      const mem = allocGroupMemory(W, N, 1);
      const groups = Array.from({ length: W }, (_, r) => new WorkerGroup(mem, r));
      const shared = shareAdamState(initAdamWState(params), params, mem);
      const ranks = groups.map((g) => new ShardedAdamW(params, { ...shared, t: shared.t }, g, opts, decay));
      // Unequal shares of B = 2W + 1 sequences.
      const counts = Array.from({ length: W }, (_, w) => (w === 0 ? 3 : 2));
      const B = counts.reduce((a, c) => a + c, 0);
      const scales = counts.map((c) => c / B);
      for (let step = 1; step <= 3; step++) {
        const summed = new Float64Array(N);
        groups.forEach((g, w) => {
          const slot = g.gradSlot();
          for (let i = 0; i < N; i++) {
            slot[i] = rng.normal() * 0.1;
            summed[i] += slot[i] * scales[w];
          }
        });
        const grads = new Map<string, Float32Array>();
        let o = 0;
        for (const [name, p] of params) {
          grads.set(name, Float32Array.from(summed.subarray(o, o + p.size)));
          o += p.size;
        }
        const lr = 0.01 * step;
        const refNorm = adamWStep(params, grads, reference, lr, opts, decay);
        ranks.forEach((r) => r.reduce(scales));
        const norms = ranks.map((r) => r.norm());
        assert.ok(norms.every((n) => n === norms[0]), 'every rank computes the same norm');
        assert.ok(Math.abs(norms[0] - refNorm) <= 1e-12 * refNorm, `norm ${norms[0]} vs ${refNorm}`);
        ranks.forEach((r) => r.update(lr, norms[0]));
        for (const name of params.keys()) {
          for (const key of ['w', 'm', 'v'] as const) {
            const got = shared[key].get(name)!;
            const want = reference[key].get(name)!;
            for (let i = 0; i < got.length; i++) {
              // Without clipping the arithmetic is the same to the bit; with it the clip factor may differ
              // in its last bit (the norm's summation order).
              const tol = clip > 0 ? 1e-6 * Math.abs(want[i]) : 0;
              assert.ok(Math.abs(got[i] - want[i]) <= tol, `step ${step} ${name}.${key}[${i}]: ${got[i]} vs ${want[i]}`);
            }
          }
        }
      }
    } finally {
      for (const p of params.values()) p.dispose();
    }
  });
}

test('element ranges cover 0..N once, in rank order, as equal as can be', () => {
  for (const [N, W] of [
    [10, 3],
    [7, 7],
    [1000003, 2],
    [5, 8],
  ]) {
    let next = 0;
    for (let r = 0; r < W; r++) {
      const { lo, hi } = elementRange(N, W, r);
      assert.equal(lo, next);
      assert.ok(hi - lo === Math.floor(N / W) || hi - lo === Math.ceil(N / W), `N=${N} W=${W} rank ${r}: ${hi - lo}`);
      next = hi;
    }
    assert.equal(next, N);
  }
});
