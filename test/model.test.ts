/**
 * The MoE model: replacement kernels against plain-JS references, the fast matMul gradient, one expert
 * with k = 1 against a dense SwiGLU, experts chosen in the model against the routing core, and the
 * auxiliary loss's gradient to the router (and its absence for the other methods).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/model/backend.ts';
import { gatherRows, matMul2d, scatterAddRows } from '../src/model/ops.ts';
import { makeAttnConsts, swiglu } from '../src/model/layers.ts';
import { attentionCore } from '../src/model/attention.ts';
import { swigluActivation } from '../src/model/swiglu.ts';
import { crossEntropy, tiedHeadLoss } from '../src/model/loss.ts';
import { moeForward, type MoeParams } from '../src/model/moe.ts';
import { initParams } from '../src/model/params.ts';
import { MoeTransformer, emptyStats } from '../src/model/transformer.ts';
import type { ModelConfig } from '../src/model/config.ts';
import { createBalancer } from '../src/routing/factory.ts';
import type { AuxLossResult } from '../src/routing/types.ts';
import { Rng } from '../src/util/rng.ts';
import { BalancedMoe, type BalancedMoeOptions } from '../src/model/balancedMoe.ts';

await setBackend('wasm');

function randn(shape: number[], rng: Rng, std = 1): tf.Tensor {
  const n = shape.reduce((a, c) => a * c, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * std;
  return tf.tensor(v, shape);
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  assert.ok(worst <= tol, `${what}: max relative difference ${worst} > ${tol}`);
}

const TINY: ModelConfig = {
  vocabSize: 64,
  dim: 16,
  layers: 2,
  heads: 2,
  seqLen: 8,
  numExperts: 4,
  expertHidden: 16,
  topK: 2,
  numSharedExperts: 0,
  gate: 'softmax',
  ropeTheta: 10000,
  normEps: 1e-5,
  initStd: 0.2,
};

test('replacement kernels: gather, segment sum, slice and split match plain-JS references', () => {
  const rng = new Rng(1);
  tf.tidy(() => {
    const x = randn([7, 3], rng);
    const xv = x.dataSync();
    const ids = Int32Array.from([6, 0, 3, 3, 1]);
    const g = tf.gather(x, tf.tensor1d(ids, 'int32')).dataSync();
    const gRef = Array.from(ids).flatMap((i) => Array.from(xv.slice(i * 3, i * 3 + 3)));
    assertClose(g, gRef, 0, 'gather');

    const src = randn([5, 3], rng);
    const sv = src.dataSync();
    const s = tf.unsortedSegmentSum(src, tf.tensor1d(ids, 'int32'), 7).dataSync();
    const sRef = new Float32Array(21);
    ids.forEach((i, r) => {
      for (let c = 0; c < 3; c++) sRef[i * 3 + c] += sv[r * 3 + c];
    });
    assertClose(s, sRef, 1e-7, 'unsortedSegmentSum');

    const y = randn([4, 5, 6], rng);
    const yv = y.dataSync();
    const sl = tf.slice(y, [1, 2, 1], [2, 3, 4]).dataSync();
    const slRef: number[] = [];
    for (let i = 1; i < 3; i++) for (let j = 2; j < 5; j++) for (let k = 1; k < 5; k++) slRef.push(yv[i * 30 + j * 6 + k]);
    assertClose(sl, slRef, 0, 'slice');

    const a2 = randn([3, 2, 4], rng);
    const b2 = randn([3, 5, 4], rng);
    const cat = tf.concat([a2, b2], 1).dataSync();
    const av = a2.dataSync();
    const bv = b2.dataSync();
    const catRef: number[] = [];
    for (let i = 0; i < 3; i++) catRef.push(...av.slice(i * 8, i * 8 + 8), ...bv.slice(i * 20, i * 20 + 20));
    assertClose(cat, catRef, 0, 'concat axis 1');
    const cat0 = tf.concat([tf.tensor1d([1, 2], 'int32'), tf.tensor1d([], 'int32'), tf.tensor1d([3], 'int32')]).dataSync();
    assert.deepEqual(Array.from(cat0), [1, 2, 3], 'concat int32 with an empty part');

    const parts = tf.split(y, [1, 3], 1);
    assert.deepEqual(parts[1].shape, [4, 3, 6]);
    const p1Ref: number[] = [];
    for (let i = 0; i < 4; i++) for (let j = 1; j < 4; j++) for (let k = 0; k < 6; k++) p1Ref.push(yv[i * 30 + j * 6 + k]);
    assertClose(parts[1].dataSync(), p1Ref, 0, 'split');
  });
});

test('matMul2d, gatherRows and scatterAddRows have the same gradients as the tfjs ops', () => {
  const rng = new Rng(2);
  tf.tidy(() => {
    const a = randn([5, 4], rng);
    const b = randn([4, 3], rng);
    const w = randn([5, 3], rng);
    const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul2d(x as tf.Tensor2D, y as tf.Tensor2D), w)))([a, b]);
    const ref = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D), w)))([a, b]);
    assertClose(ours[0].dataSync(), ref[0].dataSync(), 1e-6, 'dA');
    assertClose(ours[1].dataSync(), ref[1].dataSync(), 1e-6, 'dB');

    const ids = tf.tensor1d([2, 0, 2, 4], 'int32');
    const x = randn([5, 3], rng);
    const wg = randn([4, 3], rng);
    const dg = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gatherRows(t, ids), wg)))(x);
    const dgRef = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), wg)))(x);
    assertClose(dg.dataSync(), dgRef.dataSync(), 1e-6, 'gather gradient');

    const src = randn([4, 3], rng);
    const ws = randn([5, 3], rng);
    const ds = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(scatterAddRows(t, ids, 5), ws)))(src);
    const dsRef = tf.gather(ws, ids); // d/dsrc of sum(ws * scatter(src)) = ws at the ids
    assertClose(ds.dataSync(), dsRef.dataSync(), 1e-7, 'scatter-add gradient');
  });
});

test('fused cross-entropy: value and gradient equal logSoftmax + pick', () => {
  const rng = new Rng(8);
  tf.tidy(() => {
    const [N, V] = [6, 11];
    const logits = randn([N, V], rng, 3) as tf.Tensor2D;
    const y = Int32Array.from({ length: N }, () => rng.int(V));
    const onehot = tf.oneHot(tf.tensor1d(y, 'int32'), V);
    const ref = (z: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(z), onehot), 1))) as tf.Scalar;
    const a = tf.valueAndGrad((z: tf.Tensor) => crossEntropy(z as tf.Tensor2D, y))(logits);
    const b = tf.valueAndGrad(ref)(logits);
    assertClose(a.value.dataSync(), b.value.dataSync(), 1e-6, 'value');
    assertClose(a.grad.dataSync(), b.grad.dataSync(), 1e-6, 'gradient');
  });
});

test('per-head attention core: output and gradients equal the batched reference', () => {
  const rng = new Rng(15);
  const [B, H, T, hd] = [2, 3, 5, 4];
  const c = makeAttnConsts(T, hd, 10000);
  tf.tidy(() => {
    const q = randn([B, H, T, hd], rng);
    const k = randn([B, H, T, hd], rng);
    const v = randn([B, H, T, hd], rng);
    const w = randn([B, H, T, hd], rng);
    const ref = (a: tf.Tensor, b: tf.Tensor, cc: tf.Tensor) =>
      tf.sum(tf.mul(tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(a, b, false, true), 1 / Math.sqrt(hd)), c.mask)), cc), w));
    const ours = (a: tf.Tensor, b: tf.Tensor, cc: tf.Tensor) => tf.sum(tf.mul(attentionCore(a as tf.Tensor4D, b as tf.Tensor4D, cc as tf.Tensor4D, c.mask), w));
    assertClose(ours(q, k, v).dataSync(), ref(q, k, v).dataSync(), 1e-5, 'output');
    const go = tf.grads(ours)([q, k, v]);
    const gr = tf.grads(ref)([q, k, v]);
    ['q', 'k', 'v'].forEach((n, i) => assertClose(go[i].dataSync(), gr[i].dataSync(), 1e-5, `gradient of ${n}`));
  });
  tf.dispose([c.cos, c.sin, c.rot, c.rotT, c.mask]);
});

test('tied head + loss: value and gradients for h and the embedding equal the plain ops', () => {
  const rng = new Rng(14);
  tf.tidy(() => {
    const [N, d, V] = [7, 4, 19];
    const h = randn([N, d], rng) as tf.Tensor2D;
    const emb = randn([V, d], rng) as tf.Tensor2D;
    const y = Int32Array.from({ length: N }, () => rng.int(V));
    const onehot = tf.oneHot(tf.tensor1d(y, 'int32'), V);
    const ours = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.mul(tiedHeadLoss(a as tf.Tensor2D, b as tf.Tensor2D, y), 3))([h, emb]);
    const ref = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.mul(tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(tf.matMul(a, b, false, true)), onehot), 1))), 3),
    )([h, emb]);
    assertClose(ours[0].dataSync(), ref[0].dataSync(), 1e-5, 'd h');
    assertClose(ours[1].dataSync(), ref[1].dataSync(), 1e-5, 'd emb');
    const v = tiedHeadLoss(h, emb, y).dataSync()[0];
    const vr = tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(tf.matMul(h, emb, false, true)), onehot), 1))).dataSync()[0];
    assert.ok(Math.abs(v - vr) < 1e-5, `value ${v} vs ${vr}`);
  });
});

test('fused cross-entropy and the replacement kernels give the same results on the cpu backend', async () => {
  const rng = new Rng(10);
  const [N, V] = [5, 9];
  const z = Float32Array.from({ length: N * V }, () => rng.normal() * 2);
  const y = Int32Array.from({ length: N }, () => rng.int(V));
  const ids = Int32Array.from([3, 0, 3, 1]);
  const run = () =>
    tf.tidy(() => {
      const { value, grad } = tf.valueAndGrad((t: tf.Tensor) => crossEntropy(t as tf.Tensor2D, y))(tf.tensor2d(z, [N, V]));
      const seg = tf.unsortedSegmentSum(tf.tensor2d(z.slice(0, 4 * V), [4, V]), tf.tensor1d(ids, 'int32'), N);
      const gu = tf.tensor2d(z.slice(0, N * 8), [N, 8]);
      const sw = tf.valueAndGrad((t: tf.Tensor) => tf.sum(tf.mul(swigluActivation(t as tf.Tensor2D), tf.range(0, N * 4).reshape([N, 4]))))(gu);
      return [value.dataSync()[0], Array.from(grad.dataSync()), Array.from(seg.dataSync()), [sw.value.dataSync()[0], ...sw.grad.dataSync()]] as const;
    });
  const onWasm = run();
  await setBackend('cpu');
  try {
    const onCpu = run();
    assert.ok(Math.abs(onCpu[0] - onWasm[0]) < 1e-6, 'loss');
    assertClose(onCpu[1], onWasm[1], 1e-6, 'gradient');
    assertClose(onCpu[2], onWasm[2], 1e-6, 'segment sum');
    assertClose(onCpu[3], onWasm[3], 1e-6, 'swiglu value and gradient');
  } finally {
    await setBackend('wasm');
  }
});

test('an MoE layer with one expert and k = 1 computes a dense SwiGLU: same output and gradients', () => {
  const rng = new Rng(3);
  const [N, d, h] = [12, 8, 16];
  tf.tidy(() => {
    const x = randn([N, d], rng) as tf.Tensor2D;
    const router = randn([d, 1], rng);
    const w1 = randn([d, h], rng, 0.3);
    const w3 = randn([d, h], rng, 0.3);
    const w2 = randn([h, d], rng, 0.3);
    const dy = randn([N, d], rng);
    // The dense reference keeps w1 and w3 apart; the layer stores them as one weight [w1 | w3].
    const moe = (xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
      const params: MoeParams = { router, routed: [{ w13: tf.concat([a, b], 1), w2: c }], shared: [] };
      const out = moeForward(xx as tf.Tensor2D, params, {
        k: 1,
        gate: 'softmax',
        route: () => {
          throw new Error('one expert: the balancer must not be called');
        },
      });
      return tf.sum(tf.mul(out.y, dy));
    };
    const denseFfn = (xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
      const g = tf.matMul(xx, a);
      return tf.matMul(tf.mul(tf.mul(g, tf.sigmoid(g)), tf.matMul(xx, b)), c);
    };
    const dense = (xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(denseFfn(xx, a, b, c), dy));
    const yMoe = moeForward(x, { router, routed: [{ w13: tf.concat([w1, w3], 1), w2 }], shared: [] }, { k: 1, gate: 'softmax', route: () => assert.fail() }).y;
    assertClose(yMoe.dataSync(), denseFfn(x, w1, w3, w2).dataSync(), 1e-5, 'output');
    assertClose(swiglu(x, tf.concat([w1, w3], 1), w2).dataSync(), denseFfn(x, w1, w3, w2).dataSync(), 1e-5, 'swiglu');
    const gm = tf.grads(moe)([x, w1, w3, w2]);
    const gd = tf.grads(dense)([x, w1, w3, w2]);
    ['x', 'w1', 'w3', 'w2'].forEach((name, i) => assertClose(gm[i].dataSync(), gd[i].dataSync(), 1e-5, `gradient of ${name}`));
  });
});

test("the experts chosen inside the model equal the routing core's route() on the same scores", () => {
  for (const method of ['topk', 'bip', 'lossfree', 'quantile', 'auxloss']) {
    const cfg = { ...TINY, numExperts: 6, topK: 2 };
    const model = new MoeTransformer(cfg, initParams(cfg, 5));
    const B = 3;
    const rng = new Rng(9);
    const x = Int32Array.from({ length: B * cfg.seqLen }, () => rng.int(cfg.vocabSize));
    const y = Int32Array.from({ length: B * cfg.seqLen }, () => rng.int(cfg.vocabSize));
    const opts = {};
    // Two steps, so that stateful balancers route the second batch with a non-zero state.
    const inModel = Array.from({ length: cfg.layers }, () => createBalancer(method, opts));
    const reference = Array.from({ length: cfg.layers }, () => createBalancer(method, opts));
    for (let step = 0; step < 2; step++) {
      const stats = emptyStats();
      tf.tidy(() => {
        model.loss(x, y, B, cfg.seqLen, { routers: inModel.map((b) => (s, n, m, k) => b.route(s, n, m, k)), keepScores: true }, stats);
      });
      assert.equal(stats.routes.length, cfg.layers);
      stats.routes.forEach((r, i) => {
        const ref = reference[i].route(stats.scores[i], B * cfg.seqLen, cfg.numExperts, cfg.topK);
        assert.deepEqual(Array.from(r.experts), Array.from(ref.experts), `${method}: layer ${i} step ${step} experts`);
        assert.deepEqual(Array.from(r.loads), Array.from(ref.loads), `${method}: layer ${i} step ${step} loads`);
      });
    }
    model.dispose();
    for (const p of model.params.values()) p.dispose();
  }
});

test('the auxiliary loss sends gradient to the router, equal to the routing core value and gradient', () => {
  const rng = new Rng(4);
  const [B, T, d, m, h, k] = [2, 6, 8, 4, 8, 2];
  const N = B * T;
  for (const form of ['global', 'sequence'] as const) {
    tf.tidy(() => {
      const x = randn([N, d], rng) as tf.Tensor2D;
      const router = randn([d, m], rng);
      const experts = Array.from({ length: m }, () => ({ w13: randn([d, 2 * h], rng), w2: randn([h, d], rng) }));
      const core = createBalancer('auxloss', { alpha: 0.1, form, seqLen: form === 'sequence' ? T : undefined });
      let coreResult: AuxLossResult | null = null;
      let scores: Float32Array | null = null;
      const auxOf = (r: tf.Tensor) => {
        const out = moeForward(x, { router: r, routed: experts, shared: [] }, {
          k,
          gate: 'softmax',
          route: (s, n, mm, kk) => {
            scores = s.slice();
            coreResult = core.route(s, n, mm, kk) as AuxLossResult;
            return coreResult;
          },
          aux: { alpha: 0.1, form, B, T },
        });
        return out.aux!;
      };
      const { value, grad } = tf.valueAndGrad(auxOf)(router);
      const res = coreResult as AuxLossResult | null;
      assert.ok(res && scores, 'route was called');
      assert.ok(Math.abs(value.dataSync()[0] - res.auxLoss) < 1e-6, `${form}: aux value ${value.dataSync()[0]} vs core ${res.auxLoss}`);
      // Chain the core's d aux / d scores through the softmax: dLogits = s * (g - sum_j g s), dRouter = xᵀ dLogits.
      const s = scores as Float32Array;
      const dLogits = new Float32Array(N * m);
      for (let i = 0; i < N; i++) {
        let dot = 0;
        for (let j = 0; j < m; j++) dot += res.auxGrad[i * m + j] * s[i * m + j];
        for (let j = 0; j < m; j++) dLogits[i * m + j] = s[i * m + j] * (res.auxGrad[i * m + j] - dot);
      }
      const expected = tf.matMul(x, tf.tensor2d(dLogits, [N, m]), true, false).dataSync();
      const got = grad.dataSync();
      assert.ok(Math.max(...Array.from(got, Math.abs)) > 1e-6, `${form}: the router gets a non-zero gradient`);
      assertClose(got, expected, 1e-5, `${form}: router gradient`);
    });
  }
});

test('lossfree, bip and quantile add no loss term and no gradient beyond the language-model loss', () => {
  const cfg = { ...TINY };
  const B = 2;
  const rng = new Rng(6);
  const x = Int32Array.from({ length: B * cfg.seqLen }, () => rng.int(cfg.vocabSize));
  const y = Int32Array.from({ length: B * cfg.seqLen }, () => rng.int(cfg.vocabSize));
  const model = new MoeTransformer(cfg, initParams(cfg, 7));
  const routerGrad = (method: string, withAux: boolean): Float32Array => {
    const bal = Array.from({ length: cfg.layers }, () => createBalancer(method));
    const stats = emptyStats();
    const router = model.params.get('b0.router')!;
    const g = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => model.loss(x, y, B, cfg.seqLen, { routers: bal.map((b) => (s, n, m, k) => b.route(s, n, m, k)), aux: withAux ? { alpha: 0.1, form: 'global' } : undefined }, stats),
        [router],
      );
      if (!withAux) assert.equal(value.dataSync()[0], stats.lmLoss, `${method}: loss = lmLoss`);
      return grads[router.name].dataSync() as Float32Array;
    });
    if (!withAux) assert.equal(stats.auxLoss, 0, `${method}: no auxiliary loss`);
    return g;
  };
  // Plain top-k routes exactly like auxloss; its router gradient is the language-model part alone.
  const lmOnly = routerGrad('topk', false);
  const withAux = routerGrad('auxloss', true);
  let diff = 0;
  for (let i = 0; i < lmOnly.length; i++) diff = Math.max(diff, Math.abs(lmOnly[i] - withAux[i]));
  assert.ok(diff > 1e-7, `auxloss changes the router gradient (max difference ${diff})`);
  for (const method of ['lossfree', 'bip', 'quantile']) {
    const g = routerGrad(method, false);
    assert.ok(g.some((v) => v !== 0), `${method}: the router still learns through the gate weights`);
  }
  model.dispose();
  for (const p of model.params.values()) p.dispose();
});

test('sigmoid gate and shared experts: finite loss, and every kind of parameter receives gradient', () => {
  const cfg: ModelConfig = { ...TINY, gate: 'sigmoid', numSharedExperts: 1 };
  const model = new MoeTransformer(cfg, initParams(cfg, 12));
  const B = 2;
  const rng = new Rng(13);
  const x = Int32Array.from({ length: B * cfg.seqLen }, () => rng.int(cfg.vocabSize));
  const y = Int32Array.from({ length: B * cfg.seqLen }, () => rng.int(cfg.vocabSize));
  const bal = Array.from({ length: cfg.layers }, () => createBalancer('bip'));
  const stats = emptyStats();
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() =>
      model.loss(x, y, B, cfg.seqLen, { routers: bal.map((b) => (s, n, m, k) => b.route(s, n, m, k)) }, stats),
    );
    assert.ok(Number.isFinite(value.dataSync()[0]));
    for (const name of ['tokEmb', 'b0.wqkv', 'b0.router', 'b0.s0.w13', 'b0.s0.w2', 'b1.ffnNorm', 'finalNorm']) {
      const g = grads[model.params.get(name)!.name];
      assert.ok(g && g.dataSync().some((v) => v !== 0), `${name} has a gradient`);
    }
  });
  model.dispose();
  for (const p of model.params.values()) p.dispose();
});

test("BalancedMoe: numExperts and numSharedExperts are counts; the old option names are refused, naming the new ones", () => {
  const moe = new BalancedMoe({ dim: 8, numExperts: 4, numSharedExperts: 1, expertHidden: 6, k: 2, method: 'topk' });
  assert.equal(moe.params.routed.length, 4);
  assert.equal(moe.params.shared.length, 1);
  assert.deepEqual(moe.params.router.shape, [8, 4]);
  moe.dispose();
  const old = { dim: 8, experts: 4, expertHidden: 6, k: 2 } as unknown as BalancedMoeOptions;
  assert.throws(() => new BalancedMoe(old), /BalancedMoe: option 'experts' is now 'numExperts'/);
  const oldShared = { dim: 8, numExperts: 4, sharedExperts: 1, expertHidden: 6, k: 2 } as unknown as BalancedMoeOptions;
  assert.throws(() => new BalancedMoe(oldShared), /option 'sharedExperts' is now 'numSharedExperts'/);
});
