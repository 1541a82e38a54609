/**
 * PROTOTYPE (for the lead; not used by the package): one BIP call (update-then-route, T iterations,
 * then top-k routing) that touches only a few candidates per row and per column after the first
 * iteration. Exact: the same q, experts, weights and loads as BipBalancer (checked by
 * bench/proto/compareCandidate.ts on chains of warm-started calls).
 *
 * Iteration 1 scans everything once, in row order (no transposed copy):
 * - each row keeps its R best experts by key s_ij − q_j (R = 2(k+1)) and an upper bound for the keys
 *   of the others;
 * - each column keeps the tokens whose w_ij = s_ij − p_i reach a threshold from a row sample (about
 *   1.5c tokens), and an upper bound for the others' w.
 * Iterations 2..T and the final top-k work on the candidates alone. They stay exact because keys
 * move by at most max_j (q_old_j − q_new_j) and w by at most max_i (p_old_i − p_new_i): a row or column
 * whose bound could be reached by a non-candidate is rescanned in full.
 *
 * Measured (bench/proto/compareCandidate.ts, load average ~4.5 on 2 cores, so rough): exact on every
 * call; (16384, 64, 4) T=4 62 ms vs BipBalancer 76 ms, (4096, 16, 2) 4.2-5.7 vs 4.7-5.0 ms, (65536, 256,
 * 8) 619-850 vs 647-655 ms. Not worth it as it stands: ~12% of column-iterations fail their bound and
 * pay a strided full rescan (the bound uses max_i (pRef_i − p_i) over all tokens, which is loose when
 * q moves a lot between iterations 1 and 2), and the first pass keeps 2(k+1) slots per row, which
 * costs more insertions than the k+1 the dual step needs.
 */
import { capacity } from '../../src/routing/assign.ts';
import { kthLargest, topKRowShifted } from '../../src/routing/select.ts';
import type { RouteResult } from '../../src/routing/types.ts';

const EPS = 1e-12;

/** v >= bound, with slack for rounding in the keys (float64 sums of two terms); -Infinity: no bound needed. */
function clears(v: number, bound: number): boolean {
  return bound === -Infinity || v >= bound + EPS * (1 + Math.abs(bound));
}
const SAMPLE_ROWS = 1024;

export class CandidateWorkspace {
  n = 0;
  m = 0;
  k = 0;
  R = 0;
  rowIds = new Int32Array(0); // [n, R]
  rowBound = new Float64Array(0); // [n], non-candidate keys <= rowBound + max_j (qRef_j − q_j)
  p = new Float64Array(0);
  pRaw = new Float64Array(0);
  pRef = new Float64Array(0);
  qRef = new Float64Array(0);
  colIds = new Int32Array(0); // [m, n]: column j's candidate tokens at [j*n, j*n + colCount[j])
  colCount = new Int32Array(0);
  colBound = new Float64Array(0); // [m], non-candidate w <= colBound + max_i (pRef_i − p_i)
  colThr = new Float64Array(0);
  vals = new Float64Array(0); // [n] scratch
  vals2 = new Float64Array(0); // [n] scratch
  idBuf = new Int32Array(0);
  keyBuf = new Float64Array(0);
  negQ = new Float64Array(0);
  sample = new Float64Array(0);
  rowRescans = 0;
  colRescans = 0;

  ensure(n: number, m: number, k: number): void {
    const R = Math.min(m, 2 * (k + 1));
    if (this.n !== n || this.m !== m || this.k !== k) {
      Object.assign(this, {
        n, m, k, R,
        rowIds: new Int32Array(n * R),
        rowBound: new Float64Array(n),
        p: new Float64Array(n),
        pRaw: new Float64Array(n),
        pRef: new Float64Array(n),
        qRef: new Float64Array(m),
        colIds: new Int32Array(m * n),
        colCount: new Int32Array(m),
        colBound: new Float64Array(m),
        colThr: new Float64Array(m),
        vals: new Float64Array(n),
        vals2: new Float64Array(n),
        idBuf: new Int32Array(R + 1),
        keyBuf: new Float64Array(R + 1),
        negQ: new Float64Array(m),
      });
    }
  }
}

/** Top `slots` of s[base + j] − q[j] over all j by insertion (values and ids); returns the slots-th largest. */
function scanRow(s: Float32Array, base: number, m: number, q: Float64Array, slots: number, ids: Int32Array, keys: Float64Array): number {
  let filled = 0;
  let thr = -Infinity;
  for (let j = 0; j < m; j++) {
    const v = s[base + j] - q[j];
    if (v <= thr) continue;
    let x = filled < slots ? filled++ : slots - 1;
    while (x > 0 && v > keys[x - 1]) {
      keys[x] = keys[x - 1];
      ids[x] = ids[x - 1];
      x--;
    }
    keys[x] = v;
    ids[x] = j;
    if (filled === slots) thr = keys[slots - 1];
  }
  return filled === slots ? keys[slots - 1] : -Infinity;
}

function maxDiff(a: Float64Array, b: Float64Array, len: number): number {
  let d = -Infinity;
  for (let x = 0; x < len; x++) {
    const v = a[x] - b[x];
    if (v > d) d = v;
  }
  return d;
}

/** Full scan of row i at the current q: its candidates, its bound (in the qRef frame) and its raw p. */
function rescanRow(s: Float32Array, i: number, m: number, k: number, q: Float64Array, shiftToRef: number, ws: CandidateWorkspace): number {
  const { R, idBuf, keyBuf, rowIds } = ws;
  const slots = Math.min(m, R + 1);
  scanRow(s, i * m, m, q, slots, idBuf, keyBuf);
  for (let t = 0; t < R; t++) rowIds[i * R + t] = idBuf[t];
  // The best non-candidate key now, moved into the qRef frame.
  ws.rowBound[i] = R < m ? keyBuf[R] + shiftToRef : -Infinity;
  return keyBuf[k];
}

/** Full scan of column j at the current p: exact r-th largest; candidates = the ~1.5r best tokens. */
function rescanColumn(s: Float32Array, j: number, n: number, m: number, r: number, shiftToRef: number, ws: CandidateWorkspace): number {
  const { vals, vals2, p, colIds } = ws;
  for (let i = 0; i < n; i++) vals[i] = s[i * m + j] - p[i];
  vals2.set(vals.subarray(0, n));
  const rank = Math.min(n, Math.ceil(1.5 * r) + 8);
  const thr = kthLargest(vals2, n, rank);
  let cnt = 0;
  for (let i = 0; i < n; i++) if (vals[i] >= thr) colIds[j * n + cnt++] = i;
  ws.colCount[j] = cnt;
  // Every non-candidate has w < thr; with rank = n there are none.
  ws.colBound[j] = cnt < n ? thr + shiftToRef : -Infinity;
  return kthLargest(vals, n, r);
}

/** Column thresholds for iteration 1 from a sample of rows (4-sigma margin below the target rank). */
function sampleThresholds(s: Float32Array, n: number, m: number, k: number, q: Float64Array, r: number, truncate: boolean, ws: CandidateWorkspace): void {
  const stride = Math.max(1, Math.floor(n / SAMPLE_ROWS));
  const ns = Math.floor(n / stride);
  const expected = (r * ns) / n;
  const rank = Math.ceil(expected + 4 * Math.sqrt(expected) + 4);
  if (stride < 4 || rank >= ns) {
    ws.colThr.fill(-Infinity);
    return;
  }
  if (ws.sample.length < ns * m) ws.sample = new Float64Array(ns * m);
  for (let x = 0; x < ns; x++) {
    const base = x * stride * m;
    const v = scanRow(s, base, m, q, k + 1, ws.idBuf, ws.keyBuf);
    const p = truncate && v < 0 ? 0 : v;
    for (let j = 0; j < m; j++) ws.sample[j * ns + x] = s[base + j] - p;
  }
  for (let j = 0; j < m; j++) ws.colThr[j] = kthLargest(ws.sample.subarray(j * ns, (j + 1) * ns), ns, rank);
}

/** (k+1)-th largest of the candidate keys of row i at q (values only). */
function candidateKth(s: Float32Array, i: number, m: number, k: number, q: Float64Array, ws: CandidateWorkspace): number {
  const { R, rowIds, keyBuf } = ws;
  const slots = k + 1;
  let filled = 0;
  let thr = -Infinity;
  const o = i * R;
  for (let t = 0; t < R; t++) {
    const j = rowIds[o + t];
    const v = s[i * m + j] - q[j];
    if (v <= thr) continue;
    let x = filled < slots ? filled++ : slots - 1;
    while (x > 0 && v > keyBuf[x - 1]) {
      keyBuf[x] = keyBuf[x - 1];
      x--;
    }
    keyBuf[x] = v;
    if (filled === slots) thr = keyBuf[slots - 1];
  }
  return keyBuf[slots - 1];
}

/**
 * BIP route, update-then-route: T dual iterations warm-started from q (updated in place), then the top-k
 * of s − q with BipBalancer's tie rule (key, then smaller q, then lower id). Input checks are the caller's.
 */
export function bipRouteCandidates(s: Float32Array, n: number, m: number, k: number, q: Float64Array, iters: number, truncate: boolean, ws: CandidateWorkspace): RouteResult {
  ws.ensure(n, m, k);
  const { p, pRaw, pRef, qRef, colIds, colCount, colBound, colThr, vals, rowBound } = ws;
  const c = capacity(n, m, k);
  const r = c + 1;
  qRef.set(q);
  for (let t = 0; t < iters; t++) {
    if (t === 0) {
      // Iteration 1: full pass in row order; rows pick candidates, columns collect tokens above a sampled threshold.
      if (r <= n) sampleThresholds(s, n, m, k, q, r, truncate, ws);
      colCount.fill(0);
      for (let i = 0; i < n; i++) {
        const v = rescanRow(s, i, m, k, q, 0, ws);
        pRaw[i] = v;
        const pi = truncate && v < 0 ? 0 : v;
        p[i] = pi;
        if (r > n) continue;
        const base = i * m;
        for (let j = 0; j < m; j++) if (s[base + j] - pi >= colThr[j]) colIds[j * n + colCount[j]++] = i;
      }
      pRef.set(p);
      for (let j = 0; j < m; j++) colBound[j] = colThr[j];
    } else {
      // Rows: candidates only, unless a non-candidate could reach the (k+1)-th largest.
      const rise = maxDiff(qRef, q, m); // max_j (qRef_j − q_j)
      const toRef = maxDiff(q, qRef, m); // max_j (q_j − qRef_j), for rows rescanned now
      for (let i = 0; i < n; i++) {
        let v = candidateKth(s, i, m, k, q, ws);
        const bound = rowBound[i] + rise;
        if (!clears(v, bound)) {
          ws.rowRescans++;
          v = rescanRow(s, i, m, k, q, toRef, ws);
        }
        pRaw[i] = v;
        p[i] = truncate && v < 0 ? 0 : v;
      }
    }
    if (r > n) {
      q.fill(0); // the capacity cannot bind
      continue;
    }
    // Columns: the r-th largest w over the candidates, unless a non-candidate could reach it.
    const fall = maxDiff(pRef, p, n); // max_i (pRef_i − p_i)
    const toRef = maxDiff(p, pRef, n);
    for (let j = 0; j < m; j++) {
      const cnt = colCount[j];
      let v = -Infinity;
      if (cnt >= r) {
        for (let x = 0; x < cnt; x++) {
          const i = colIds[j * n + x];
          vals[x] = s[i * m + j] - p[i];
        }
        v = kthLargest(vals, cnt, r);
      }
      const bound = colBound[j] + (t === 0 ? 0 : fall);
      if (!clears(v, bound)) {
        ws.colRescans++;
        v = rescanColumn(s, j, n, m, r, t === 0 ? 0 : toRef, ws);
      }
      q[j] = v === -Infinity ? 0 : truncate && v < 0 ? 0 : v;
    }
  }
  return routeFromCandidates(s, n, m, k, q, iters > 0, ws);
}

function routeFromCandidates(s: Float32Array, n: number, m: number, k: number, q: Float64Array, haveCandidates: boolean, ws: CandidateWorkspace): RouteResult {
  const { R, rowIds, rowBound, qRef, negQ } = ws;
  const experts = new Int32Array(n * k);
  const weights = new Float32Array(n * k);
  const loads = new Int32Array(m);
  for (let j = 0; j < m; j++) negQ[j] = -q[j];
  const rise = haveCandidates ? maxDiff(qRef, q, m) : Infinity;
  const ids = new Int32Array(k + 1);
  const keys = new Float64Array(k + 1);
  for (let i = 0; i < n; i++) {
    const base = i * m;
    let ok = false;
    if (haveCandidates) {
      // Top-k of the candidates with the tie rule: larger key, then larger −q, then lower id.
      let filled = 0;
      for (let t = 0; t < R; t++) {
        const j = rowIds[i * R + t];
        const v = s[base + j] + negQ[j];
        if (filled === k) {
          const l = ids[k - 1];
          if (!(v > keys[k - 1] || (v === keys[k - 1] && (negQ[j] > negQ[l] || (negQ[j] === negQ[l] && j < l))))) continue;
        }
        let x = filled < k ? filled++ : k - 1;
        while (x > 0) {
          const l = ids[x - 1];
          if (!(v > keys[x - 1] || (v === keys[x - 1] && (negQ[j] > negQ[l] || (negQ[j] === negQ[l] && j < l))))) break;
          keys[x] = keys[x - 1];
          ids[x] = l;
          x--;
        }
        keys[x] = v;
        ids[x] = j;
      }
      const bound = rowBound[i] + rise;
      // Strict: a non-candidate must not even tie with the k-th key.
      ok = bound === -Infinity || keys[k - 1] > bound + EPS * (1 + Math.abs(bound));
    }
    if (!ok) {
      ws.rowRescans++;
      topKRowShifted(s, base, m, negQ, k, ids, keys, -Infinity);
    }
    const o = i * k;
    let sum = 0;
    for (let t = 0; t < k; t++) {
      const j = ids[t];
      experts[o + t] = j;
      loads[j]++;
      sum += s[base + j];
    }
    for (let t = 0; t < k; t++) {
      const w = s[base + ids[t]];
      weights[o + t] = k === 1 ? w : sum !== 0 ? w / sum : 1 / k;
    }
  }
  return { n, m, k, experts, weights, loads };
}
