/**
 * Sinkhorn balancing (src/routing/sinkhorn.ts): a 2 x 2 case worked by hand, row and column sums within
 * the tolerance, the τ → 0 limit against the exact LP, and finiteness on adversarial inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SinkhornBalancer, sinkhorn, sinkhornPlan } from '../src/routing/sinkhorn.ts';
import { topk } from '../src/routing/topk.ts';
import { loadSolver, solveOptimal } from '../src/routing/optimal.ts';
import { maxVio } from '../src/routing/metrics.ts';
import { adversarial, softmaxScores } from './helpers/scores.ts';

test('Sinkhorn by hand: 2 tokens x 2 experts, k = 1', () => {
  // s = [[3/4, 1/4], [1/2, 1/2]], τ = 1: K = s / row max = [[1, 1/3], [1, 1]]. Row and column sums 1
  // (c̄ = k·n/m = 1) make P = [[x, 1−x], [1−x, x]], and diagonal scaling keeps the cross ratio:
  // P00·P11 / (P01·P10) = K00·K11 / (K01·K10) = 3, so x/(1−x) = √3, x = √3/(1+√3) = 0.63397...
  // Top-1 of P: token 0 -> 0, token 1 -> 1 (plain top-1 does too here, but only by the tie rule: token
  // 1's scores tie and go to expert 1 mod 2 = 1, select.ts). Weights are the original scores (k = 1): 3/4 and 1/2.
  const s = Float32Array.from([0.75, 0.25, 0.5, 0.5]);
  const r = sinkhorn(s, 2, 2, 1, 1000, 1, 1e-12);
  const x = Math.sqrt(3) / (1 + Math.sqrt(3));
  const P = Array.from(r.plan.P);
  [x, 1 - x, 1 - x, x].forEach((v, i) => assert.ok(Math.abs(P[i] - v) < 1e-9, `P[${i}] = ${P[i]}, expected ${v}`));
  assert.deepEqual(Array.from(r.experts), [0, 1]);
  assert.deepEqual(Array.from(r.weights), [0.75, 0.5]);
  assert.deepEqual(Array.from(topk(s, 2, 2, 1).loads), [1, 1]);
});

test('Sinkhorn by hand, one iteration: a row pass, a column update, then the final row pass', () => {
  // Same s, K = [[1, 1/3], [1, 1]], b = [1, 1]. Row pass: a = [1/(4/3), 1/2] = [3/4, 1/2].
  // Column sums of diag(a) K: [3/4 + 1/2, 1/4 + 1/2] = [5/4, 3/4] -> b = [4/5, 4/3], rescaled to max 1: [3/5, 1].
  // Final row pass: row 0: K b = [3/5, 1/3] (sum 14/15) -> P = [9/14, 5/14]; row 1: [3/5, 1] -> [3/8, 5/8].
  // Top-1 of P: token 0 -> 0, token 1 -> 1; column sums 9/14 + 3/8 = 57/56 and 5/14 + 5/8 = 55/56.
  const s = Float32Array.from([0.75, 0.25, 0.5, 0.5]);
  const r = sinkhorn(s, 2, 2, 1, 1, 1, 0);
  const P = Array.from(r.plan.P);
  [9 / 14, 5 / 14, 3 / 8, 5 / 8].forEach((v, i) => assert.ok(Math.abs(P[i] - v) < 1e-12, `P[${i}] = ${P[i]}, expected ${v}`));
  assert.equal(r.plan.iters, 1);
  assert.ok(Math.abs(r.plan.colError - 1 / 56) < 1e-12);
  assert.deepEqual(Array.from(r.experts), [0, 1]);
});

test('Sinkhorn: rows sum to k and columns to k·n/m within tol; more iterations never needed than reported', () => {
  for (const [n, m, k, tau] of [
    [256, 16, 2, 1],
    [100, 8, 3, 0.5],
    [37, 5, 1, 2],
  ]) {
    const s = softmaxScores(n, m, n + m, 3);
    for (const tol of [1e-3, 1e-7]) {
      const plan = sinkhornPlan(s, n, m, k, 100000, tau, tol);
      assert.ok(plan.iters < 100000, `n=${n} m=${m}: did not converge`);
      const cbar = (k * n) / m;
      for (let i = 0; i < n; i++) {
        let row = 0;
        for (let j = 0; j < m; j++) row += plan.P[i * m + j];
        assert.ok(Math.abs(row - k) < 1e-9 * k, `n=${n} m=${m} row ${i} sums to ${row}, expected ${k}`);
      }
      for (let j = 0; j < m; j++) {
        let col = 0;
        for (let i = 0; i < n; i++) col += plan.P[i * m + j];
        assert.ok(Math.abs(col - cbar) <= tol * cbar * (1 + 1e-9), `n=${n} m=${m} tol=${tol}: column ${j} sums to ${col}, expected ${cbar}`);
      }
    }
  }
});

test('Sinkhorn as τ → 0 reaches the LP optimum over the log-scores (k = 1, m divides n)', async () => {
  // Sinkhorn maximises ⟨ℓ, P⟩ + τ·H(P) over the transport polytope (ℓ = log s, rows k, columns k·n/m), so
  // its ⟨ℓ, P⟩ is within τ·(n·k)·(log n + log m) of the LP optimum (the entropic-OT bound) and the gap
  // shrinks with τ. For k = 1 the transport polytope is the LP of optimal.ts, solved on ℓ.
  const solver = await loadSolver();
  const [n, m] = [16, 4];
  for (const seed of [1, 2, 3, 4]) {
    const s = softmaxScores(n, m, seed, 2);
    const logS = s.map(Math.log);
    const lp = solveOptimal(solver, logS, n, m, 1);
    const gaps: number[] = [];
    for (const tau of [0.5, 0.1, 0.02]) {
      const r = sinkhorn(s, n, m, 1, 20000, tau, 1e-8);
      let value = 0;
      for (let x = 0; x < n * m; x++) value += Math.log(s[x]) * r.plan.P[x];
      const gap = lp.objective - value;
      // (Columns are exact only to the tolerance reached, so ⟨ℓ, P⟩ may pass the optimum by a hair.)
      assert.ok(gap >= -1e-3, `seed ${seed} τ=${tau}: above the LP optimum (${value} > ${lp.objective})`);
      assert.ok(gap <= tau * n * (Math.log(n) + Math.log(m)), `seed ${seed} τ=${tau}: gap ${gap} to the LP exceeds the entropic bound`);
      gaps.push(gap);
      if (tau === 0.02) {
        // At small τ the top-1 of P is the LP's assignment: perfectly balanced.
        assert.deepEqual(Array.from(r.experts), Array.from(lp.routing.experts), `seed ${seed}: routing differs from the LP optimum`);
        assert.equal(maxVio(r.loads, n, 1), 0);
      }
    }
    assert.ok(gaps[0] > gaps[1] && gaps[1] > gaps[2], `seed ${seed}: the gap to the LP does not shrink with τ: ${gaps}`);
  }
});

test('Sinkhorn balances a skewed batch that plain top-k does not, and stays finite on adversarial input', () => {
  const [n, m, k] = [64, 8, 2];
  for (const [name, s] of Object.entries(adversarial(n, m, 3))) {
    for (const tau of [0.01, 1, 100]) {
      const plan = sinkhornPlan(s, n, m, k, 50, tau, 1e-4);
      assert.ok(plan.P.every(Number.isFinite) && plan.keys.every(Number.isFinite), `${name} τ=${tau}: not finite`);
    }
  }
  const { skewed } = adversarial(n, m, 3);
  const b = new SinkhornBalancer();
  const r = b.route(skewed, n, m, k);
  assert.ok(maxVio(topk(skewed, n, m, k).loads, n, k) > 2);
  // Fractional balance of P does not make top-k exactly balanced (64 tokens: 0.44 here), but far closer.
  assert.ok(maxVio(r.loads, n, k) < 1, `sinkhorn MaxVio ${maxVio(r.loads, n, k)}`);
  assert.ok(b.last !== null && b.last.colError <= 1e-4);
});
