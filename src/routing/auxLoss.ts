/**
 * Loss-Controlled balancing: plain top-k routing plus an auxiliary loss (GShard / Switch / MiniMind
 * MoEGate; algorithms.md §4).
 *
 *     global   : aux = α · Σ_j f_j · P_j,   f_j = m · (selections of j) / (n·k),   P_j = mean_i s_ij
 *     sequence : the same per sequence of `seqLen` tokens (MiniMind's seq_aux), averaged over sequences
 *
 * The gradient with respect to the scores treats f as a constant (it counts discrete selections):
 *     global   : ∂aux/∂s_ij = α · f_j / n
 *     sequence : ∂aux/∂s_ij = α · f_j^(b) / (seqLen · B)      for token i in sequence b of B
 * Invariant: a uniform router (s = 1/m, loads balanced) gives aux = α.
 * Defaults: α = 0.1 (the BIP paper's, MiniMind's; the Loss-Free paper used 0.001), form 'global'.
 */
import { assignTopK } from './assign.ts';
import { InputError } from './errors.ts';
import { resolveOptions } from './registry.ts';
import { checkEmptyState, validateRouteInput } from './validate.ts';
import type { AuxLossResult, Balancer, BalancerState, RouteResult } from './types.ts';

export type AuxLossForm = 'global' | 'sequence';

export interface AuxLossOptions {
  /** Loss weight α (default 0.1). */
  alpha?: number;
  /** 'global' (default) or 'sequence'. */
  form?: AuxLossForm;
  /** Tokens per sequence for form 'sequence' (n must be a multiple of it). */
  seqLen?: number;
}

/** The auxiliary loss of a routing and its gradient with respect to the scores. */
export function auxLoss(
  scores: Float32Array,
  routing: RouteResult,
  alpha: number,
  form: AuxLossForm = 'global',
  seqLen?: number,
): { auxLoss: number; auxGrad: Float32Array } {
  const { n, m, k, experts } = routing;
  const len = form === 'global' ? n : (seqLen ?? n);
  if (!Number.isInteger(len) || len < 1 || n % len !== 0) {
    throw new InputError(`auxloss: n=${n} tokens is not a whole number of sequences of seqLen=${seqLen}`);
  }
  const nSeq = n / len;
  const grad = new Float32Array(n * m);
  const count = new Float64Array(m);
  const meanScore = new Float64Array(m);
  let total = 0;
  for (let b = 0; b < nSeq; b++) {
    count.fill(0);
    meanScore.fill(0);
    for (let i = b * len; i < (b + 1) * len; i++) {
      for (let t = 0; t < k; t++) count[experts[i * k + t]]++;
      for (let j = 0; j < m; j++) meanScore[j] += scores[i * m + j];
    }
    let seqLoss = 0;
    for (let j = 0; j < m; j++) {
      const f = (m * count[j]) / (len * k);
      seqLoss += f * (meanScore[j] / len);
      // ∂/∂s_ij of α · mean_b Σ_j f_j P_j, with P_j = (1/len) Σ_i s_ij.
      const g = (alpha * f) / (len * nSeq);
      for (let i = b * len; i < (b + 1) * len; i++) grad[i * m + j] = g;
    }
    total += seqLoss;
  }
  return { auxLoss: (alpha * total) / nSeq, auxGrad: grad };
}

export class AuxLossBalancer implements Balancer {
  readonly method = 'auxloss' as const;
  readonly alpha: number;
  readonly form: AuxLossForm;
  readonly seqLen: number | undefined;

  constructor(options: AuxLossOptions = {}) {
    const o = resolveOptions('auxloss', options as Record<string, unknown>) as Required<AuxLossOptions>;
    this.alpha = o.alpha;
    this.form = o.form;
    this.seqLen = o.seqLen;
  }

  route(scores: Float32Array, n: number, m: number, k: number): AuxLossResult {
    validateRouteInput(scores, n, m, k);
    const routing = assignTopK(scores, n, m, k, null, 1);
    return { ...routing, ...auxLoss(scores, routing, this.alpha, this.form, this.seqLen) };
  }

  getState(): BalancerState {
    return {};
  }

  setState(state: BalancerState): void {
    checkEmptyState('auxloss', state);
  }

  reset(): void {}
}
