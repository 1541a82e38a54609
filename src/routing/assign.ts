/**
 * The routing step every balancer ends with: top-k of (scores + sign * shift) per token, then combine
 * weights from the ORIGINAL scores (a bias only reorders experts, it never enters the weights),
 * renormalised to sum 1 when k > 1, and the per-expert loads.
 */
import { topKRowPlain, topKRowShifted } from './select.ts';
import type { RouteResult } from './types.ts';

/** Capacity c = ceil(k·n/m) (algorithms.md §1: the integer used where k·n/m is fractional). */
export function capacity(n: number, m: number, k: number): number {
  // Guard against float error such as 3*7/21 = 0.99999...
  const exact = (k * n) / m;
  const r = Math.round(exact);
  return Math.abs(exact - r) < 1e-9 ? r : Math.ceil(exact);
}

export function assignTopK(
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  shift: Float64Array | null,
  sign: number,
  floors: Float64Array | null = null,
  tokenOffset = 0,
): RouteResult {
  const experts = new Int32Array(n * k);
  const weights = new Float32Array(n * k);
  const loads = new Int32Array(m);
  const idBuf = new Int32Array(k);
  const keyBuf = new Float64Array(k);
  const sh = shift === null ? null : shift.map((x) => sign * x);
  for (let i = 0; i < n; i++) {
    // Ties go to the expert first in token i's rotated order from i mod m (select.ts: equal scores spread
    // evenly); tokenOffset: this batch's first token in a larger one (a shard), so that i is the global index.
    const start = (i + tokenOffset) % m;
    if (sh === null) topKRowPlain(scores, i * m, m, k, idBuf, keyBuf, start);
    else topKRowShifted(scores, i * m, m, sh, k, idBuf, keyBuf, floors === null ? -Infinity : floors[i], start);
    for (let t = 0; t < k; t++) {
      experts[i * k + t] = idBuf[t];
      loads[idBuf[t]]++;
    }
    writeWeights(scores, i, m, k, experts, weights);
  }
  return { n, m, k, experts, weights, loads };
}

/**
 * Token i's combine weights from its chosen ids (experts[i*k .. i*k+k)): the original scores,
 * renormalised to sum 1 when k > 1. Every routing (balancers and the LP optimum) uses this one rule.
 */
export function writeWeights(scores: Float32Array, i: number, m: number, k: number, experts: Int32Array, weights: Float32Array): void {
  const o = i * k;
  let sum = 0;
  for (let t = 0; t < k; t++) sum += scores[i * m + experts[o + t]];
  for (let t = 0; t < k; t++) {
    const w = scores[i * m + experts[o + t]];
    // k = 1: the gate value itself (MiniMind renormalises only when top_k > 1).
    // A zero sum (all-zero scores) gets equal weights rather than NaN.
    weights[o + t] = k === 1 ? w : sum !== 0 ? w / sum : 1 / k;
  }
}
