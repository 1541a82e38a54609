/**
 * The WebAssembly SIMD model kernels (src/model/wasm/c/model.c) against their TypeScript references
 * (loss.ts softmaxCrossEntropyInto, swiglu.ts swigluInto / swigluGradInto), run through the registered
 * tfjs kernels on the wasm backend with the SIMD path on and off; and the committed module against a
 * rebuild of its C source when clang is installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../src/model/backend.ts';
import { fusedAttentionAvailable } from '../src/model/attention.ts';
import { RMS_NORM_KERNEL, rmsNorm } from '../src/model/rmsNorm.ts';
import { attention, disposeAttnConsts, makeAttnConsts, type AttnConsts } from '../src/model/layers.ts';
import { installKernels, type WasmLike } from '../src/model/kernels.ts';
import { CROSS_ENTROPY_KERNEL, softmaxCrossEntropyInto } from '../src/model/loss.ts';
import { SWIGLU_GRAD_KERNEL, SWIGLU_KERNEL, swigluGradInto, swigluInto } from '../src/model/swiglu.ts';
import { modelKernelsOn } from '../src/model/wasm/instance.ts';
import { Rng } from '../src/util/rng.ts';

await setBackend('wasm');

const ROOT = join(import.meta.dirname, '..');

/** Runs f with the SIMD kernels registered (simd) or the TypeScript loops, restoring the default after. */
function withKernels<T>(simd: boolean, f: () => T): T {
  installKernels('wasm', simd);
  try {
    return f();
  } finally {
    installKernels('wasm');
  }
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1e-6 + Math.abs(b[i])));
  return worst;
}

/** max |a - b| over max |b|: differences measured against the array's scale (gradients cancel to near 0). */
function scaledDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

function randomArray(n: number, rng: Rng, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

test('the SIMD model kernels load on the wasm backend (so the comparisons below test them)', () => {
  const memory = (tf.backend() as unknown as WasmLike).wasm.asm.memory;
  assert.ok(modelKernelsOn(memory) !== null, 'model kernels failed to load');
});

test('SIMD cross-entropy: loss, gradient and transposed gradient equal the TypeScript loop', () => {
  const rng = new Rng(21);
  // Shapes with and without SIMD tails (N or V not a multiple of 4); logits spread to underflow e^x.
  for (const [N, V, scale] of [[32, 64, 3], [7, 13, 5], [20, 4096, 40], [5, 3, 1]] as const) {
    const z = randomArray(N * V, rng, scale);
    const y = Int32Array.from({ length: N }, () => rng.int(V));
    const g = new Float32Array(N * V);
    const total = softmaxCrossEntropyInto(z, y, N, V, g);
    const out = withKernels(true, () =>
      tf.tidy(() => {
        const r = tf.engine().runKernel(CROSS_ENTROPY_KERNEL, { logits: tf.tensor2d(z, [N, V]), targets: tf.tensor1d(y, 'int32') }, { transposed: true }) as tf.Tensor[];
        return r.map((t) => t.dataSync().slice());
      }),
    );
    const what = `N=${N} V=${V}`;
    assert.ok(Math.abs(out[0][0] - total / N) <= 1e-6 * (1 + total / N), `${what}: loss ${out[0][0]} vs ${total / N}`);
    let worst = 0;
    for (let a = 0; a < N * V; a++) worst = Math.max(worst, Math.abs(out[1][a] - g[a]) / (1e-12 + Math.abs(g[a])));
    assert.ok(worst <= 5e-7, `${what}: gradient max relative difference ${worst}`);
    assert.deepEqual(Array.from(out[2]), Array.from(transposeOf(out[1] as Float32Array, N, V)), `${what}: Gᵀ is not G transposed`);
  }
});

function transposeOf(g: Float32Array, N: number, V: number): Float32Array {
  const gt = new Float32Array(N * V);
  for (let i = 0; i < N; i++) for (let j = 0; j < V; j++) gt[j * N + i] = g[i * V + j];
  return gt;
}

test('SIMD cross-entropy names a non-finite row and an out-of-range target like the TypeScript loop', () => {
  const [N, V] = [4, 8];
  const z = Float32Array.from({ length: N * V }, (_, a) => (a % 5) - 2);
  const run = (zz: Float32Array, y: Int32Array) =>
    withKernels(true, () =>
      tf.tidy(() => {
        tf.engine().runKernel(CROSS_ENTROPY_KERNEL, { logits: tf.tensor2d(zz, [N, V]), targets: tf.tensor1d(y, 'int32') }, {});
      }),
    );
  const bad = z.slice();
  bad[2 * V + 5] = NaN;
  assert.throws(() => run(bad, Int32Array.of(0, 1, 2, 3)), /logits of row 2 are not finite/);
  assert.throws(() => run(z, Int32Array.of(0, 1, 8, 3)), /target 8 at row 2 is not in \[0, 8\)/);
  assert.throws(() => run(z, Int32Array.of(0, -1, 2, 3)), /target -1 at row 1/);
});

test('SIMD SwiGLU forward and gradient equal the TypeScript loops', () => {
  const rng = new Rng(22);
  for (const [n, h] of [[9, 8], [5, 7], [64, 256]] as const) {
    const gu = randomArray(n * 2 * h, rng, 6);
    const da = randomArray(n * h, rng, 1);
    const a = new Float32Array(n * h);
    swigluInto(gu, n, h, a);
    const dgu = new Float32Array(n * 2 * h);
    swigluGradInto(gu, da, n, h, dgu);
    const [outA, outD] = withKernels(true, () =>
      tf.tidy(() => {
        const x = tf.tensor2d(gu, [n, 2 * h]);
        const fa = tf.engine().runKernel(SWIGLU_KERNEL, { gu: x }, {}) as tf.Tensor;
        const fd = tf.engine().runKernel(SWIGLU_GRAD_KERNEL, { gu: x, da: tf.tensor2d(da, [n, h]) }, {}) as tf.Tensor;
        return [fa.dataSync().slice(), fd.dataSync().slice()];
      }),
    );
    // float32 against the double-precision loops: each output within 1e-6 of the size of its terms
    // (d g cancels near g = -1.28, where 1 + g (1 - s) crosses 0: compare it with |d u| (1 + |g|)).
    let worst = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < h; j++) {
        const [g, u, d] = [gu[i * 2 * h + j], gu[i * 2 * h + h + j], da[i * h + j]];
        const r = i * 2 * h + j;
        worst = Math.max(worst, Math.abs(outA[i * h + j] - a[i * h + j]) / (1e-30 + Math.abs(g * u)));
        worst = Math.max(worst, Math.abs(outD[r] - dgu[r]) / (1e-30 + Math.abs(d * u) * (1 + Math.abs(g))));
        worst = Math.max(worst, Math.abs(outD[r + h] - dgu[r + h]) / (1e-30 + Math.abs(d * g)));
      }
    }
    assert.ok(worst <= 1e-6, `n=${n} h=${h}: activation or gradient differs by ${worst} of its terms' size`);
  }
});

test('the TypeScript path is what MOE_BALANCE_MODEL_KERNELS=typescript selects, and it gives the same results', () => {
  const rng = new Rng(23);
  const [n, h] = [6, 12];
  const gu = randomArray(n * 2 * h, rng, 3);
  const run = (simd: boolean) => withKernels(simd, () => tf.tidy(() => (tf.engine().runKernel(SWIGLU_KERNEL, { gu: tf.tensor2d(gu, [n, 2 * h]) }, {}) as tf.Tensor).dataSync().slice()));
  const ref = new Float32Array(n * h);
  swigluInto(gu, n, h, ref);
  assert.deepEqual(Array.from(run(false)), Array.from(ref));
  assert.ok(maxRelDiff(run(true), ref) <= 1e-5);
});

function hasClang(): boolean {
  return spawnSync('clang', ['--version'], { encoding: 'utf8' }).status === 0;
}

test('the committed model kernels equal a rebuild of src/model/wasm/c (when clang is installed)', (t) => {
  if (!hasClang()) {
    t.skip('clang is not installed: the rebuild comparison was skipped (apt-get install -y clang lld)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'moe-model-wasm-build-'));
  try {
    const out = join(dir, 'modelWasm.ts');
    const r = spawnSync('bash', [join(ROOT, 'scripts/build-model-wasm.sh'), out], { encoding: 'utf8' });
    assert.equal(r.status, 0, `scripts/build-model-wasm.sh failed:\n${r.stdout}\n${r.stderr}`);
    assert.ok(readFileSync(out, 'utf8') === readFileSync(join(ROOT, 'src/model/wasm/modelWasm.ts'), 'utf8'), 'src/model/wasm/modelWasm.ts differs from a rebuild of its C source: run `npm run build:wasm-model` and commit the result');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fused attention (rotary q, k from the q|k|v projection): output and gradients equal the batched tfjs reference', () => {
  const rng = new Rng(24);
  // (B, T, H, hd): T not a multiple of 4 (dot and softmax tails), hd = 8 (no 16-column block), 32 (moe16);
  // hd = 4 cannot take the kernels: the per-head tfjs path runs, checked the same way.
  for (const [B, T, H, hd] of [[2, 5, 3, 8], [1, 9, 2, 16], [2, 16, 2, 32], [2, 6, 2, 4]] as const) {
    const N = B * T;
    const d = H * hd;
    const fast = makeAttnConsts(T, hd, 10000);
    const ref = { ...fast, perHead: false };
    const [x, wqkv, wo, w] = [[N, d], [d, 3 * d], [d, d], [N, d]].map((s) => tf.tensor2d(randomArray(s[0] * s[1], rng, 0.8), s as [number, number]));
    const loss = (c: AttnConsts) => (a: tf.Tensor, b: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(attention(a as tf.Tensor2D, { wqkv: b, wo: e }, B, T, H, c), w));
    const what = `B=${B} T=${T} H=${H} hd=${hd}`;
    assert.equal(fusedAttentionAvailable(hd), hd % 8 === 0, `${what}: fused kernels taken exactly when hd % 8 == 0`);
    const run = (c: AttnConsts) =>
      tf.tidy(() => [attention(x, { wqkv, wo }, B, T, H, c), ...tf.grads(loss(c))([x, wqkv, wo])].map((t) => t.dataSync().slice()));
    const want = run(ref);
    const got = run(fast);
    // With the SIMD kernels off, the same layer takes the per-head tfjs path.
    const off = withKernels(false, () => {
      assert.equal(fusedAttentionAvailable(hd), false, 'the fused kernels are unregistered');
      return run(fast);
    });
    // float32 sums in another order: ~1e-6 of the scale (the per-head path differs from batched by up to 7e-7).
    ['output', 'd x', 'd wqkv', 'd wo'].forEach((n, i) => {
      assert.ok(scaledDiff(got[i], want[i]) <= 5e-6, `${what}: ${n} differs by ${scaledDiff(got[i], want[i])} of its scale`);
      assert.ok(scaledDiff(off[i], want[i]) <= 5e-6, `${what}: per-head path ${n} differs by ${scaledDiff(off[i], want[i])}`);
    });
    tf.dispose([x, wqkv, wo, w]);
    disposeAttnConsts(fast);
  }
});

test('SIMD RMSNorm: output and gradients for x and w equal the tfjs ops', () => {
  const rng = new Rng(25);
  for (const [N, d] of [[7, 4], [33, 128], [5, 12]] as const) {
    const x = tf.tensor2d(randomArray(N * d, rng, 2), [N, d]);
    const w = tf.tensor1d(randomArray(d, rng, 1));
    const dy = tf.tensor2d(randomArray(N * d, rng, 1), [N, d]);
    const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(rmsNorm(a as tf.Tensor2D, b, 1e-5), dy));
    const run = () => tf.tidy(() => [rmsNorm(x, w, 1e-5), ...tf.grads(loss)([x, w])].map((t) => t.dataSync().slice()));
    assert.ok(tf.getKernel(RMS_NORM_KERNEL, 'wasm') !== undefined, 'the SIMD RMSNorm kernel is registered');
    const got = run();
    const want = withKernels(false, run);
    ['output', 'd x', 'd w'].forEach((n, i) => assert.ok(scaledDiff(got[i], want[i]) <= 2e-6, `N=${N} d=${d}: ${n} differs by ${scaledDiff(got[i], want[i])} of its scale`));
    tf.dispose([x, w, dy]);
  }
});

test('SIMD segment sum (the MoE combine): equal to the TypeScript loop, repeated ids summed, out-of-range ids dropped', () => {
  const rng = new Rng(26);
  for (const [rows, inner, segments] of [[9, 4, 5], [40, 128, 17], [6, 3, 4]] as const) {
    const x = randomArray(rows * inner, rng, 1);
    const ids = Int32Array.from({ length: rows }, (_, r) => (r === 2 ? segments : r === 4 ? -1 : rng.int(segments)));
    ids[1] = ids[0]; // a repeated id
    const want = new Float32Array(segments * inner);
    for (let r = 0; r < rows; r++) if (ids[r] >= 0 && ids[r] < segments) for (let c = 0; c < inner; c++) want[ids[r] * inner + c] += x[r * inner + c];
    const run = () => tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d(x, [rows, inner]), tf.tensor1d(ids, 'int32'), segments).dataSync().slice());
    const got = withKernels(true, run);
    assert.ok(scaledDiff(got, want) <= 1e-7, `rows=${rows} inner=${inner}: SIMD differs by ${scaledDiff(got, want)}`);
    assert.ok(scaledDiff(withKernels(false, run), want) <= 1e-7, `rows=${rows} inner=${inner}: TypeScript loop differs`);
  }
});

test('SIMD 2-D transpose equals wasm own kernel (with and without 4 x 4 blocks), 3-D left to it', () => {
  const rng = new Rng(27);
  for (const [r, c] of [[8, 12], [7, 5], [36, 4], [128, 512]] as const) {
    const x = randomArray(r * c, rng, 1);
    const run = () => tf.tidy(() => tf.transpose(tf.tensor2d(x, [r, c])).dataSync().slice());
    const want = new Float32Array(r * c);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) want[j * r + i] = x[i * c + j];
    assert.deepEqual(Array.from(withKernels(true, run)), Array.from(want), `${r} x ${c}: SIMD transpose`);
    assert.deepEqual(Array.from(withKernels(false, run)), Array.from(want), `${r} x ${c}: wasm's own transpose`);
  }
  const x3 = randomArray(24, rng, 1);
  const t3 = tf.tidy(() => tf.transpose(tf.tensor3d(x3, [2, 3, 4]), [2, 0, 1]).dataSync().slice());
  assert.ok(t3[1] === x3[4] && t3[6] === x3[1] && t3[23] === x3[23], 'a 3-D transpose still works'); // out[k, i, j] = x[i, j, k]
});
