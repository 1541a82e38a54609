/**
 * Expert Choice routing (Zhou et al. 2022, "Mixture-of-Experts with Expert Choice Routing",
 * arXiv 2202.09368). Stateless and non-causal (an expert's choice depends on the whole batch, like
 * BIP's default order).
 *
 *     c = ⌈f · k·n/m⌉  (at most n)          per-expert capacity; f = capacityFactor (default 1), so the
 *                                           mean number of experts per token is k, as in top-k routing
 *     expert j takes the c tokens with the largest s_ij  (ties: the lower token index)
 *     loads are exactly c; a token gets 0..m experts (those that chose it, best score first, ties lower id)
 *     combine weight of a pair = s_ij itself, not renormalised (the paper's gating matrix G = TopK(S))
 *
 * The result is ragged (RouteResult.offsets). A token no expert chose passes through the residual only.
 */
import { expertCapacity } from './capacityFactor.ts';
import { offsetsFromCounts } from './ragged.ts';
import { kthLargest } from './select.ts';
import { resolveOptions } from './registry.ts';
import { checkEmptyState, validateRouteInput } from './validate.ts';
import type { Balancer, BalancerState, RouteResult } from './types.ts';

export interface ExpertChoiceOptions {
  /** f in c = ⌈f·k·n/m⌉ (default 1). */
  capacityFactor?: number;
}

/** Expert Choice routing of one batch (no input checks). */
export function expertChoice(scores: Float32Array, n: number, m: number, k: number, factor = 1): RouteResult {
  const c = Math.min(n, expertCapacity(n, m, k, factor));
  const chosen = new Uint8Array(n * m);
  const column = new Float64Array(n);
  const counts = new Int32Array(n);
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < n; i++) column[i] = scores[i * m + j];
    // thr = the c-th largest score of column j: every larger score is in, equal ones by token order.
    const thr = c > 0 ? kthLargest(column, n, c) : Infinity;
    let above = 0;
    for (let i = 0; i < n; i++) if (scores[i * m + j] > thr) above++;
    let ties = c - above;
    for (let i = 0; i < n; i++) {
      const s = scores[i * m + j];
      if (s > thr || (s === thr && ties-- > 0)) {
        chosen[i * m + j] = 1;
        counts[i]++;
      }
    }
  }
  const offsets = offsetsFromCounts(counts);
  const experts = new Int32Array(offsets[n]);
  const weights = new Float32Array(offsets[n]);
  const loads = new Int32Array(m).fill(c);
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    ids.length = 0;
    for (let j = 0; j < m; j++) if (chosen[i * m + j]) ids.push(j);
    ids.sort((x, y) => scores[i * m + y] - scores[i * m + x] || x - y);
    for (let t = 0; t < ids.length; t++) {
      experts[offsets[i] + t] = ids[t];
      weights[offsets[i] + t] = scores[i * m + ids[t]];
    }
  }
  return { n, m, k, experts, weights, loads, offsets };
}

export class ExpertChoiceBalancer implements Balancer {
  readonly method = 'expertchoice' as const;
  readonly capacityFactor: number;

  constructor(options: ExpertChoiceOptions = {}) {
    this.capacityFactor = resolveOptions('expertchoice', options as Record<string, unknown>).capacityFactor as number;
  }

  route(scores: Float32Array, n: number, m: number, k: number): RouteResult {
    validateRouteInput(scores, n, m, k);
    return expertChoice(scores, n, m, k, this.capacityFactor);
  }

  getState(): BalancerState {
    return {};
  }

  setState(state: BalancerState): void {
    checkEmptyState('expertchoice', state);
  }

  reset(): void {}
}
