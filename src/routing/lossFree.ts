/**
 * Loss-Free Balancing (Wang et al. 2024, arXiv 2408.15664; DeepSeek-V3; algorithms.md §3).
 *
 * State: an expert bias b ∈ R^m, starting at 0. Tokens go to the top-k of (s_ij + b_j); the combine
 * weights are the unbiased s. After the batch (causal: the batch is routed with the previous b):
 *     sign   (default):  b_j += u · sign(c̄ − c_j)               c_j = tokens routed to j, c̄ = n·k/m
 *     linear          :  b_j += u · (c̄ − c_j) / (n·k)           the same with loads as fractions of n·k
 * Default u = 0.001 (the paper's).
 */
import { assignTopK } from './assign.ts';
import { resolveOptions } from './registry.ts';
import { readStateVector, stateVectorJson, stateVectorFor } from './validate.ts';
import { checkedKernels, type KernelChoice } from './wasm/choice.ts';
import type { Balancer, BalancerState, RouteCallOptions, RouteResult } from './types.ts';

export type LossFreeUpdate = 'sign' | 'linear';

export interface LossFreeOptions {
  /** Update rate u (default 0.001). */
  rate?: number;
  /** 'sign' (default) or 'linear'. */
  update?: LossFreeUpdate;
  /** 'auto' (default), 'wasm' or 'typescript': which implementation runs (identical results; wasm/choice.ts). */
  kernels?: KernelChoice;
}

/** One bias update from a batch's loads, in place (the rule above). */
export function lossFreeUpdate(b: Float64Array, loads: Int32Array, n: number, k: number, rate: number, update: LossFreeUpdate): void {
  const m = b.length;
  const mean = (n * k) / m;
  for (let j = 0; j < m; j++) {
    const e = mean - loads[j];
    b[j] += update === 'sign' ? rate * Math.sign(e) : (rate * e) / (n * k);
  }
}

export class LossFreeBalancer implements Balancer {
  readonly method = 'lossfree' as const;
  readonly rate: number;
  readonly update: LossFreeUpdate;
  readonly kernels: KernelChoice;
  private b: Float64Array | null = null;

  constructor(options: LossFreeOptions = {}) {
    const o = resolveOptions('lossfree', options as Record<string, unknown>) as Required<LossFreeOptions>;
    this.rate = o.rate;
    this.update = o.update;
    this.kernels = o.kernels;
  }

  route(scores: Float32Array, n: number, m: number, k: number, opts: RouteCallOptions = {}): RouteResult {
    const kernels = checkedKernels(this.kernels, scores, n, m, k);
    const b = (this.b = stateVectorFor(this.b, m, 'lossfree', 'b'));
    // Key s_ij + b_j: the wasm kernels take the shift as is (assignTopK's sign 1).
    const result = kernels ? kernels.topkShifted(scores, n, m, k, b) : assignTopK(scores, n, m, k, b, 1);
    if (opts.update ?? true) lossFreeUpdate(b, result.loads, n, k, this.rate, this.update);
    return result;
  }

  getState(): BalancerState {
    return { b: stateVectorJson(this.b) };
  }

  setState(state: BalancerState): void {
    this.b = readStateVector(state, 'b', this.b, 'lossfree');
  }

  reset(): void {
    this.b = null;
  }
}
