/**
 * createBalancer(method, options): one balancer object for one MoE layer, with its options checked
 * up front (an unknown method or option, or a value of the wrong type, is an InputError here, never a
 * surprise mid-run). The exact optimum needs the LP solver loaded: use createOptimalBalancer().
 */
import { AuxLossBalancer, type AuxLossOptions } from './auxLoss.ts';
import { BipBalancer, type BipOptions } from './bip.ts';
import { InputError } from './errors.ts';
import { LossFreeBalancer, type LossFreeOptions } from './lossFree.ts';
import { QuantileBalancer, type QuantileOptions } from './quantile.ts';
import { TopKBalancer } from './topk.ts';
import type { Balancer } from './types.ts';

export type { AuxLossOptions, BipOptions, LossFreeOptions, QuantileOptions };

/** Methods createBalancer makes synchronously ('optimal' needs createOptimalBalancer). */
export const SYNC_METHODS = ['topk', 'bip', 'lossfree', 'quantile', 'auxloss'] as const;

export function createBalancer(method: string, options: Record<string, unknown> = {}): Balancer {
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
    case 'optimal':
      throw new InputError(`method 'optimal' needs the LP solver: use 'await createOptimalBalancer()'`);
    default:
      throw new InputError(`unknown method '${method}' (methods: ${[...SYNC_METHODS, 'optimal'].join(', ')})`);
  }
}
