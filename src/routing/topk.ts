/**
 * Plain top-k routing (no balancing): every token goes to its k highest-scoring experts. The baseline
 * every metric is read against (algorithms.md §6). Stateless.
 */
import { assignTopK } from './assign.ts';
import { resolveOptions } from './registry.ts';
import { checkedKernels, type KernelChoice } from './wasm/choice.ts';
import { InputError } from './errors.ts';
import type { Balancer, BalancerState, RouteResult } from './types.ts';

/** Pure function: top-k of the scores per token (no input checks; the class checks). */
export function topk(scores: Float32Array, n: number, m: number, k: number): RouteResult {
  return assignTopK(scores, n, m, k, null, 1);
}

export interface TopKOptions {
  /** 'auto' (default), 'wasm' or 'typescript': which implementation runs (identical results; wasm/choice.ts). */
  kernels?: KernelChoice;
}

export class TopKBalancer implements Balancer {
  readonly method = 'topk' as const;
  readonly kernels: KernelChoice;

  constructor(options: TopKOptions = {}) {
    this.kernels = (resolveOptions('topk', options as Record<string, unknown>) as Required<TopKOptions>).kernels;
  }

  route(scores: Float32Array, n: number, m: number, k: number): RouteResult {
    const kernels = checkedKernels(this.kernels, scores, n, m, k);
    return kernels ? kernels.topk(scores, n, m, k) : topk(scores, n, m, k);
  }

  getState(): BalancerState {
    return {};
  }

  setState(state: BalancerState): void {
    const keys = Object.keys(state);
    if (keys.length > 0) throw new InputError(`topk state must be {} (it has no state), got keys: ${keys.join(', ')}`);
  }

  reset(): void {}
}
