/**
 * Plain top-k routing (no balancing): every token goes to its k highest-scoring experts. The baseline
 * every metric is read against (algorithms.md §6). Stateless.
 */
import { assignTopK } from './assign.ts';
import { checkOptions, validateRouteInput } from './validate.ts';
import { InputError } from './errors.ts';
import type { Balancer, BalancerState, RouteResult } from './types.ts';

/** Pure function: top-k of the scores per token (no input checks; the class checks). */
export function topk(scores: Float32Array, n: number, m: number, k: number): RouteResult {
  return assignTopK(scores, n, m, k, null, 1);
}

export class TopKBalancer implements Balancer {
  readonly method = 'topk' as const;

  constructor(options: Record<string, unknown> = {}) {
    checkOptions('topk', options, []);
  }

  route(scores: Float32Array, n: number, m: number, k: number): RouteResult {
    validateRouteInput(scores, n, m, k);
    return topk(scores, n, m, k);
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
