/**
 * Checks bench/proto/fusedDual.ts against src/routing/dual.ts (same q, exactly, over a chain of
 * warm-started calls on different batches) and times both, T = 4.
 *
 *   node --import tsx bench/proto/compareFused.ts
 */
import { DualWorkspace, dualIterations } from '../../src/routing/dual.ts';
import { syntheticScores } from '../routing.ts';
import { FusedWorkspace, dualIterationsFused } from './fusedDual.ts';

function median(f: () => void, reps: number): number {
  for (let i = 0; i < 3; i++) f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[reps >> 1];
}

for (const [n, m, k] of [
  [4096, 16, 2],
  [16384, 64, 4],
  [65536, 256, 8],
]) {
  const batches = [0, 1, 2].map((x) => syntheticScores(n, m, 77 + x));
  const qa = new Float64Array(m);
  const qb = new Float64Array(m);
  const wa = new DualWorkspace();
  const wb = new FusedWorkspace();
  let maxDiff = 0;
  for (let call = 0; call < 6; call++) {
    const s = batches[call % 3];
    dualIterations(s, n, m, k, qa, 4, true, true, wa);
    dualIterationsFused(s, n, m, k, qb, 4, wb);
    for (let j = 0; j < m; j++) maxDiff = Math.max(maxDiff, Math.abs(qa[j] - qb[j]));
  }
  // Alternate the two so that a change in machine load hits both alike.
  const reps = n > 20000 ? 5 : 21;
  const ta: number[] = [];
  const tb: number[] = [];
  for (let round = 0; round < 3; round++) {
    ta.push(median(() => dualIterations(batches[round], n, m, k, qa, 4, true, true, wa), reps));
    tb.push(median(() => dualIterationsFused(batches[round], n, m, k, qb, 4, wb), reps));
  }
  const best = (a: number[]): string => Math.min(...a).toFixed(2);
  console.log(`(${n}, ${m}, ${k}): q max |diff| ${maxDiff}; dual.ts T=4 ${best(ta)} ms, fused ${best(tb)} ms; columns redone ${wb.redone}`);
}
