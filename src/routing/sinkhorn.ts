/**
 * Sinkhorn balancing (S-BASE: Clark et al. 2022, "Unified Scaling Laws for Routed Language Models",
 * arXiv 2202.01169; Megatron-LM's `sinkhorn` router). Stateless.
 *
 *     K_ij = exp(ℓ_ij / τ),   ℓ_ij = log s_ij                    (softmax scores: ℓ = logits − a row constant,
 *                                                                  which the row scaling absorbs exactly)
 *     P = diag(a) K diag(b) with row sums k and column sums c̄ = k·n/m, by Sinkhorn-Knopp:
 *         a_i = k / Σ_j K_ij b_j      (row pass)      b_j = c̄ / Σ_i a_i K_ij      (column pass)
 *     until max_j |Σ_i P_ij − c̄| / c̄ ≤ tol after a row pass, or `iters` iterations (each ends with the
 *     column update); a last row pass makes the rows exact
 *     selection: top-k of row i of P (= top-k of ℓ_ij/τ + log b_j: a_i is a row constant)
 *     combine weights: the ORIGINAL scores of the chosen experts, renormalised when k > 1 (as Megatron
 *     gathers the gate output at the Sinkhorn indices)
 *
 * One iteration is one row pass and one column pass over the n x m kernel (BIP's dual iteration is also
 * one row and one column pass), so `iters` is directly comparable to BIP's T; with the kernel, the last
 * row pass (with P and the keys) and the top-k, a call makes 2·iters + 3 passes (BIP: 2T + 1).
 * Defaults: iters 100 (Megatron iterates to tol without a cap), tau 1 (Megatron: exp of the raw logits),
 * tol 1e-4 (Megatron's; it measures the mean change of b, we measure the column sums themselves).
 * Finite on any input: scores ≤ 1e-30 (zero, negative) count as 1e-30; K is taken relative to the row
 * maximum (a row constant) and floored at 1e-200; b is rescaled to max 1 after each column pass (a
 * common factor of b moves into a at the next row pass), so a, b and P stay finite.
 * As τ → 0 (with enough iterations) P tends to the optimum of the transport LP max Σ ℓ_ij x_ij subject to
 * the same row and column sums; for k = 1 and m | n that is the LP of optimal.ts on the log-scores.
 * For a sigmoid gate, log s is not the logits up to a row constant: the kernel is s^(1/τ) then.
 */
import { writeWeights } from './assign.ts';
import { topKRowPlain } from './select.ts';
import { resolveOptions } from './registry.ts';
import { checkEmptyState, validateRouteInput } from './validate.ts';
import type { Balancer, BalancerState, RouteResult } from './types.ts';

export interface SinkhornOptions {
  /** Maximum iterations (one row pass + one column pass each), default 100. */
  iters?: number;
  /** Temperature τ of the kernel exp(ℓ/τ), default 1. */
  tau?: number;
  /** Stop when every column sum is within tol·c̄ of c̄ (relative), default 1e-4. */
  tol?: number;
}

const TINY_SCORE = 1e-30;
const K_FLOOR = 1e-200;

/** The normalised matrix P = diag(a) K diag(b) and how the iterations ended. */
export interface SinkhornPlan {
  /** log K_ij + log b_j (n*m): the selection key (log P_ij up to the row constant log a_i). */
  keys: Float32Array;
  /** P (n*m), float64. */
  P: Float64Array;
  /** Iterations run (a row and a column pass each; the column update is skipped once converged). */
  iters: number;
  /** max_j |Σ_i P_ij − c̄| / c̄ at the end. */
  colError: number;
  /** max_i |Σ_j P_ij − k| / k at the end. */
  rowError: number;
}

/** Sinkhorn-Knopp scaling of exp(log s / τ) to row sums k and column sums k·n/m (no input checks). */
export function sinkhornPlan(scores: Float32Array, n: number, m: number, k: number, iters: number, tau: number, tol: number): SinkhornPlan {
  const cbar = (k * n) / m;
  const logK = new Float64Array(n * m);
  const K = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const o = i * m;
    let max = -Infinity;
    for (let j = 0; j < m; j++) {
      const l = Math.log(Math.max(scores[o + j], TINY_SCORE)) / tau;
      logK[o + j] = l;
      if (l > max) max = l;
    }
    for (let j = 0; j < m; j++) {
      logK[o + j] -= max;
      K[o + j] = Math.max(Math.exp(logK[o + j]), K_FLOOR);
    }
  }
  const a = new Float64Array(n);
  const b = new Float64Array(m).fill(1);
  const col = new Float64Array(m);
  const rowPass = () => {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += K[i * m + j] * b[j];
      a[i] = k / s;
    }
  };
  let done = 0;
  for (let t = 0; t < iters; t++) {
    done = t + 1;
    // Row pass: a_i = k / Σ_j K_ij b_j.
    rowPass();
    // Column pass: the column sums of diag(a) K (times b: those of P), the stopping test, then b.
    col.fill(0);
    for (let i = 0; i < n; i++) {
      const ai = a[i];
      for (let j = 0; j < m; j++) col[j] += ai * K[i * m + j];
    }
    let err = 0;
    for (let j = 0; j < m; j++) err = Math.max(err, Math.abs(col[j] * b[j] - cbar) / cbar);
    if (err <= tol) break;
    let bmax = 0;
    for (let j = 0; j < m; j++) {
      b[j] = cbar / col[j];
      if (b[j] > bmax) bmax = b[j];
    }
    for (let j = 0; j < m; j++) b[j] = Math.max(b[j] / bmax, K_FLOOR);
  }
  // Final pass: a for the last b (rows exact), P, the selection keys and the column sums reached.
  rowPass();
  const P = new Float64Array(n * m);
  const keys = new Float32Array(n * m);
  const logB = b.map(Math.log);
  col.fill(0);
  let rowError = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < m; j++) {
      const x = i * m + j;
      P[x] = a[i] * K[x] * b[j];
      s += P[x];
      col[j] += P[x];
      keys[x] = logK[x] + logB[j];
    }
    rowError = Math.max(rowError, Math.abs(s - k) / k);
  }
  let colError = 0;
  for (let j = 0; j < m; j++) colError = Math.max(colError, Math.abs(col[j] - cbar) / cbar);
  return { keys, P, iters: done, colError, rowError };
}

/** Sinkhorn routing of one batch (no input checks): top-k of the normalised matrix, original-score weights. */
export function sinkhorn(scores: Float32Array, n: number, m: number, k: number, iters = 100, tau = 1, tol = 1e-4): RouteResult & { plan: SinkhornPlan } {
  const plan = sinkhornPlan(scores, n, m, k, iters, tau, tol);
  const experts = new Int32Array(n * k);
  const weights = new Float32Array(n * k);
  const loads = new Int32Array(m);
  const idBuf = new Int32Array(k);
  const keyBuf = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    topKRowPlain(plan.keys, i * m, m, k, idBuf, keyBuf);
    for (let t = 0; t < k; t++) {
      experts[i * k + t] = idBuf[t];
      loads[idBuf[t]]++;
    }
    writeWeights(scores, i, m, k, experts, weights);
  }
  return { n, m, k, experts, weights, loads, plan };
}

export class SinkhornBalancer implements Balancer {
  readonly method = 'sinkhorn' as const;
  readonly iters: number;
  readonly tau: number;
  readonly tol: number;
  /** How the last call's iterations ended (iterations run, column and row sum errors). */
  last: { iters: number; colError: number; rowError: number } | null = null;

  constructor(options: SinkhornOptions = {}) {
    const o = resolveOptions('sinkhorn', options as Record<string, unknown>) as Required<SinkhornOptions>;
    this.iters = o.iters;
    this.tau = o.tau;
    this.tol = o.tol;
  }

  route(scores: Float32Array, n: number, m: number, k: number): RouteResult {
    validateRouteInput(scores, n, m, k);
    const { plan, ...routing } = sinkhorn(scores, n, m, k, this.iters, this.tau, this.tol);
    this.last = { iters: plan.iters, colError: plan.colError, rowError: plan.rowError };
    return routing;
  }

  getState(): BalancerState {
    return {};
  }

  setState(state: BalancerState): void {
    checkEmptyState('sinkhorn', state);
  }

  reset(): void {}
}
