/**
 * createBalancer(method, options): one balancer object for one MoE layer, with its options checked
 * up front (an unknown method or option, or a value of the wrong type, is an InputError here, never a
 * surprise mid-run). The exact optimum needs the LP solver loaded: use createOptimalBalancer().
 *
 * Options every method takes on top of its own: `capacityFactor` and `dropPolicy` (capacity with
 * dropping, capacityFactor.ts; for expertchoice capacityFactor sets its capacity and nothing is dropped),
 * and for topk, lossfree and bip `groups` and `topkGroups` (group-limited routing, groupLimited.ts).
 */
import { AuxLossBalancer, type AuxLossOptions } from './auxLoss.ts';
import { BipBalancer, type BipOptions } from './bip.ts';
import { CapacityBalancer, readCapacityOptions, type CapacityOptions } from './capacityFactor.ts';
import { InputError } from './errors.ts';
import { ExactBalancer, type ExactOptions } from './exact.ts';
import { ExpertChoiceBalancer, type ExpertChoiceOptions } from './expertChoice.ts';
import { GroupLimitedBalancer, readGroupOptions, type GroupMethod, type GroupOptions } from './groupLimited.ts';
import { LossFreeBalancer, type LossFreeOptions } from './lossFree.ts';
import { OnlineBalancer, type OnlineOptions } from './online.ts';
import { QuantileBalancer, type QuantileOptions } from './quantile.ts';
import { SinkhornBalancer, type SinkhornOptions } from './sinkhorn.ts';
import { TopKBalancer } from './topk.ts';
import type { Balancer } from './types.ts';

export type { AuxLossOptions, BipOptions, CapacityOptions, ExactOptions, ExpertChoiceOptions, GroupOptions, LossFreeOptions, OnlineOptions, QuantileOptions, SinkhornOptions };

/** Methods createBalancer makes synchronously ('optimal' needs createOptimalBalancer). */
export const SYNC_METHODS = ['topk', 'bip', 'lossfree', 'quantile', 'auxloss', 'sinkhorn', 'expertchoice', 'online', 'exact'] as const;

function createPlain(method: string, options: Record<string, unknown>): Balancer {
  switch (method) {
    case 'topk':
      return new TopKBalancer(options);
    case 'bip':
      return new BipBalancer(options as BipOptions);
    case 'lossfree':
      return new LossFreeBalancer(options as LossFreeOptions);
    case 'quantile':
      return new QuantileBalancer(options as QuantileOptions);
    case 'auxloss':
      return new AuxLossBalancer(options as AuxLossOptions);
    case 'sinkhorn':
      return new SinkhornBalancer(options as SinkhornOptions);
    case 'expertchoice':
      return new ExpertChoiceBalancer(options as ExpertChoiceOptions);
    case 'online':
      return new OnlineBalancer(options as OnlineOptions);
    case 'exact':
      return new ExactBalancer(options as ExactOptions);
    case 'optimal':
      throw new InputError(`method 'optimal' needs the LP solver: use 'await createOptimalBalancer()'`);
    default:
      throw new InputError(`unknown method '${method}' (methods: ${[...SYNC_METHODS, 'optimal'].join(', ')})`);
  }
}

export function createBalancer(method: string, options: Record<string, unknown> = {}): Balancer {
  if (method === 'expertchoice') {
    if (options.dropPolicy !== undefined) throw new InputError(`expertchoice drops nothing: option 'dropPolicy' does not apply (capacityFactor sets its capacity)`);
    if (options.groups !== undefined || options.topkGroups !== undefined) readGroupOptions(method, options);
    return createPlain(method, options);
  }
  const { capacityFactor, dropPolicy, groups, topkGroups, ...own } = options;
  const group = readGroupOptions(method, { groups, topkGroups } as GroupOptions);
  const cap = readCapacityOptions(method, { capacityFactor, dropPolicy } as CapacityOptions);
  const inner = group ? new GroupLimitedBalancer(method as GroupMethod, own, group.groups, group.topkGroups) : createPlain(method, own);
  return cap ? new CapacityBalancer(inner, cap.factor, cap.policy) : inner;
}
