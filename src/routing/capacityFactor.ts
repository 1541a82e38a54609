/**
 * Capacity factor with token dropping, as an option of any method (Switch Transformer, Fedus et al. 2021;
 * GShard, Lepikhin et al. 2020; Megatron-LM's `moe_expert_capacity_factor` and `moe_token_drop_policy`).
 *
 *     C = ⌈f · k·n/m⌉                       capacity of every expert (f = capacityFactor; Megatron's get_capacity)
 *     expert j keeps at most C of the tokens the method routed to it; the other pairs are dropped:
 *       policy 'score'    (default): keep the C pairs with the largest score s_ij (Megatron 'probs');
 *                                    ties go to the lower token index
 *       policy 'position'           : keep the first C tokens in batch order (Switch/GShard, Megatron 'position')
 *     dropped = Σ_j max(0, load_j − C)       exactly; a dropped pair adds nothing to its token's output (the
 *                                            token passes through the residual only for that expert)
 *
 * Kept pairs keep their pre-drop combine weight (the dropped share is lost, not redistributed, as in
 * Switch and Megatron). The wrapped method's state is updated from its own (pre-drop) routing. The result
 * is ragged (RouteResult.offsets) and records `dropped` and the pre-drop ids (`preDrop`).
 */
import { pairEnd, pairStart, pairTokens } from './ragged.ts';
import type { Balancer, BalancerState, RouteCallOptions, RouteResult } from './types.ts';

export type DropPolicy = 'score' | 'position';

export interface CapacityOptions {
  /** f in C = ⌈f·k·n/m⌉ (> 0). */
  capacityFactor?: number;
  /** 'score' (default) or 'position'. */
  dropPolicy?: DropPolicy;
}

/** ⌈factor·k·n/m⌉, where a product within 1e-9 of an integer counts as that integer (3·7/21 = 0.999…). */
export function expertCapacity(n: number, m: number, k: number, factor = 1): number {
  const exact = (factor * k * n) / m;
  const r = Math.round(exact);
  return Math.abs(exact - r) < 1e-9 ? r : Math.ceil(exact);
}

/**
 * Drops the pairs over capacity `cap` from a routing (either layout). Returns a ragged routing whose
 * loads are min(load_j, cap) and whose `dropped` is Σ_j max(0, load_j − cap).
 */
export function dropOverCapacity(scores: Float32Array, routing: RouteResult, cap: number, policy: DropPolicy): RouteResult {
  const { n, m, k, experts, weights } = routing;
  const total = experts.length;
  const tokens = pairTokens(routing);
  // Pairs grouped by expert, in pair order (= token order) within each expert.
  const counts = new Int32Array(m);
  for (let a = 0; a < total; a++) counts[experts[a]]++;
  const start = new Int32Array(m + 1);
  for (let j = 0; j < m; j++) start[j + 1] = start[j] + counts[j];
  const next = start.slice(0, m);
  const byExpert = new Int32Array(total);
  for (let a = 0; a < total; a++) byExpert[next[experts[a]]++] = a;
  const keep = new Uint8Array(total);
  let dropped = 0;
  for (let j = 0; j < m; j++) {
    const bucket = Array.from(byExpert.subarray(start[j], start[j + 1]));
    if (policy === 'score' && bucket.length > cap) {
      bucket.sort((a, b) => scores[tokens[b] * m + j] - scores[tokens[a] * m + j] || tokens[a] - tokens[b]);
    }
    for (let x = 0; x < bucket.length; x++) keep[bucket[x]] = x < cap ? 1 : 0;
    if (bucket.length > cap) dropped += bucket.length - cap;
  }
  const offsets = new Int32Array(n + 1);
  const kept = total - dropped;
  const outExperts = new Int32Array(kept);
  const outWeights = new Float32Array(kept);
  const loads = new Int32Array(m);
  let o = 0;
  for (let i = 0; i < n; i++) {
    for (let a = pairStart(routing, i); a < pairEnd(routing, i); a++) {
      if (!keep[a]) continue;
      outExperts[o] = experts[a];
      outWeights[o] = weights[a];
      loads[experts[a]]++;
      o++;
    }
    offsets[i + 1] = o;
  }
  const preDrop = routing.offsets ? routing.preDrop : experts;
  return { n, m, k, experts: outExperts, weights: outWeights, loads, offsets, dropped, ...(preDrop ? { preDrop } : {}) };
}

/** Any balancer with a capacity limit: routes with the inner balancer, then drops the pairs over capacity. */
export class CapacityBalancer implements Balancer {
  constructor(
    readonly inner: Balancer,
    readonly factor: number,
    readonly policy: DropPolicy,
  ) {}

  get method(): Balancer['method'] {
    return this.inner.method;
  }

  route(scores: Float32Array, n: number, m: number, k: number, opts?: RouteCallOptions): RouteResult {
    const routed = this.inner.route(scores, n, m, k, opts);
    // Spread first: extra outputs of the inner method (auxloss's auxLoss and auxGrad) are kept.
    return { ...routed, ...dropOverCapacity(scores, routed, expertCapacity(n, m, k, this.factor), this.policy) };
  }

  getState(): BalancerState {
    return this.inner.getState();
  }

  setState(state: BalancerState): void {
    this.inner.setState(state);
  }

  reset(): void {
    this.inner.reset();
  }
}
