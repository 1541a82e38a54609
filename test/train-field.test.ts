/**
 * Sinkhorn, Expert Choice, dropping, group-limited routing and the router z-loss inside the model and the
 * trainer: the z-loss in the graph against the plain reference (value and gradient with respect to the
 * logits, and gradient reaching the router); a ragged routing's output against a per-token reference
 * (no expert: zero, the residual only; dropped pairs keep their pre-drop weight); short training runs
 * that log dropped tokens, tokens without an expert, group MaxVio and the z-loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/model/backend.ts';
import { swiglu } from '../src/model/layers.ts';
import { combineExperts, moeForward, zLossTerm } from '../src/model/moe.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { pairEnd, pairStart } from '../src/routing/ragged.ts';
import { routerZLoss } from '../src/routing/zLoss.ts';
import { applyOverrides, DEFAULT_CONFIG, finalizeConfig, readConfigFile } from '../src/train/config.ts';
import { readLog, type StepLine } from '../src/train/log.ts';
import { train } from '../src/train/trainer.ts';
import { Rng } from '../src/util/rng.ts';

await setBackend('wasm');

function randn(shape: number[], rng: Rng, std = 1): tf.Tensor {
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, c) => a * c, 1) }, () => rng.normal() * std), shape);
}

test('z-loss in the graph: value and gradient equal the reference; the router receives its gradient', () => {
  const rng = new Rng(2);
  const [N, d, m, coef] = [10, 6, 5, 0.01];
  tf.tidy(() => {
    const logits = randn([N, m], rng, 3) as tf.Tensor2D;
    const { value, grad } = tf.valueAndGrad((z: tf.Tensor) => zLossTerm(z as tf.Tensor2D, coef))(logits);
    const ref = routerZLoss(logits.dataSync() as Float32Array, N, m, coef);
    assert.ok(Math.abs(value.dataSync()[0] - ref.zLoss) < 1e-6 * (1 + ref.zLoss), `value ${value.dataSync()[0]} vs ${ref.zLoss}`);
    const g = grad.dataSync();
    for (let x = 0; x < N * m; x++) assert.ok(Math.abs(g[x] - ref.zGrad[x]) < 1e-6, `grad[${x}] ${g[x]} vs ${ref.zGrad[x]}`);
    // Through moeForward: d z / d router = xᵀ · d z / d logits.
    const x = randn([N, d], rng) as tf.Tensor2D;
    const routed = Array.from({ length: m }, () => ({ w13: randn([d, 8], rng), w2: randn([4, d], rng) }));
    const topk = createBalancer('topk');
    const zOf = (r: tf.Tensor) => moeForward(x, { router: r, routed, shared: [] }, { k: 2, gate: 'softmax', route: (s, n, mm, kk) => topk.route(s, n, mm, kk), zLoss: coef }).z!;
    const router = randn([d, m], rng);
    const gr = tf.grad(zOf)(router).dataSync();
    const lg = routerZLoss(tf.matMul(x, router).dataSync() as Float32Array, N, m, coef).zGrad;
    const expected = tf.matMul(x, tf.tensor2d(lg, [N, m]), true, false).dataSync();
    for (let e = 0; e < d * m; e++) assert.ok(Math.abs(gr[e] - expected[e]) < 1e-5, `router grad[${e}] ${gr[e]} vs ${expected[e]}`);
  });
});

test('ragged routings in the layer: a token with no expert gets 0 (residual only); dropped pairs keep the pre-drop weight', () => {
  const rng = new Rng(7);
  const [N, d, m, h] = [12, 6, 4, 8];
  for (const [method, options, k] of [
    ['expertchoice', {}, 1],
    ['expertchoice', { capacityFactor: 0.5 }, 2],
    ['topk', { capacityFactor: 0.75 }, 2],
    ['bip', { capacityFactor: 0.5, dropPolicy: 'position' }, 3],
  ] as [string, Record<string, unknown>, number][]) {
    tf.tidy(() => {
      const x = randn([N, d], rng) as tf.Tensor2D;
      const scores = tf.softmax(randn([N, m], rng, 2)) as tf.Tensor2D;
      const w = { router: tf.zeros([d, m]), routed: Array.from({ length: m }, () => ({ w13: randn([d, 2 * h], rng, 0.5), w2: randn([h, d], rng, 0.5) })), shared: [] };
      const route = createBalancer(method, options).route(scores.dataSync() as Float32Array, N, m, k);
      const y = combineExperts(x, scores, route.experts, k, w, route).arraySync() as number[][];
      const what = `${method} ${JSON.stringify(options)} k=${k}`;
      let empty = 0;
      for (let i = 0; i < N; i++) {
        // Reference: Σ over the token's pairs of weight · SwiGLU_e(x_i), with the balancer's own weights.
        const ref = new Float64Array(d);
        for (let a = pairStart(route, i); a < pairEnd(route, i); a++) {
          const e = w.routed[route.experts[a]];
          const out = swiglu(tf.slice(x, [i, 0], [1, d]) as tf.Tensor2D, e.w13, e.w2).dataSync();
          for (let c = 0; c < d; c++) ref[c] += route.weights[a] * out[c];
        }
        if (pairEnd(route, i) === pairStart(route, i)) empty++;
        for (let c = 0; c < d; c++) assert.ok(Math.abs(y[i][c] - ref[c]) < 1e-4, `${what}: token ${i} dim ${c}: ${y[i][c]} vs ${ref[c]}`);
      }
      assert.ok(empty > 0 || method !== 'expertchoice' || k > 1, `${what}: expected some token without an expert`);
    });
  }
});

const TINY = join(import.meta.dirname, '..', 'configs', 'tiny.json');

test('training with the new methods and options logs dropped, unrouted, group MaxVio and the z-loss', async () => {
  const rng = new Rng(3);
  const stream = Int32Array.from({ length: 8000 }, () => rng.int(512));
  const data = { name: 'random', vocabSize: 512, train: stream, val: stream.slice(0, 1000) };
  const runs: [Record<string, unknown>, (l: StepLine) => void][] = [
    [{ method: 'expertchoice', zLoss: 0.001 }, (l) => {
      assert.ok(l.zLoss! > 0);
      assert.ok(l.layers.every((x) => x.unrouted !== undefined && x.maxVio === 0));
    }],
    [{ method: 'topk', capacityFactor: 1, dropPolicy: 'position' }, (l) => {
      assert.equal(l.zLoss, undefined);
      assert.ok(l.layers.every((x) => x.dropped !== undefined && x.maxVio <= 1e-9));
    }],
    [{ method: 'bip', groups: 2, topkGroups: 1 }, (l) => assert.ok(l.layers.every((x) => x.groupMaxVio !== undefined))],
    [{ method: 'sinkhorn', sinkhornIters: 8 }, (l) => assert.ok(l.layers.every((x) => x.dropped === undefined))],
  ];
  for (const [over, check] of runs) {
    const out = mkdtempSync(join(tmpdir(), 'moe-field-'));
    const cfg = finalizeConfig(applyOverrides(applyOverrides({ ...DEFAULT_CONFIG }, readConfigFile(TINY), 'tiny'), { steps: 3, evalEvery: 0, evalBatches: 1, checkpointEvery: 0, ...over }, 'test'));
    await train({ config: cfg, outDir: out, data, quiet: true });
    const steps = readLog(join(out, 'log.jsonl')).filter((l): l is StepLine => 'loss' in l);
    assert.equal(steps.length, 3, JSON.stringify(over));
    for (const l of steps) {
      assert.ok(Number.isFinite(l.loss), JSON.stringify(over));
      check(l);
    }
    rmSync(out, { recursive: true, force: true });
  }
  assert.throws(() => finalizeConfig({ ...DEFAULT_CONFIG, method: 'quantile', groups: 4, topkGroups: 2 }), /groups/);
  assert.throws(() => finalizeConfig({ ...DEFAULT_CONFIG, method: 'topk', groups: 3, topkGroups: 1 }), /groups/);
  assert.throws(() => finalizeConfig({ ...DEFAULT_CONFIG, method: 'topk', dropPolicy: 'score' }), /capacityFactor/);
});
