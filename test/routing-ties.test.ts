/**
 * The tie rule (select.ts): among equal keys token i prefers the expert first in the rotated order
 * i mod m, i mod m + 1, ..., so equal scores spread evenly, deterministically. With "lowest id first"
 * all-equal scores sent every token to experts 0..k-1 (MaxVio m/k - 1 = 3 for m = 8, k = 2).
 * Run on both paths: `npm test` (wasm kernels) and `npm run test:reference` (TypeScript).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../src/routing/factory.ts';
import { maxVio } from '../src/routing/metrics.ts';

const METHODS: [string, Record<string, unknown>][] = [
  ['topk', {}],
  ['bip', {}],
  ['bip', { order: 'route-then-update' }],
  ['quantile', {}],
  ['lossfree', {}],
];

for (const [n, m, k] of [
  [64, 8, 2],
  [1000, 8, 2],
  [96, 16, 4],
  [203, 7, 3],
]) {
  test(`all-equal and all-zero scores spread evenly over the experts (n=${n}, m=${m}, k=${k})`, () => {
    for (const fill of [1 / m, 0]) {
      const s = new Float32Array(n * m).fill(fill);
      for (const [method, options] of METHODS) {
        const r = createBalancer(method, options).route(s, n, m, k);
        // Token i takes experts i, i+1, ..., i+k-1 (mod m): every expert k*n/m tokens, within 1.
        for (let i = 0; i < n; i++) {
          const got = Array.from(r.experts.subarray(i * k, i * k + k)).sort((a, b) => a - b);
          const want = Array.from({ length: k }, (_, t) => (i + t) % m).sort((a, b) => a - b);
          assert.deepEqual(got, want, `${method} ${JSON.stringify(options)} fill ${fill}: token ${i}`);
        }
        const lo = Math.floor((k * n) / m);
        for (const load of r.loads) assert.ok(load === lo || load === lo + 1, `${method} fill ${fill}: loads ${Array.from(r.loads)}`);
        if ((k * n) % m === 0) assert.equal(maxVio(r.loads, n, k), 0, `${method} fill ${fill}: MaxVio`);
        // Deterministic: a second balancer gives the same routing.
        assert.deepEqual(createBalancer(method, options).route(s, n, m, k).experts, r.experts);
      }
    }
  });
}
