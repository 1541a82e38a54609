/**
 * `simulate --shards W`: next to each method's single-process balancer, W sharded balancers
 * (routing/sharded.ts) route the same batch split into W near-equal contiguous shards. Every step and
 * layer, the sharded experts and state must equal the single-process ones exactly (else the run stops
 * with the place it diverged), and the bytes each shard sent are recorded: the communication cost of
 * the method on a cluster of W data-parallel ranks.
 */
import { InputError } from '../routing/errors.ts';
import { createShardedBalancer, evenShardSizes, routeSharded, SHARDED_METHODS, type ShardedBalancer } from '../routing/sharded.ts';
import type { Balancer, RouteResult } from '../routing/types.ts';
import type { MethodSpec } from '../routing/registry.ts';

/**
 * Per method and layer, W sharded balancers; null for a method without a sharded form (optimal,
 * sinkhorn, expertchoice, online, and any method with capacity dropping or groups): not checked.
 */
export function createShardSets(methods: readonly MethodSpec[], layers: number, W: number): (ShardedBalancer[] | null)[][] {
  return methods.map((spec) => {
    if (!(SHARDED_METHODS as readonly string[]).includes(spec.method)) return Array.from({ length: layers }, () => null);
    try {
      return Array.from({ length: layers }, () => Array.from({ length: W }, () => createShardedBalancer(spec.method, spec.options)));
    } catch (e) {
      // The options were checked by the single-process balancers already: this is a wrapper (capacity, groups).
      if (e instanceof InputError) return Array.from({ length: layers }, () => null);
      throw e;
    }
  });
}

/** What one sharded route call exchanged: the most bytes any shard sent, and the collectives run. */
export interface ShardCost {
  bytes: number;
  rounds: number;
}

/**
 * Routes the batch with the shards and checks it against the single-process result and state.
 * Throws an InputError naming the method, step, layer and first differing token or state entry.
 */
export function checkShards(shards: ShardedBalancer[], single: Balancer, want: RouteResult, scores: Float32Array, where: string): ShardCost {
  const { n, m, k } = want;
  const { result, comm } = routeSharded(shards, scores, n, m, k, evenShardSizes(n, shards.length));
  for (let a = 0; a < n * k; a++) {
    if (result.experts[a] !== want.experts[a]) {
      throw new InputError(`${where}: sharded routing differs from the single-process one at token ${Math.floor(a / k)}`);
    }
  }
  const state = single.getState();
  for (const [key, v] of Object.entries(shards[0].getState())) {
    const j = v.findIndex((x, i) => !Object.is(x, state[key][i]));
    if (j >= 0) throw new InputError(`${where}: sharded ${key}[${j}] = ${v[j]} differs from the single-process ${state[key][j]}`);
  }
  return { bytes: Math.max(...comm.bytesSent), rounds: comm.rounds };
}
