/**
 * The dual iterations shared by BIP-Based Balancing (algorithms.md §2, the paper's Algorithm 1) and
 * Quantile Balancing (§5). One iteration is:
 *
 *     p_i = [(k+1)-th largest over j of (s_ij − q_j)]₊          (row step, n selections of length m)
 *     q_j = [(c+1)-th largest over i of (s_ij − p_i)]₊          (column step, m selections of length n)
 *
 * where [x]₊ = max(0, x) is the truncation that comes from the dual variables' p, q ≥ 0 in the BIP's
 * inequality form; Quantile Balancing (equality form) drops it. The column step works on a transposed
 * copy of the scores so that each column is contiguous for quickselect.
 */
import { capacity } from './assign.ts';
import { kthLargest, topKRowShifted } from './select.ts';

/** Reusable buffers, so a balancer allocates once per shape rather than once per call. */
export class DualWorkspace {
  n = 0;
  m = 0;
  transposed = new Float32Array(0); // [m, n]
  column = new Float64Array(0); // [n], float64 so that q_j = s_ij − p_i is exact for dyadic inputs
  p = new Float64Array(0); // [n]
  pRaw = new Float64Array(0); // [n], p before truncation
  floors = new Float64Array(0); // [n]
  qAtP = new Float64Array(0); // [m], the q that pRaw was computed from
  negQ = new Float64Array(0); // [m], −q: the signed shift of the selection keys
  /** Whether pRaw belongs to the scores of the current call. */
  pValid = false;
  sample = new Float64Array(SAMPLE);
  idBuf = new Int32Array(0);
  keyBuf = new Float64Array(0);

  ensure(n: number, m: number, k: number): void {
    if (this.n !== n || this.m !== m) {
      this.transposed = new Float32Array(n * m);
      this.column = new Float64Array(n);
      this.p = new Float64Array(n);
      this.pRaw = new Float64Array(n);
      this.floors = new Float64Array(n);
      this.qAtP = new Float64Array(m);
      this.negQ = new Float64Array(m);
      this.n = n;
      this.m = m;
    }
    if (this.keyBuf.length < k + 1) {
      this.idBuf = new Int32Array(k + 1);
      this.keyBuf = new Float64Array(k + 1);
    }
  }
}

/** Writes scores [n, m] transposed into ws.transposed [m, n]. Done once per call, reused by every iteration. */
export function transposeInto(scores: Float32Array, n: number, m: number, ws: DualWorkspace): void {
  const t = ws.transposed;
  // Blocked over rows so that both the read and the write stay cache-friendly.
  const B = 64;
  for (let i0 = 0; i0 < n; i0 += B) {
    const i1 = Math.min(n, i0 + B);
    for (let j = 0; j < m; j++) {
      const dst = j * n;
      for (let i = i0; i < i1; i++) t[dst + i] = scores[i * m + j];
    }
  }
}

/**
 * Row step: p_i = (k+1)-th largest of (s_ij − q_j), truncated at 0 if asked. Writes ws.p, and the
 * untruncated values to ws.pRaw with the q they were computed from (ws.qAtP).
 *
 * Speed-up, exact: if q moved by at most δ = max_j |q_j − qAtP_j| since the last row step on these
 * scores, every key moved by at most δ, so the (k+1)-th largest is at least pRaw_i − δ: a floor that
 * lets the selection skip most keys at once.
 */
export function rowStep(scores: Float32Array, n: number, m: number, k: number, q: Float64Array, truncate: boolean, ws: DualWorkspace): void {
  const p = ws.p;
  const pRaw = ws.pRaw;
  const delta = ws.pValid ? maxAbsDiff(q, ws.qAtP) : Infinity;
  const negQ = ws.negQ;
  for (let j = 0; j < m; j++) negQ[j] = -q[j];
  for (let i = 0; i < n; i++) {
    const floor = delta === Infinity ? -Infinity : pRaw[i] - delta - FLOOR_EPS * (1 + Math.abs(pRaw[i]));
    const v = topKRowShifted(scores, i * m, m, negQ, k + 1, ws.idBuf, ws.keyBuf, floor);
    pRaw[i] = v;
    p[i] = truncate && v < 0 ? 0 : v;
  }
  ws.qAtP.set(q);
  ws.pValid = true;
}

/** Slack for floating-point rounding in the floor bound (keys are float64 sums of two terms). */
const FLOOR_EPS = 1e-12;

export function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let d = 0;
  for (let j = 0; j < a.length; j++) {
    const x = Math.abs(a[j] - b[j]);
    if (x > d) d = x;
  }
  return d;
}

/**
 * Per-token floors for the final top-k with the current q: the k-th largest key is at least the
 * (k+1)-th, which is at least pRaw_i − δ. Null when no row step has run on these scores.
 */
export function routingFloors(q: Float64Array, n: number, ws: DualWorkspace): Float64Array | null {
  if (!ws.pValid || ws.n !== n) return null;
  const delta = maxAbsDiff(q, ws.qAtP);
  const f = ws.floors;
  for (let i = 0; i < n; i++) f[i] = ws.pRaw[i] - delta - FLOOR_EPS * (1 + Math.abs(ws.pRaw[i]));
  return f;
}

/**
 * Column step: q_j = (c+1)-th largest over i of (s_ij − p_i), truncated at 0 if asked. Needs
 * ws.transposed filled. When c + 1 > n the capacity cannot bind and q_j = 0.
 */
export function columnStep(n: number, m: number, c: number, q: Float64Array, truncate: boolean, ws: DualWorkspace): void {
  const t = ws.transposed;
  const col = ws.column;
  const p = ws.p;
  for (let j = 0; j < m; j++) {
    const v = columnKthLargest(t, j * n, p, n, c + 1, col, ws.sample);
    q[j] = v === -Infinity ? 0 : truncate && v < 0 ? 0 : v;
  }
}

const SAMPLE = 256;

/**
 * The r-th largest of (t[base + i] − p[i]) over i < n. Exact, but faster than a plain quickselect
 * when r ≪ n (the usual case, r/n ≈ k/m): a strided sample of SAMPLE values gives a threshold safely
 * below the r-th largest, one pass keeps only the values above it, and quickselect finishes on those.
 * If the sample misjudged (fewer than r kept), fall back to quickselect on the whole column.
 */
function columnKthLargest(t: Float32Array, base: number, p: Float64Array, n: number, r: number, buf: Float64Array, sample: Float64Array): number {
  if (r > n) return -Infinity;
  if (n >= 8 * SAMPLE && r * 4 < n) {
    const stride = Math.floor(n / SAMPLE);
    for (let s = 0; s < SAMPLE; s++) {
      const i = s * stride;
      sample[s] = t[base + i] - p[i];
    }
    // Expected rank of the target in the sample, plus a 4-sigma margin (binomial), so that the
    // threshold lies below the true r-th largest with overwhelming probability.
    const expected = (r * SAMPLE) / n;
    const rank = Math.min(SAMPLE, Math.ceil(expected + 4 * Math.sqrt(expected) + 4));
    const thr = kthLargest(sample, SAMPLE, rank);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const v = t[base + i] - p[i];
      if (v >= thr) buf[kept++] = v;
    }
    if (kept >= r) return kthLargest(buf, kept, r);
  }
  for (let i = 0; i < n; i++) buf[i] = t[base + i] - p[i];
  return kthLargest(buf, n, r);
}

/**
 * T dual iterations of Algorithm 1 (lines: p-update, q-update), updating q in place, warm-started
 * from the q passed in. Pure apart from q and the workspace. truncateP / truncateQ apply max(0, ·) to
 * p (tokens: the paper's Σ_j x_ij ≤ k) and to q (experts: Σ_i x_ij ≤ c).
 */
export function dualIterations(
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  q: Float64Array,
  iters: number,
  truncateP: boolean,
  truncateQ: boolean,
  ws: DualWorkspace,
): void {
  ws.ensure(n, m, k);
  ws.pValid = false; // new scores: no floor from an earlier call
  transposeInto(scores, n, m, ws);
  const c = capacity(n, m, k);
  for (let t = 0; t < iters; t++) {
    rowStep(scores, n, m, k, q, truncateP, ws);
    columnStep(n, m, c, q, truncateQ, ws);
  }
}
