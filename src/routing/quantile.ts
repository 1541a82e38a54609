/**
 * Quantile Balancing (Su 2026; used by Kimi K3 and Megatron-LM; algorithms.md §5).
 *
 * BIP with equality constraints, so no max(0, ·) truncation. One iteration per call, warm-started,
 * causal (route with the previous β, then update):
 *     route:  top-k over j of (s_ij − β_j)
 *     α_i  =  (k+1)-th largest over j of (s_ij − β_j)
 *     β_j  =  (c+1)-th largest over i of (s_ij − α_i)          c = ⌈k·n/m⌉
 *
 * Histogram form (bins = B > 0), for sharded or very large batches: each shard histograms the
 * "required bias" r_ij = α_i − s_ij into B uniform bins over [lo, hi] (plus an underflow and an overflow
 * bin); histograms of shards add exactly, so the global β does not depend on how tokens are split.
 * β_j = −(the (c+1)-th smallest r_ij), read at the centre of the bin that holds it: error ≤ half a bin
 * width when the value lies inside [lo, hi] (values outside are clamped to the range edge).
 */
import { assignTopK, capacity } from './assign.ts';
import { DualWorkspace, dualIterations, rowStep } from './dual.ts';
import { InputError } from './errors.ts';
import { resolveOptions } from './registry.ts';
import { readStateVector, stateVectorJson, stateVectorFor, validateRouteInput } from './validate.ts';
import { checkedKernels, type KernelChoice } from './wasm/choice.ts';
import { DUAL_ROUTE_FIRST, KernelTuning } from './wasm/kernels.ts';
import type { Balancer, BalancerState, RouteCallOptions, RouteResult } from './types.ts';

export interface QuantileOptions {
  /** 0 (default): exact quantiles; B > 0: the histogram form with B bins. */
  bins?: number;
  /** Range [lo, hi] of the histogram of r = α − s (default [-2, 2], ample for scores in [0, 1]). */
  range?: [number, number];
  /** 'auto' (default), 'wasm' or 'typescript': which implementation runs (identical results; wasm/choice.ts). */
  kernels?: KernelChoice;
}

/** Per-expert histograms of r_ij = α_i − s_ij: m rows of (B + 2) counts: [under, bin 0..B-1, over]. */
export interface QuantileHistogram {
  m: number;
  bins: number;
  range: [number, number];
  /** Tokens counted (summed over shards), used for c = ⌈k·N/m⌉. */
  tokens: number;
  k: number;
  counts: Float64Array;
}

/**
 * One shard's histogram (the "required bias" of its tokens under the current β). Shards may have any
 * size; `mergeHistograms` adds them exactly.
 */
export function quantileHistogram(
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  beta: Float64Array,
  bins: number,
  range: [number, number],
): QuantileHistogram {
  validateRouteInput(scores, n, m, k);
  return histogramOf(scores, n, m, k, beta, bins, range);
}

/** quantileHistogram without the input checks (for callers that have made them). */
function histogramOf(scores: Float32Array, n: number, m: number, k: number, beta: Float64Array, bins: number, range: [number, number]): QuantileHistogram {
  const [lo, hi] = range;
  const counts = new Float64Array(m * (bins + 2));
  const ws = new DualWorkspace();
  ws.ensure(n, m, k);
  rowStep(scores, n, m, k, beta, false, ws); // ws.p = α
  const width = (hi - lo) / bins;
  for (let i = 0; i < n; i++) {
    const a = ws.p[i];
    for (let j = 0; j < m; j++) {
      const r = a - scores[i * m + j];
      let b: number;
      if (r < lo) b = 0;
      else if (r >= hi) b = bins + 1;
      else b = 1 + Math.min(bins - 1, Math.floor((r - lo) / width));
      counts[j * (bins + 2) + b]++;
    }
  }
  return { m, bins, range: [lo, hi], tokens: n, k, counts };
}

/** Adds shard histograms (exact: counts are integers). */
export function mergeHistograms(parts: QuantileHistogram[]): QuantileHistogram {
  if (parts.length === 0) throw new InputError('mergeHistograms: no histograms');
  const first = parts[0];
  const counts = new Float64Array(first.counts.length);
  let tokens = 0;
  for (const h of parts) {
    if (h.m !== first.m || h.bins !== first.bins || h.k !== first.k || h.range[0] !== first.range[0] || h.range[1] !== first.range[1]) {
      throw new InputError('mergeHistograms: histograms differ in m, k, bins or range');
    }
    for (let x = 0; x < counts.length; x++) counts[x] += h.counts[x];
    tokens += h.tokens;
  }
  return { ...first, tokens, counts };
}

/** β from a (merged) histogram: β_j = −(the (c+1)-th smallest r_ij), at the centre of its bin. */
export function betaFromHistogram(h: QuantileHistogram, out: Float64Array = new Float64Array(h.m)): Float64Array {
  const { m, bins, range } = h;
  const [lo, hi] = range;
  const width = (hi - lo) / bins;
  const c = capacity(h.tokens, m, h.k);
  const rank = c + 1; // the (c+1)-th smallest r
  for (let j = 0; j < m; j++) {
    const row = j * (bins + 2);
    let cum = 0;
    let r = hi;
    for (let b = 0; b < bins + 2; b++) {
      cum += h.counts[row + b];
      if (cum >= rank) {
        r = b === 0 ? lo : b === bins + 1 ? hi : lo + (b - 1 + 0.5) * width;
        break;
      }
    }
    // rank > tokens: the capacity cannot bind (as in the exact form), β_j = 0.
    out[j] = cum >= rank ? -r : 0;
  }
  return out;
}

export class QuantileBalancer implements Balancer {
  readonly method = 'quantile' as const;
  readonly bins: number;
  readonly range: [number, number];
  readonly kernels: KernelChoice;
  private beta: Float64Array | null = null;
  private readonly ws = new DualWorkspace();
  private readonly tuning = new KernelTuning();

  constructor(options: QuantileOptions = {}) {
    const o = resolveOptions('quantile', options as Record<string, unknown>) as Required<QuantileOptions>;
    this.bins = o.bins;
    this.range = [o.range[0], o.range[1]];
    this.kernels = o.kernels;
  }

  route(scores: Float32Array, n: number, m: number, k: number, opts: RouteCallOptions = {}): RouteResult {
    const kernels = checkedKernels(this.kernels, scores, n, m, k);
    const beta = (this.beta = stateVectorFor(this.beta, m, 'quantile', 'beta'));
    const update = opts.update ?? true;
    if (kernels) {
      // Exact form: route with the previous beta, then one untruncated iteration, in one call.
      if (update && this.bins === 0) return kernels.dualRoute(scores, n, m, k, beta, 1, DUAL_ROUTE_FIRST, this.tuning);
      const routed = kernels.topkShifted(scores, n, m, k, beta.map((x) => -x));
      if (update) this.updateBeta(scores, n, m, k);
      return routed;
    }
    const result = assignTopK(scores, n, m, k, beta, -1);
    if (update) this.updateBeta(scores, n, m, k);
    return result;
  }

  private updateBeta(scores: Float32Array, n: number, m: number, k: number): void {
    const beta = this.beta as Float64Array;
    if (this.bins > 0) {
      betaFromHistogram(histogramOf(scores, n, m, k, beta, this.bins, this.range), beta);
      return;
    }
    // One untruncated dual iteration from the previous β: α from β (row step), then β from α.
    dualIterations(scores, n, m, k, beta, 1, false, false, this.ws);
  }

  getState(): BalancerState {
    return { beta: stateVectorJson(this.beta) };
  }

  setState(state: BalancerState): void {
    this.beta = readStateVector(state, 'beta', this.beta, 'quantile');
  }

  reset(): void {
    this.beta = null;
  }
}
