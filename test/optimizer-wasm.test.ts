/**
 * The data-parallel optimizer's SIMD kernels (src/train/wasm/c/optimizer.c) against their TypeScript
 * references, bit for bit: adamw against optimizer.ts adamWUpdate, reduce2 against shardedOptimizer.ts
 * reduceRange (values and the squared norm), on the shared WebAssembly memory allocGroupMemory makes;
 * and the committed module against a rebuild of its C source.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adamWScalars, adamWUpdate, type AdamWCoefficients } from '../src/train/optimizer.ts';
import { reduceRange } from '../src/train/shardedOptimizer.ts';
import { optimizerKernelsOn, sharedWasmMemory } from '../src/train/wasm/instance.ts';
import { allocGroupMemory } from '../src/train/workerGroup.ts';
import { Rng } from '../src/util/rng.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// Odd, so that the scalar tail after the two-lane loop runs too.
const N = 100_003;

function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

test('the optimizer kernels load on the group memory (so the comparisons below test them)', () => {
  const mem = allocGroupMemory(2, 10, 1);
  assert.ok(mem.heap, 'allocGroupMemory made a shared WebAssembly memory');
  assert.ok(optimizerKernelsOn(mem.heap), 'the kernels instantiate on it');
  assert.equal(mem.master, mem.grads, 'slots and master arrays share its buffer');
});

for (const wd of [0.1, 0]) {
  test(`SIMD AdamW equals adamWUpdate bit for bit (weight decay ${wd}, ${N} elements, 3 steps)`, () => {
    const heap = sharedWasmMemory(8 * N * 4)!;
    const k = optimizerKernelsOn(heap)!;
    const at = (a: number) => new Float32Array(heap.buffer, a * N * 4, N);
    const [w, g, m, v] = [0, 1, 2, 3].map(at);
    const rng = new Rng(3);
    for (let i = 0; i < N; i++) w[i] = rng.normal();
    const ref = { w: w.slice(), m: m.slice(), v: v.slice() };
    for (let t = 1; t <= 3; t++) {
      for (let i = 0; i < N; i++) g[i] = rng.normal() * (i % 7 === 0 ? 1e-6 : 0.1);
      const c: AdamWCoefficients = { lr: 0.003 * t, beta1: 0.9, beta2: 0.95, inv1: 1 / (1 - 0.9 ** t), inv2: 1 / (1 - 0.95 ** t), eps: 1e-8, scale: t === 2 ? 0.37 : 1 };
      adamWUpdate(ref.w, g, ref.m, ref.v, c, wd);
      const x = adamWScalars(c, wd);
      k.adamw(w.byteOffset, g.byteOffset, m.byteOffset, v.byteOffset, N, x.b1, x.c1, x.b2, x.c2, x.scale, x.inv2, x.eps, x.keep, x.a);
      sameBits(m, ref.m, `m (step ${t})`);
      sameBits(v, ref.v, `v (step ${t})`);
      sameBits(w, ref.w, `w (step ${t})`);
    }
  });
}

test('SIMD gradient sum equals reduceRange bit for bit (values and squared norm; into a third array and in place)', () => {
  const heap = sharedWasmMemory(4 * N * 4)!;
  const k = optimizerKernelsOn(heap)!;
  const at = (a: number) => new Float32Array(heap.buffer, a * N * 4, N);
  const [a, b, out] = [0, 1, 2].map(at);
  const rng = new Rng(5);
  for (let i = 0; i < N; i++) {
    a[i] = rng.normal();
    b[i] = rng.normal() * 3;
  }
  const [sa, sb] = [7 / 13, 6 / 13];
  const want = new Float32Array(N);
  const wantSq = reduceRange([a, b], [sa, sb], want);
  assert.equal(k.reduce2(a.byteOffset, b.byteOffset, sa, sb, out.byteOffset, N), wantSq);
  sameBits(out, want, 'sum');
  assert.equal(k.reduce2(a.byteOffset, b.byteOffset, sa, sb, a.byteOffset, N), wantSq, 'in place');
  sameBits(a, want, 'sum in place');
});

test('MOE_BALANCE_OPTIMIZER_KERNELS=typescript gives plain shared buffers (the TypeScript loops)', () => {
  process.env.MOE_BALANCE_OPTIMIZER_KERNELS = 'typescript';
  try {
    const mem = allocGroupMemory(2, 10, 1);
    assert.equal(mem.heap, null);
    assert.notEqual(mem.master, mem.grads);
  } finally {
    delete process.env.MOE_BALANCE_OPTIMIZER_KERNELS;
  }
});

test('the committed optimizer kernels equal a rebuild of src/train/wasm/c (when clang is installed)', (t) => {
  if (spawnSync('clang', ['--version'], { encoding: 'utf8' }).status !== 0) {
    t.skip('clang is not installed: the rebuild comparison was skipped (apt-get install -y clang lld)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'moe-optimizer-wasm-build-'));
  try {
    const out = join(dir, 'optimizerWasm.ts');
    const r = spawnSync('bash', [join(ROOT, 'scripts/build-optimizer-wasm.sh'), out], { encoding: 'utf8' });
    assert.equal(r.status, 0, `scripts/build-optimizer-wasm.sh failed:\n${r.stdout}\n${r.stderr}`);
    assert.ok(readFileSync(out, 'utf8') === readFileSync(join(ROOT, 'src/train/wasm/optimizerWasm.ts'), 'utf8'), 'src/train/wasm/optimizerWasm.ts differs from a rebuild of its C source: run `npm run build:wasm-optimizer` and commit the result');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
