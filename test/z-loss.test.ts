/** Router z-loss (src/routing/zLoss.ts): value by hand and gradient against a central finite difference. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routerZLoss } from '../src/routing/zLoss.ts';
import { Rng } from '../src/util/rng.ts';

test('z-loss by hand: rows [0, 0] and [ln 3, 0]', () => {
  // lse of [0, 0] = ln 2; lse of [ln 3, 0] = ln(3 + 1) = 2 ln 2.
  // z = coef · ((ln 2)² + (2 ln 2)²) / 2 = coef · 2.5 (ln 2)².
  // Gradient row 0: coef · (2/2) · ln 2 · [1/2, 1/2]; row 1: coef · 2 ln 2 · [3/4, 1/4].
  const coef = 0.01;
  const ln2 = Math.log(2);
  const { zLoss, zGrad } = routerZLoss(Float32Array.from([0, 0, Math.log(3), 0]), 2, 2, coef);
  assert.ok(Math.abs(zLoss - coef * 2.5 * ln2 * ln2) < 1e-9, `z = ${zLoss}`);
  const expected = [coef * ln2 * 0.5, coef * ln2 * 0.5, coef * 2 * ln2 * 0.75, coef * 2 * ln2 * 0.25];
  expected.forEach((g, x) => assert.ok(Math.abs(zGrad[x] - g) < 1e-8, `grad[${x}] = ${zGrad[x]}, expected ${g}`));
});

test('z-loss gradient matches a central finite difference', () => {
  const [n, m, coef] = [6, 5, 0.3];
  const rng = new Rng(4);
  const x = Float32Array.from({ length: n * m }, () => 3 * rng.normal());
  const { zGrad } = routerZLoss(x, n, m, coef);
  const h = 1e-2;
  for (let e = 0; e < n * m; e++) {
    const up = x.slice();
    const down = x.slice();
    up[e] += h;
    down[e] -= h;
    // (h is exactly representable next to these float32 values only approximately: use the stored step.)
    const fd = (routerZLoss(up, n, m, coef).zLoss - routerZLoss(down, n, m, coef).zLoss) / (up[e] - down[e]);
    assert.ok(Math.abs(fd - zGrad[e]) < 1e-4 + 1e-3 * Math.abs(fd), `element ${e}: finite difference ${fd}, gradient ${zGrad[e]}`);
  }
});
