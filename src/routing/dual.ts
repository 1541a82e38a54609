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
import { kthLargest, topKRow } from './select.ts';

/** Reusable buffers, so a balancer allocates once per shape rather than once per call. */
export class DualWorkspace {
  n = 0;
  m = 0;
  transposed = new Float32Array(0); // [m, n]
  column = new Float64Array(0); // [n], float64 so that q_j = s_ij − p_i is exact for dyadic inputs
  p = new Float64Array(0); // [n]
  idBuf = new Int32Array(0);
  keyBuf = new Float64Array(0);

  ensure(n: number, m: number, k: number): void {
    if (this.n !== n || this.m !== m) {
      this.transposed = new Float32Array(n * m);
      this.column = new Float64Array(n);
      this.p = new Float64Array(n);
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

/** Row step: p_i = (k+1)-th largest of (s_ij − q_j), truncated at 0 if asked. Writes ws.p. */
export function rowStep(scores: Float32Array, n: number, m: number, k: number, q: Float64Array, truncate: boolean, ws: DualWorkspace): void {
  const p = ws.p;
  for (let i = 0; i < n; i++) {
    const v = topKRow(scores, i, m, q, -1, k + 1, ws.idBuf, ws.keyBuf);
    p[i] = truncate && v < 0 ? 0 : v;
  }
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
    const base = j * n;
    for (let i = 0; i < n; i++) col[i] = t[base + i] - p[i];
    const v = kthLargest(col, n, c + 1);
    q[j] = v === -Infinity ? 0 : truncate && v < 0 ? 0 : v;
  }
}

/**
 * T dual iterations of Algorithm 1 (lines: p-update, q-update), updating q in place, warm-started
 * from the q passed in. Pure apart from q and the workspace.
 */
export function dualIterations(
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  q: Float64Array,
  iters: number,
  truncate: boolean,
  ws: DualWorkspace,
): void {
  ws.ensure(n, m, k);
  transposeInto(scores, n, m, ws);
  const c = capacity(n, m, k);
  for (let t = 0; t < iters; t++) {
    rowStep(scores, n, m, k, q, truncate, ws);
    columnStep(n, m, c, q, truncate, ws);
  }
}
