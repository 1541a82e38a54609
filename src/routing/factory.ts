/**
 * createBalancer(method, options): one balancer object for one MoE layer.
 * (Stub: signature fixed, implementation lands with the routing core.)
 */
import type { Balancer, MethodName } from './types.ts';

export interface BipOptions {
  /** Dual iterations per call, T (default 4). */
  iters?: number;
  /** The max(0, .) truncation of p and q (default true, the paper's). */
  truncate?: boolean;
  /** 'update-then-route' (paper, default) or 'route-then-update' (causal). */
  order?: 'update-then-route' | 'route-then-update';
}
export interface LossFreeOptions {
  /** Update rate u (default 0.001). */
  rate?: number;
  /** 'sign' (default, b += u*sign(mean - load)) or 'linear' (b += u*(mean - load) with loads as fractions). */
  update?: 'sign' | 'linear';
}
export interface QuantileOptions {
  /** 0 (default): exact quantiles; B > 0: histogram form with B bins. */
  bins?: number;
  /** Histogram range [lo, hi] of the required bias (default [-1, 1] for scores in [0, 1]). */
  range?: [number, number];
}
export interface AuxLossOptions {
  /** Loss weight alpha (default 0.1, the BIP paper's / MiniMind's). */
  alpha?: number;
  /** 'global' (default) or 'sequence' (per-sequence, then averaged). */
  form?: 'global' | 'sequence';
  /** Tokens per sequence, for form 'sequence' (n must be a multiple). */
  seqLen?: number;
}
export type BalancerOptions = BipOptions & LossFreeOptions & QuantileOptions & AuxLossOptions;

export function createBalancer(method: MethodName | string, options: Record<string, unknown> = {}): Balancer {
  void method;
  void options;
  throw new Error('not implemented yet');
}
