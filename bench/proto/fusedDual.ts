/**
 * PROTOTYPE (for the lead; not used by the package): BIP's dual iterations (truncate = true) with the
 * column step fused into the row pass. Exact: gives the same q as src/routing/dual.ts's dualIterations
 * (checked by bench/proto/checkFused.ts on chains of warm-started calls).
 *
 *     p_i = [(k+1)-th largest over j of (s_ij − q_j)]₊        q_j = [(c+1)-th largest over i of w_ij]₊,  w_ij = s_ij − p_i
 *
 * Idea: while row i is in L1 for its row step, append each w_ij that could be among the c+1 largest of
 * column j (w_ij >= lo_j) to a bucket for expert j; then q_j is a quickselect over the bucket (about
 * 1.5c values) instead of over all n. One pass over the scores per iteration instead of a row pass,
 * a transposed copy and a column pass. The thresholds are lower bounds, so the result stays exact:
 * - iteration t > 0: the (c+1)-th largest is 1-Lipschitz in p, and p_i moves by at most
 *   max_j (q_old_j − q_new_j), so lo_j = max(0, qraw_j − that) is a proven bound;
 * - iteration 0 (a new batch): lo_j comes from a sample of rows, with a safety margin; a column whose
 *   bucket ends up short is redone exactly (threshold 0, which the truncation makes exact).
 * The row step also uses a proven bound after iteration 0: the (k+1)-th largest of s_ij − q_j moves by
 * at most max_j (q_new_j − q_old_j), so only keys above praw_i − that enter the insertion buffer.
 */
import { capacity } from '../../src/routing/assign.ts';
import { kthLargest } from '../../src/routing/select.ts';

export class FusedWorkspace {
  n = 0;
  m = 0;
  buckets = new Float64Array(0); // [m, n], float64 like dual.ts's column (exact s_ij − p_i): bucket j at [j*n, j*n + counts[j])
  counts = new Int32Array(0);
  p = new Float64Array(0);
  praw = new Float64Array(0); // untruncated (k+1)-th largest key per row, for the warm bound
  qOld = new Float64Array(0);
  qraw = new Float64Array(0); // untruncated (c+1)-th largest per column (-Infinity: below 0 / absent)
  colLo = new Float64Array(0);
  keys = new Float64Array(0);
  sample = new Float64Array(0);
  /** Columns redone because a sampled threshold was too high (diagnostics). */
  redone = 0;

  ensure(n: number, m: number, k: number): void {
    if (this.n !== n || this.m !== m) {
      this.buckets = new Float64Array(n * m);
      this.counts = new Int32Array(m);
      this.p = new Float64Array(n);
      this.praw = new Float64Array(n);
      this.qOld = new Float64Array(m);
      this.qraw = new Float64Array(m);
      this.colLo = new Float64Array(m);
      this.n = n;
      this.m = m;
    }
    if (this.keys.length < k + 2) this.keys = new Float64Array(k + 2);
  }
}

/** (k+1)-th largest (slots = k+1) of s[base + j] − q[j] among keys >= lo, by insertion; -Infinity if fewer. */
function kthKey(s: Float32Array, base: number, m: number, q: Float64Array, slots: number, lo: number, key: Float64Array): number {
  let filled = 0;
  let thr = lo;
  for (let j = 0; j < m; j++) {
    const v = s[base + j] - q[j];
    if (v >= thr) {
      let x = filled < slots ? filled++ : slots - 1;
      while (x > 0 && v > key[x - 1]) {
        key[x] = key[x - 1];
        x--;
      }
      key[x] = v;
      if (filled === slots) thr = key[slots - 1];
    }
  }
  return filled === slots ? key[slots - 1] : -Infinity;
}

/** Iteration-0 thresholds from every `stride`-th row: a rank with a 4-sigma margin above the target. */
function sampledThresholds(s: Float32Array, n: number, m: number, k: number, q: Float64Array, r: number, ws: FusedWorkspace): void {
  const stride = Math.max(1, Math.floor(n / 1024));
  const ns = Math.floor(n / stride);
  const rank = Math.ceil((r * ns) / n + 4 * Math.sqrt((r * ns) / n) + 4);
  if (stride === 1 || rank >= ns) {
    ws.colLo.fill(0); // small batch: no sampling, the exact threshold 0
    return;
  }
  if (ws.sample.length < ns * m) ws.sample = new Float64Array(ns * m);
  const smp = ws.sample;
  for (let x = 0; x < ns; x++) {
    const base = x * stride * m;
    const v = kthKey(s, base, m, q, k + 1, -Infinity, ws.keys);
    const p = v < 0 ? 0 : v;
    for (let j = 0; j < m; j++) smp[j * ns + x] = s[base + j] - p;
  }
  for (let j = 0; j < m; j++) {
    const t = kthLargest(smp.subarray(j * ns, (j + 1) * ns), ns, rank);
    ws.colLo[j] = t > 0 ? t : 0;
  }
}

export function dualIterationsFused(s: Float32Array, n: number, m: number, k: number, q: Float64Array, iters: number, ws: FusedWorkspace): void {
  ws.ensure(n, m, k);
  const c = capacity(n, m, k);
  const r = c + 1;
  if (r > n) {
    if (iters > 0) q.fill(0); // the capacity cannot bind: every q_j = 0, as in dual.ts
    return;
  }
  const { buckets, counts, p, praw, qOld, qraw, colLo, keys } = ws;
  const slots = k + 1;
  for (let t = 0; t < iters; t++) {
    let maxRise = -Infinity;
    if (t === 0) sampledThresholds(s, n, m, k, q, r, ws);
    else {
      let maxFall = -Infinity;
      for (let j = 0; j < m; j++) {
        maxRise = Math.max(maxRise, q[j] - qOld[j]);
        maxFall = Math.max(maxFall, qOld[j] - q[j]);
      }
      for (let j = 0; j < m; j++) {
        const lo = qraw[j] - maxFall;
        // Slack for rounding in s − p.
        colLo[j] = lo > 0 ? lo - 1e-9 * (1 + lo) : 0;
        if (colLo[j] < 0) colLo[j] = 0;
      }
    }
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const base = i * m;
      let v = -Infinity;
      if (t > 0) {
        const lo = praw[i] - maxRise;
        v = kthKey(s, base, m, q, slots, lo - 1e-9 * (1 + Math.abs(lo)), keys);
      }
      if (v === -Infinity) v = kthKey(s, base, m, q, slots, -Infinity, keys);
      praw[i] = v;
      const pi = v < 0 ? 0 : v;
      p[i] = pi;
      for (let j = 0; j < m; j++) {
        const w = s[base + j] - pi;
        if (w >= colLo[j]) buckets[j * n + counts[j]++] = w;
      }
    }
    for (let j = 0; j < m; j++) {
      if (counts[j] < r && colLo[j] > 0) {
        // The sampled threshold was too high for this column: collect it again with the exact bound 0.
        ws.redone++;
        counts[j] = 0;
        for (let i = 0; i < n; i++) {
          const w = s[i * m + j] - p[i];
          if (w >= 0) buckets[j * n + counts[j]++] = w;
        }
      }
      qOld[j] = q[j];
      if (counts[j] >= r) {
        const x = kthLargest(buckets.subarray(j * n, j * n + counts[j]), counts[j], r);
        qraw[j] = x;
        q[j] = x < 0 ? 0 : x;
      } else {
        qraw[j] = -Infinity;
        q[j] = 0;
      }
    }
  }
}
