/**
 * `exact` (src/routing/exact.ts) against ground truth: a hand-worked example, the HiGHS LP optimum on
 * hundreds of instances (random, skewed, collapsed, tied, all-equal; kn/m fractional; k = m − 1; cold
 * and warm-started, including warm starts with q > 0 on under-full experts), its certificate on each,
 * the certificate checker on routings that are feasible but not optimal, determinism and options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExactBalancer, checkCertificate, solveExact, type ExactRouteResult } from '../src/routing/exact.ts';
import { capacity } from '../src/routing/assign.ts';
import { loadSolver, solveOptimal, type Solver } from '../src/routing/optimal.ts';
import { InputError } from '../src/routing/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { adversarial, softmaxScores } from './helpers/scores.ts';

/** Softmax rows whose logits favour experts 0..hot-1 by `boost`: a collapsed router. */
function collapsed(n: number, m: number, seed: number, hot: number, boost: number): Float32Array {
  const rng = new Rng(seed);
  const s = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    let z = 0;
    for (let j = 0; j < m; j++) {
      const v = Math.exp(rng.normal() + (j < hot ? boost : 0));
      s[i * m + j] = v;
      z += v;
    }
    for (let j = 0; j < m; j++) s[i * m + j] /= z;
  }
  return s;
}

/** A warm start with q > 0 on a random half of the experts (some of which end under-full). */
function randomQ(m: number, rng: Rng, scale: number): Float64Array {
  return Float64Array.from({ length: m }, () => (rng.next() < 0.5 ? 0 : rng.next() * scale));
}

function loadsOf(experts: Int32Array, m: number): Int32Array {
  const l = new Int32Array(m);
  for (const j of experts) l[j]++;
  return l;
}

let solver: Solver | null = null;
async function highs(): Promise<Solver> {
  solver ??= await loadSolver();
  return solver;
}

function assertOptimal(r: ExactRouteResult, scores: Float32Array, n: number, m: number, k: number, lp: number, what: string): void {
  const c = capacity(n, m, k);
  const loads = loadsOf(r.experts, m);
  for (let j = 0; j < m; j++) assert.ok(loads[j] <= c, `${what}: expert ${j} has ${loads[j]} > c = ${c}`);
  for (let i = 0; i < n; i++) assert.equal(new Set(r.experts.subarray(i * k, i * k + k)).size, k, `${what}: token ${i} experts not distinct`);
  assert.deepEqual(Array.from(r.loads), Array.from(loads), `${what}: loads`);
  // The objective recomputed here from the ids, not taken from the certificate.
  let obj = 0;
  for (let i = 0; i < n; i++) for (let t = 0; t < k; t++) obj += scores[i * m + r.experts[i * k + t]];
  const rel = Math.abs(obj - lp) / Math.max(Math.abs(lp), 1e-300);
  assert.ok(rel <= 1e-9 || Math.abs(obj - lp) <= 1e-12, `${what}: objective ${obj} vs LP ${lp} (relative ${rel})`);
  const cert = checkCertificate(scores, n, m, k, r.experts, r.q);
  assert.ok(cert.ok, `${what}: certificate fails (worst violation ${cert.worstViolation})`);
  assert.ok(cert.worstViolation <= 1e-12, `${what}: worst violation ${cert.worstViolation}`);
  // Weak duality closes: g(q) equals the objective up to rounding.
  assert.ok(Math.abs(cert.dualBound - obj) <= 1e-9 * Math.max(1, Math.abs(obj)), `${what}: dual bound ${cert.dualBound} vs ${obj}`);
}

test('exact by hand: 4 tokens, 2 experts, k = 1, c = 2', () => {
  // Scores in quarters: t0 [4, 0], t1 [3, 0], t2 [2, 1], t3 [0, 4]. Plain top-1 loads [3, 1] (t0-t2 on 0).
  // Expert 0 must give up one token; moving token i to expert 1 costs s_i0 − s_i1 = 4, 3, 1: t2 moves.
  // Optimum 4 + 3 + 1 + 4 = 12 quarters. Repair: Dijkstra from expert 0: arc 0→1 via t2 costs 1, arc
  // 1→T costs 0 (q_1 = 0, expert 1 under-full), so D = 1 and q_0 += D − d_0 = 1: q = [1, 0] quarters.
  // Certificate: keys s − q: t0 [3, 0], t1 [2, 0], t2 [1, 1] (tie; chose 1), t3 [−1, 4]: every token's
  // expert is a largest key; q_1 = 0 where load 2 = c, and q ≥ 0.
  const s = Float32Array.from([4, 0, 3, 0, 2, 1, 0, 4].map((x) => x / 4));
  const r = solveExact(s, 4, 2, 1, new Float64Array(2));
  assert.deepEqual(Array.from(r.experts), [0, 0, 1, 1]);
  assert.deepEqual(Array.from(r.q, (x) => x * 4), [1, 0]);
  assert.deepEqual(Array.from(r.loads), [2, 2]);
  assert.equal(r.certificate.objective * 4, 12);
  assert.equal(r.certificate.dualBound * 4, 12);
  assert.ok(r.certificate.ok);
  // Weights: the original scores (k = 1, not renormalised).
  assert.deepEqual(Array.from(r.weights, (x) => x * 4), [4, 3, 1, 4]);
});

test('exact equals the HiGHS LP optimum, loads <= c and the certificate holds: small instances, cold and warm', async () => {
  const lp = await highs();
  const shapes: [number, number, number][] = [
    [37, 5, 2], // kn/m = 14.8: c = 15
    [64, 8, 1],
    [96, 16, 4],
    [3, 4, 3], // k = m - 1
    [50, 7, 6], // k = m - 1, kn/m fractional
    [200, 10, 3],
    [33, 6, 5],
    [128, 32, 8],
  ];
  const rng = new Rng(42);
  let count = 0;
  for (const [n, m, k] of shapes) {
    for (let seed = 0; seed < 2; seed++) {
      const inputs: Record<string, Float32Array> = {
        ...adversarial(n, m, 1000 * seed + n + m),
        sharp: softmaxScores(n, m, 7 + seed, 4),
        collapsed: collapsed(n, m, 11 + seed, 1, 4),
        collapsed2: collapsed(n, m, 13 + seed, 2, 6),
      };
      for (const [name, s] of Object.entries(inputs)) {
        const opt = solveOptimal(lp, s, n, m, k).objective;
        for (const warm of ['cold', 'warm'] as const) {
          const q0 = warm === 'cold' ? new Float64Array(m) : randomQ(m, rng, 0.5);
          const r = solveExact(s, n, m, k, q0);
          assertOptimal(r, s, n, m, k, opt, `${name} n=${n} m=${m} k=${k} seed ${seed} ${warm}`);
          count++;
        }
      }
    }
  }
  assert.ok(count >= 250, `ran ${count} instances`);
});

test('exact equals the HiGHS LP optimum on larger instances (up to n = 4096, m = 64, k = 8), with warmIters and a carried state', async () => {
  const lp = await highs();
  // The optimum of all-equal scores v is n·k·v whatever the routing: no LP needed (HiGHS takes seconds
  // on that degenerate case). The rest against HiGHS; one instance at n = 4096 (a few seconds of LP).
  const cases: [string, number, number, number, Float32Array, number | null][] = [
    ['random', 1000, 32, 4, softmaxScores(1000, 32, 3), null],
    ['collapsed', 1024, 64, 2, collapsed(1024, 64, 5, 3, 5), null],
    ['tied', 999, 16, 3, adversarial(999, 16, 2).coarse, null],
    ['all-equal', 4096, 64, 8, adversarial(4096, 64, 1).tied, 4096 * 8 * Math.fround(1 / 64)],
    ['all-equal k=m-1', 1000, 7, 6, adversarial(1000, 7, 1).tied, 1000 * 6 * Math.fround(1 / 7)],
    ['random k=m-1', 500, 9, 8, softmaxScores(500, 9, 8), null],
    ['skewed', 4096, 64, 8, adversarial(4096, 64, 4).skewed, null],
  ];
  for (const [name, n, m, k, s, known] of cases) {
    const opt = known ?? solveOptimal(lp, s, n, m, k).objective;
    const b = new ExactBalancer({ warmIters: name === 'random' ? 2 : 0 });
    // Twice: the second call starts from the first call's duals (the state).
    for (let call = 0; call < 2; call++) {
      const r = b.route(s, n, m, k) as ExactRouteResult;
      assertOptimal(r, s, n, m, k, opt, `${name} n=${n} m=${m} k=${k} call ${call}`);
      assert.deepEqual(Array.from(b.qVector!), Array.from(r.q));
    }
  }
});

test('the certificate checker rejects a feasible routing that is not optimal, and infeasible ones', () => {
  const [n, m, k] = [64, 8, 2];
  const s = softmaxScores(n, m, 9);
  const r = solveExact(s, n, m, k, new Float64Array(m));
  assert.ok(checkCertificate(s, n, m, k, r.experts, r.q).ok);
  // Swap experts between two tokens so that the loads stay the same (still feasible) but the objective
  // drops: token a gives expert x to token b and takes b's expert y (a lacks y, b lacks x).
  let worse: Int32Array | null = null;
  search: for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      for (let ta = 0; ta < k; ta++) {
        for (let tb = 0; tb < k; tb++) {
          const x = r.experts[a * k + ta];
          const y = r.experts[b * k + tb];
          const aIds = r.experts.subarray(a * k, a * k + k);
          const bIds = r.experts.subarray(b * k, b * k + k);
          if (x === y || aIds.includes(y) || bIds.includes(x)) continue;
          if (s[a * m + y] + s[b * m + x] < s[a * m + x] + s[b * m + y] - 1e-6) {
            worse = r.experts.slice();
            worse[a * k + ta] = y;
            worse[b * k + tb] = x;
            break search;
          }
        }
      }
    }
  }
  assert.ok(worse !== null, 'found a worse feasible routing');
  const bad = checkCertificate(s, n, m, k, worse, r.q);
  assert.ok(bad.feasible, 'the swapped routing is feasible');
  assert.ok(!bad.ok && bad.worstViolation > 1e-6, `checker accepted a non-optimal routing (violation ${bad.worstViolation})`);
  assert.ok(bad.dualBound - bad.objective > 1e-6, 'its gap to the dual bound is positive');
  // With any other q too: plain top-k keys (q = 0) do not certify it either.
  assert.ok(!checkCertificate(s, n, m, k, worse, new Float64Array(m)).ok);

  // Infeasible: plain top-k overloads the favourite experts of a skewed batch.
  const skewed = adversarial(n, m, 3).skewed;
  const top = solveExact(skewed, n, m, k, new Float64Array(m));
  const plain = Int32Array.from({ length: n * k }, (_, x) => x % k); // every token on experts 0 and 1
  const c1 = checkCertificate(skewed, n, m, k, plain, new Float64Array(m));
  assert.ok(!c1.feasible && !c1.ok, 'loads over c are rejected');
  // A repeated expert in one token.
  const dup = top.experts.slice();
  dup[1] = dup[0];
  assert.ok(!checkCertificate(skewed, n, m, k, dup, top.q).feasible);
  // q < 0, and q > 0 on an under-full expert.
  const q = top.q.slice();
  q[0] = -0.5;
  assert.ok(!checkCertificate(skewed, n, m, k, top.experts, q).ok);
  const [n2, m2, k2] = [37, 5, 2]; // c = 15, loads sum to 74 < 75: one expert is under-full
  const s2 = softmaxScores(n2, m2, 4);
  const r2 = solveExact(s2, n2, m2, k2, new Float64Array(m2));
  const under = Array.from(r2.loads).findIndex((l) => l < capacity(n2, m2, k2));
  const q2 = r2.q.slice();
  q2[under] += 0.25;
  assert.ok(!checkCertificate(s2, n2, m2, k2, r2.experts, q2).ok, 'q > 0 on an under-full expert is rejected');
});

test('exact: same input and state give the same output; update=false leaves q alone; route-then-update is causal', () => {
  const [n, m, k] = [512, 16, 2];
  // Ties (coarse values, all-equal) as well: every tie-break must be deterministic.
  const batches = [collapsed(n, m, 20, 2, 2), adversarial(n, m, 21).coarse, adversarial(n, m, 22).tied, collapsed(n, m, 23, 2, 2)];
  const a = new ExactBalancer();
  const b = new ExactBalancer();
  for (const s of batches) {
    const ra = a.route(s, n, m, k);
    const rb = b.route(s, n, m, k);
    assert.deepEqual(Array.from(ra.experts), Array.from(rb.experts));
    assert.deepEqual(a.getState(), b.getState());
  }
  const before = JSON.stringify(a.getState());
  const r = a.route(batches[0], n, m, k, { update: false }) as ExactRouteResult;
  assert.equal(JSON.stringify(a.getState()), before);
  assert.ok(r.certificate.ok);

  // Causal: the first batch is routed with q = 0 (plain top-k, experts 0 and 1 overloaded).
  const causal = new ExactBalancer({ order: 'route-then-update' });
  const first = causal.route(batches[0], n, m, k);
  assert.ok(Math.max(...first.loads) > capacity(n, m, k));
  // ...and the state is then the batch's certified duals, as the default order computes them.
  const ref = new ExactBalancer();
  ref.route(batches[0], n, m, k);
  assert.deepEqual(causal.getState(), ref.getState());
  assert.ok(causal.last!.certificate.ok);
});

test('exact: options are checked', () => {
  assert.throws(() => new ExactBalancer({ warmIters: -1 }), InputError);
  assert.throws(() => new ExactBalancer({ warmIters: 1.5 }), InputError);
  assert.throws(() => new ExactBalancer({ order: 'sideways' as never }), InputError);
  assert.throws(() => new ExactBalancer({ iters: 3 } as never), /unknown option 'iters' for method 'exact'/);
  const b = new ExactBalancer();
  assert.throws(() => b.setState({ q: [1, Number.NaN] }), InputError);
  b.route(softmaxScores(8, 4, 1), 8, 4, 2);
  assert.throws(() => b.route(softmaxScores(8, 5, 1), 8, 5, 2), /state q has 4 entries/);
});
