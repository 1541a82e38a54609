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
import { ATTENTION_KERNEL, causalAttentionRows } from '../src/model/attention.ts';
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

test('fused causal attention on rows: output and gradients equal the batched tfjs reference', () => {
  const rng = new Rng(24);
  // (B, T, H, hd): T not a multiple of 4 (dot and softmax tails), hd = 4 (no 16-column block), 32 (moe16).
  for (const [B, T, H, hd] of [[2, 5, 3, 4], [1, 9, 2, 8], [2, 16, 2, 32]] as const) {
    const N = B * T;
    const d = H * hd;
    const mask = tf.tensor2d(Float32Array.from({ length: T * T }, (_, a) => (a % T > Math.floor(a / T) ? -1e9 : 0)), [T, T]);
    const [q, k, v, w] = [0, 1, 2, 3].map(() => tf.tensor2d(randomArray(N * d, rng, 1.5), [N, d]));
    const heads = (x: tf.Tensor) => tf.transpose(tf.reshape(x, [B, T, H, hd]), [0, 2, 1, 3]);
    const ref = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(tf.mul(tf.reshape(tf.transpose(tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(heads(a), heads(b), false, true), 1 / Math.sqrt(hd)), mask)), heads(c)), [0, 2, 1, 3]), [N, d]), w));
    const ours = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(causalAttentionRows(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, B, T, H, mask), w));
    const what = `B=${B} T=${T} H=${H} hd=${hd}`;
    assert.ok(tf.getKernel(ATTENTION_KERNEL, 'wasm') !== undefined, 'the fused attention kernel is registered');
    const rows = tf.tidy(() => causalAttentionRows(q, k, v, B, T, H, mask).dataSync().slice());
    const refRows = tf.tidy(() => tf.reshape(tf.transpose(tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(heads(q), heads(k), false, true), 1 / Math.sqrt(hd)), mask)), heads(v)), [0, 2, 1, 3]), [N, d]).dataSync().slice());
    assert.ok(scaledDiff(rows, refRows) <= 1e-6, `${what}: output differs by ${scaledDiff(rows, refRows)}`);
    const go = tf.tidy(() => tf.grads(ours)([q, k, v]).map((t) => t.dataSync().slice()));
    const gr = tf.tidy(() => tf.grads(ref)([q, k, v]).map((t) => t.dataSync().slice()));
    // With the SIMD kernels off, the same function takes the per-head tfjs path: same results.
    const off = withKernels(false, () => {
      assert.equal(tf.getKernel(ATTENTION_KERNEL, 'wasm'), undefined, 'the fused kernel is unregistered');
      return tf.tidy(() => tf.grads(ours)([q, k, v]).map((t) => t.dataSync().slice()));
    });
    ['q', 'k', 'v'].forEach((n, i) => assert.ok(scaledDiff(go[i], gr[i]) <= 1e-6, `${what}: gradient of ${n} differs by ${scaledDiff(go[i], gr[i])} of its scale`));
    ['q', 'k', 'v'].forEach((n, i) => assert.ok(scaledDiff(off[i], gr[i]) <= 1e-6, `${what}: tfjs-path gradient of ${n} differs`));
    tf.dispose([q, k, v, w, mask]);
  }
});
