/**
 * createBalancer(method, options): one balancer object for one MoE layer, with its options checked
 * up front (an unknown method or option, or a value of the wrong type, is an InputError here, never a
 * surprise mid-run). Methods, options and constructors are the registry's (registry.ts); the options
 * every method takes on top of its own (capacityFactor, dropPolicy; groups, topkGroups for topk,
 * lossfree and bip) are declared there too.
 */
import { InputError } from './errors.ts';
import { getMethod, METHODS, resolveOptions } from './registry.ts';
import type { Balancer } from './types.ts';

/** Methods createBalancer builds synchronously (all but those that load something first, such as optimal). */
export const SYNC_METHODS: readonly string[] = METHODS.filter((e) => !e.asyncOnly).map((e) => e.name);

/** One balancer, built synchronously; a method that must load something first (optimal) is an error naming createBalancerAsync. */
export function createBalancer(method: string, options: Record<string, unknown> = {}): Balancer {
  const e = getMethod(method);
  if (e.asyncOnly) throw new InputError(e.asyncOnly);
  return e.create(options) as Balancer;
}

/** createBalancer for every method, including those that load something first (optimal: the LP solver). */
export async function createBalancerAsync(method: string, options: Record<string, unknown> = {}): Promise<Balancer> {
  const e = getMethod(method);
  resolveOptions(method, options);
  return e.create(options);
}
