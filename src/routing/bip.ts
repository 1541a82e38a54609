/**
 * BIP-Based Balancing (Sun 2025, arXiv 2502.15451, Algorithm 1; algorithms.md §2).
 *
 * State: q ∈ R^m (one entry per expert), starting at 0 and carried from call to call (warm start,
 * inferred). Each call runs T dual iterations of the BIP
 *     max Σ s_ij x_ij   s.t.  Σ_j x_ij ≤ k,  Σ_i x_ij ≤ c = k·n/m,  x ∈ {0,1}
 * (see dual.ts), then routes every token to the top-k of (s_ij − q_j). Combine weights are the
 * original scores of the chosen experts (renormalised when k > 1); q only reorders.
 *
 * Defaults: iters T = 4 (inferred: "a small number"), truncate = true (p, q ≥ 0 as in the paper's dual),
 * order = 'update-then-route' (the paper's: the batch is routed with the q computed from that same
 * batch). 'route-then-update' is the causal variant: route with the previous q, then update it.
 *
 * truncate = 'q' keeps q ≥ 0 but leaves p free: the dual of Σ_j x_ij = k, which is what routing does
 * (every token gets exactly k experts). Found here (simulate, warm start): with the paper's p ≥ 0, tokens
 * whose k-th largest s − q turns negative count as taking fewer than k experts, q creeps upwards from
 * batch to batch and balance degrades over long runs (drift stream, T = 4: AvgMaxVio 0.64 vs 0.10).
 * 'q' and false do not drift. The default stays the paper's.
 */
import { assignTopK } from './assign.ts';
import { DualWorkspace, dualIterations, routingFloors } from './dual.ts';
import { resolveOptions } from './registry.ts';
import { readStateVector, stateVectorJson, stateVectorFor } from './validate.ts';
import { checkedKernels, type KernelChoice } from './wasm/choice.ts';
import { DUAL_ROUTE_FIRST, DUAL_TRUNCATE_P, DUAL_TRUNCATE_Q, KernelTuning } from './wasm/kernels.ts';
import type { Balancer, BalancerState, RouteCallOptions, RouteResult } from './types.ts';

export type BipOrder = 'update-then-route' | 'route-then-update';

export interface BipOptions {
  /** Dual iterations per call, T (default 4). */
  iters?: number;
  /** The max(0, ·) truncation: true (default, the paper's: p and q), 'q' (experts only), false (none). */
  truncate?: boolean | 'q';
  /** 'update-then-route' (paper, default) or 'route-then-update' (causal). */
  order?: BipOrder;
  /** 'auto' (default), 'wasm' or 'typescript': which implementation runs (identical results; wasm/choice.ts). */
  kernels?: KernelChoice;
}

export class BipBalancer implements Balancer {
  readonly method = 'bip' as const;
  readonly iters: number;
  readonly truncate: boolean | 'q';
  readonly order: BipOrder;
  readonly kernels: KernelChoice;
  private q: Float64Array | null = null;
  private readonly ws = new DualWorkspace();
  private readonly tuning = new KernelTuning();

  constructor(options: BipOptions = {}) {
    const o = resolveOptions('bip', options as Record<string, unknown>) as Required<BipOptions>;
    this.iters = o.iters;
    this.truncate = o.truncate;
    this.order = o.order;
    this.kernels = o.kernels;
  }

  route(scores: Float32Array, n: number, m: number, k: number, opts: RouteCallOptions = {}): RouteResult {
    const kernels = checkedKernels(this.kernels, scores, n, m, k);
    const q = (this.q = stateVectorFor(this.q, m, 'bip', 'q'));
    const update = opts.update ?? true;
    if (kernels) {
      if (!update) return kernels.topkShifted(scores, n, m, k, q.map((x) => -x));
      const flags =
        (this.truncate === true ? DUAL_TRUNCATE_P : 0) | (this.truncate !== false ? DUAL_TRUNCATE_Q : 0) | (this.order === 'route-then-update' ? DUAL_ROUTE_FIRST : 0);
      return kernels.dualRoute(scores, n, m, k, q, this.iters, flags, this.tuning);
    }
    if (!update) return assignTopK(scores, n, m, k, q, -1);
    if (this.order === 'update-then-route') {
      dualIterations(scores, n, m, k, q, this.iters, this.truncate === true, this.truncate !== false, this.ws);
      return assignTopK(scores, n, m, k, q, -1, this.iters > 0 ? routingFloors(q, n, this.ws) : null);
    }
    const result = assignTopK(scores, n, m, k, q, -1);
    dualIterations(scores, n, m, k, q, this.iters, this.truncate === true, this.truncate !== false, this.ws);
    return result;
  }

  getState(): BalancerState {
    return { q: stateVectorJson(this.q) };
  }

  setState(state: BalancerState): void {
    this.q = readStateVector(state, 'q', this.q, 'bip');
  }

  reset(): void {
    this.q = null;
  }

  /** The current q (a copy), or null before the first call. */
  get qVector(): Float64Array | null {
    return this.q ? this.q.slice() : null;
  }
}
