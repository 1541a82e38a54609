/**
 * Checks bench/proto/candidateBip.ts against BipBalancer (identical experts, weights, loads and q over a
 * chain of warm-started calls) and times both, T = 4, update-then-route.
 *
 *   node --import tsx bench/proto/compareCandidate.ts
 */
import { BipBalancer } from '../../src/routing/bip.ts';
import { validateRouteInput } from '../../src/routing/validate.ts';
import { syntheticScores } from '../routing.ts';
import { CandidateWorkspace, bipRouteCandidates } from './candidateBip.ts';

function median(f: () => void, reps: number): number {
  for (let i = 0; i < 2; i++) f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[reps >> 1];
}

function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let x = 0; x < a.length; x++) if (a[x] !== b[x] && !(Number.isNaN(a[x]) && Number.isNaN(b[x]))) return false;
  return true;
}

const sizes = process.argv.includes('--quick') ? [[4096, 16, 2]] : [[4096, 16, 2], [16384, 64, 4], [65536, 256, 8]];
for (const [n, m, k] of sizes) {
  for (const truncate of [true, false]) {
    const batches = [0, 1, 2, 3].map((x) => syntheticScores(n, m, 500 + x));
    const lead = new BipBalancer({ iters: 4, truncate });
    const q = new Float64Array(m);
    const ws = new CandidateWorkspace();
    let mismatches = 0;
    for (let call = 0; call < 8; call++) {
      const s = batches[call % 4];
      const a = lead.route(s, n, m, k);
      const b = bipRouteCandidates(s, n, m, k, q, 4, truncate, ws);
      const ok = same(a.experts, b.experts) && same(a.weights, b.weights) && same(a.loads, b.loads) && same(lead.getState().q, q);
      if (!ok) mismatches++;
    }
    ws.rowRescans = 0;
    ws.colRescans = 0;
    const reps = n > 20000 ? 5 : 15;
    const ta: number[] = [];
    const tb: number[] = [];
    let calls = 0;
    for (let round = 0; round < 3; round++) {
      const s = batches[round];
      ta.push(median(() => lead.route(s, n, m, k), reps));
      tb.push(
        median(() => {
          calls++;
          validateRouteInput(s, n, m, k);
          bipRouteCandidates(s, n, m, k, q, 4, truncate, ws);
        }, reps),
      );
    }
    const best = (x: number[]): string => Math.min(...x).toFixed(2);
    console.log(
      `(${n}, ${m}, ${k}) truncate=${truncate}: mismatching calls ${mismatches}/8; BipBalancer.route ${best(ta)} ms, candidates ${best(tb)} ms; ` +
        `rescans per call: rows ${(ws.rowRescans / calls).toFixed(0)} of ${n}x4, columns ${(ws.colRescans / calls).toFixed(1)} of ${m}x4`,
    );
  }
}
