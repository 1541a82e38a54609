/**
 * Group-limited exact (src/routing/exactGroups.ts) against HiGHS: the group choice is the optimum of the
 * group-level LP (n × G group scores, capacity ⌈n·topkGroups/G⌉), the routing is the optimum of the
 * expert LP restricted to the chosen groups' experts (HiGHS with the mask as upper bounds), never leaves
 * those groups, keeps loads ≤ c and carries its masked certificate; an instance is reported infeasible
 * exactly when HiGHS finds the masked LP infeasible; a hand-worked infeasible instance; state and orders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../src/routing/factory.ts';
import { capacity } from '../src/routing/assign.ts';
import { checkCertificate, solveExact } from '../src/routing/exact.ts';
import { GroupExactBalancer, groupScoreMatrix, solveGroupExact, type GroupExactResult } from '../src/routing/exactGroups.ts';
import { groupMask } from '../src/routing/groupLimited.ts';
import { InputError } from '../src/routing/errors.ts';
import { loadSolver, solveOptimal, type Solver } from '../src/routing/optimal.ts';
import { Rng } from '../src/util/rng.ts';
import { adversarial, softmaxScores } from './helpers/scores.ts';

let solver: Solver | null = null;
async function highs(): Promise<Solver> {
  solver ??= await loadSolver();
  return solver;
}

/** HiGHS's optimum of the (masked) LP, or null when HiGHS finds it infeasible. */
function lpOrNull(lp: Solver, s: Float32Array, n: number, m: number, k: number, allowed: Uint8Array | null): number | null {
  try {
    return solveOptimal(lp, s, n, m, k, allowed).objective;
  } catch (e) {
    if (/did not reach an optimum/.test((e as Error).message)) return null;
    throw e;
  }
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

function checkAgainstHighs(lp: Solver, r: GroupExactResult, s: Float32Array, n: number, m: number, k: number, G: number, TG: number, what: string): void {
  const size = m / G;
  // Stage 1: the groups are the group-level LP optimum, TG distinct groups per token, ≤ ⌈n·TG/G⌉ each.
  if (TG < G) {
    const gs = groupScoreMatrix(s, n, m, G);
    const gl = r.groupLevel!;
    let gObj = 0;
    const gLoads = new Int32Array(G);
    for (let i = 0; i < n; i++) {
      assert.equal(new Set(gl.experts.subarray(i * TG, i * TG + TG)).size, TG, `${what}: token ${i} groups not distinct`);
      for (let t = 0; t < TG; t++) {
        gObj += gs[i * G + gl.experts[i * TG + t]];
        gLoads[gl.experts[i * TG + t]]++;
      }
    }
    for (let g = 0; g < G; g++) assert.ok(gLoads[g] <= capacity(n, G, TG), `${what}: group ${g} holds ${gLoads[g]} tokens`);
    const gOpt = solveOptimal(lp, gs, n, G, TG).objective;
    assert.ok(close(gObj, gOpt), `${what}: group objective ${gObj} vs HiGHS ${gOpt}`);
    assert.deepEqual(Array.from(r.allowed), Array.from(groupMask(gl.experts, n, m, G, TG)), `${what}: mask`);
  }
  // Stage 2: inside the groups, loads ≤ c, the masked LP optimum, the masked certificate.
  const c = capacity(n, m, k);
  const loads = new Int32Array(m);
  let obj = 0;
  for (let i = 0; i < n; i++) {
    const ids = Array.from(r.experts.subarray(i * k, i * k + k));
    assert.equal(new Set(ids).size, k, `${what}: token ${i} experts not distinct`);
    for (const j of ids) {
      assert.ok(r.allowed[i * m + j] === 1, `${what}: token ${i} got expert ${j} (group ${Math.floor(j / size)}) outside its groups`);
      loads[j]++;
      obj += s[i * m + j];
    }
  }
  for (let j = 0; j < m; j++) assert.ok(loads[j] <= c, `${what}: expert ${j} has ${loads[j]} > c = ${c}`);
  const opt = lpOrNull(lp, s, n, m, k, r.allowed);
  assert.ok(opt !== null, `${what}: exact routed an instance HiGHS finds infeasible`);
  assert.ok(close(obj, opt), `${what}: objective ${obj} vs HiGHS masked optimum ${opt}`);
  const cert = checkCertificate(s, n, m, k, r.experts, r.q, 1e-9, r.allowed);
  assert.ok(cert.ok, `${what}: masked certificate fails (${cert.worstViolation})`);
}

test('group-limited exact equals HiGHS on both stages (groups, then experts inside them), or both find it infeasible', async () => {
  const lp = await highs();
  const shapes: [number, number, number, number, number][] = [
    // n, m, k, G, topkGroups
    [64, 8, 2, 4, 1],
    [96, 16, 4, 4, 2],
    [37, 6, 3, 3, 2],
    [50, 8, 1, 8, 3],
    [45, 12, 3, 4, 2],
    [20, 6, 3, 3, 2], // k = 3 of the 4 allowed experts
    [2, 6, 3, 3, 2], // c = 1: infeasible whenever both tokens get the same two groups (see the hand case)
    [4, 6, 3, 3, 2], // c = 2, group capacity 3: 3 tokens on one pair of groups need 9 of its 8 slots
  ];
  const rng = new Rng(5);
  let routed = 0;
  let infeasible = 0;
  for (const [n, m, k, G, TG] of shapes) {
    for (const [name, s] of Object.entries({ ...adversarial(n, m, n * 3 + m), sharp: softmaxScores(n, m, n + 1, 4) })) {
      for (const warm of [false, true]) {
        const what = `${name} n=${n} m=${m} k=${k} G=${G}/${TG} ${warm ? 'warm' : 'cold'}`;
        const q = Float64Array.from({ length: m }, () => (warm ? rng.next() * 0.3 : 0));
        const qG = Float64Array.from({ length: G }, () => (warm ? rng.next() * 0.3 : 0));
        const qG0 = qG.slice();
        let r: GroupExactResult;
        try {
          r = solveGroupExact(s, n, m, k, G, TG, q, qG);
        } catch (e) {
          assert.ok(e instanceof InputError, `${what}: ${(e as Error).message}`);
          assert.match(e.message, new RegExp(`groups=${G}, topkGroups=${TG}.*n=${n}, m=${m}, k=${k}`));
          // Infeasible by exact: HiGHS must agree on the same mask (groups from the group-level optimum).
          const gl = solveExact(groupScoreMatrix(s, n, m, G), n, G, TG, qG0);
          assert.equal(lpOrNull(lp, s, n, m, k, groupMask(gl.experts, n, m, G, TG)), null, `${what}: exact says infeasible, HiGHS routes it`);
          infeasible++;
          continue;
        }
        checkAgainstHighs(lp, r, s, n, m, k, G, TG, what);
        routed++;
      }
    }
  }
  assert.ok(routed >= 60, `routed ${routed} instances`);
  assert.ok(infeasible >= 1, `no infeasible instance met (${routed} routed)`);
});

test('group-limited exact by hand: an infeasible instance is an InputError naming it', () => {
  // n = 2 tokens, m = 6 experts in G = 3 groups {0,1} {2,3} {4,5}, k = 3, topkGroups = 2.
  // c = ⌈3·2/6⌉ = 1: the 6 slots need all 6 experts. Both rows are [0.3, 0.3, 0.2, 0.2, 0, 0]:
  // group scores (top-2 sums) [0.6, 0.4, 0]; group capacity ⌈2·2/3⌉ = 2, so the group optimum gives
  // both tokens groups {0, 1} (0.6 + 0.4 each). Inside them only experts 0-3 are allowed: 4 slots of
  // capacity 1 for 2·3 = 6 choices. No routing exists; plain group-limited top-k would overload.
  const row = [0.3, 0.3, 0.2, 0.2, 0, 0];
  const s = Float32Array.from([...row, ...row]);
  const b = createBalancer('exact', { groups: 3, topkGroups: 2 });
  assert.throws(() => b.route(s, 2, 6, 3), (e: Error) => e instanceof InputError && /groups=3, topkGroups=2: .*c=1 .*n=2, m=6, k=3/.test(e.message));
  // The same shape with k = 2 is feasible: 4 slots for 4 choices, each token two of experts 0-3.
  const r = createBalancer('exact', { groups: 3, topkGroups: 2 }).route(s, 2, 6, 2);
  assert.deepEqual(Array.from(r.loads), [1, 1, 1, 1, 0, 0]);
});

test('group-limited exact as a balancer: state { q, qGroups } carried, both orders, same input same output, checks', async () => {
  const lp = await highs();
  const [n, m, k, G, TG] = [80, 8, 2, 4, 2];
  const batches = [1, 2, 3].map((seed) => softmaxScores(n, m, seed, 3));
  for (const order of ['update-then-route', 'route-then-update'] as const) {
    const b = createBalancer('exact', { groups: G, topkGroups: TG, order }) as GroupExactBalancer;
    for (const [step, s] of batches.entries()) {
      const before = b.getState();
      const twin = new GroupExactBalancer({ order }, G, TG);
      twin.setState(before);
      const r = b.route(s, n, m, k);
      assert.deepEqual(Array.from(twin.route(s, n, m, k).experts), Array.from(r.experts), `${order} step ${step}: not deterministic from the state`);
      if (order === 'update-then-route') checkAgainstHighs(lp, b.last!, s, n, m, k, G, TG, `${order} step ${step}`);
      else {
        // Causal: inside the groups of top-TG of gs − qGroups (the state before the call).
        const qG = before.qGroups as number[];
        const gs = groupScoreMatrix(s, n, m, G);
        for (let i = 0; i < n; i++) {
          const key = (g: number) => gs[i * G + g] - (qG.length ? qG[g] : 0);
          const best = [...Array(G).keys()].sort((a, c) => key(c) - key(a) || a - c).slice(0, TG);
          for (const j of r.experts.subarray(i * k, i * k + k)) assert.ok(best.includes(Math.floor(j / (m / G))), `${order} step ${step}: token ${i} outside its groups`);
        }
      }
      const st = b.getState();
      assert.equal((st.q as number[]).length, m);
      assert.equal((st.qGroups as number[]).length, G);
    }
  }
  assert.throws(() => createBalancer('exact', { groups: 3, topkGroups: 1 }).route(batches[0], n, m, k), /groups=3 does not divide m=8/);
  assert.throws(() => createBalancer('exact', { groups: 4, topkGroups: 1 }).route(batches[0], n, m, 3), /cannot hold k=3/);
  assert.throws(() => new GroupExactBalancer({}, G, TG).setState({ p: [] }), /unknown key 'p'/);
});
