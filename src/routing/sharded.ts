/**
 * Sharded balancing (the paper's Algorithm 4; algorithms.md §2 for BIP): a batch of N tokens is split over
 * W shards of any sizes, each shard routes only its own tokens, and the shards exchange statistics so
 * that the state (q, b or β) and every token's experts are exactly those a single process computes on
 * the whole batch. Per method, what a shard computes, how it is merged, and what it gives:
 *
 *   topk      nothing to exchange.
 *   bip       per dual iteration: the row step p_i is local (one token's row); the column step
 *             q_j = [(c+1)-th largest over all tokens of s_ij − p_i]₊, c = ⌈kN/m⌉, is the exact
 *             distributed selection of shardedSelect.ts (an all-reduce of octave counts around the
 *             previous q_j, which also brings N; then usually one gather of the candidates left).
 *             Then each shard routes its tokens by top-k of s − q. With the wasm kernels (the
 *             balancer's `kernels` option) the row step, the ladder's counts and the routing run in
 *             c/shard.h, with results equal to the TypeScript ones to the bit (test/sharded.test.ts).
 *   lossfree  route with b locally; all_reduce(SUM) of the m loads (and n); b_j += u·sign(c̄ − c_j).
 *   quantile  route with β locally; exact form: one untruncated row step (local) and column step
 *             (shardedSelect); histogram form: all_reduce(SUM) of the per-expert histograms
 *             (quantileHistogram), β from the merged one (betaFromHistogram).
 *   auxloss   plain top-k locally; all_reduce(SUM) of the m selection counts and m score sums (and n):
 *             aux = α Σ_j f_j P_j with the global f and P; the gradient α f_j / N (global form).
 *
 * Exactness: counts are integers and selections compare values, so q, b, β and the experts are equal to
 * the single-process ones to the last bit (test/sharded.test.ts). auxloss's loss value sums W float64
 * partial sums of P in another order than one process does: equal to ~1e-15 relative, not bitwise; its
 * global-form gradient is bitwise equal.
 *
 * Each balancer keeps its state in the single-process balancer of the same method and options (so
 * getState/setState, checkpoints and option checks are the same, and a state moves freely between a
 * sharded and an unsharded run).
 */
import { assignTopK, capacity } from './assign.ts';
import { auxLoss, AuxLossBalancer } from './auxLoss.ts';
import { BipBalancer } from './bip.ts';
import { allReduceSum, runShards, type CommStats, type ShardProgram } from './collective.ts';
import { DualWorkspace, maxAbsDiff, routingFloors, rowStep } from './dual.ts';
import { InputError } from './errors.ts';
import { createBalancer } from './factory.ts';
import { lossFreeUpdate, LossFreeBalancer } from './lossFree.ts';
import { betaFromHistogram, quantileHistogram, QuantileBalancer } from './quantile.ts';
import { LADDER_EMIN, LADDER_OCTAVES, shardedColumnSelect, type ShardedSelectOptions, type ShardValues } from './shardedSelect.ts';
import { TopKBalancer } from './topk.ts';
import type { AuxLossResult, Balancer, BalancerState, MethodName, RouteCallOptions, RouteResult } from './types.ts';
import { stateVectorFor, validateRouteInput } from './validate.ts';
import { kernelsFor, type KernelChoice } from './wasm/choice.ts';

export const SHARDED_METHODS = ['topk', 'bip', 'lossfree', 'quantile', 'auxloss'] as const;

/** One shard's balancer for one MoE layer. Every shard holds one, with the same options and state. */
export interface ShardedBalancer {
  readonly method: MethodName;
  /**
   * This shard's part of one route call on its n tokens; run it with the other shards' parts
   * (runShards in one process, runProgram over a transport). Returns the routing of this shard's tokens.
   */
  /** tokenOffset: the index of this shard's first token in the whole batch (exact ties are broken by the global index). */
  routeShard(scores: Float32Array, n: number, m: number, k: number, opts?: RouteCallOptions, tokenOffset?: number): ShardProgram<RouteResult>;
  getState(): BalancerState;
  setState(state: BalancerState): void;
  reset(): void;
}

/** A sharded balancer: the method's single-process options, plus how exact selections bracket. */
export function createShardedBalancer(method: string, options: Record<string, unknown> = {}, select: ShardedSelectOptions = {}): ShardedBalancer {
  if (!(SHARDED_METHODS as readonly string[]).includes(method)) {
    throw new InputError(`method '${method}' has no sharded form (sharded methods: ${SHARDED_METHODS.join(', ')})`);
  }
  const inner = createBalancer(method, options);
  // Capacity dropping and group-limited routing wrap the method: no sharded form of those (yet).
  if (!PLAIN.some((C) => inner instanceof C)) {
    throw new InputError(`method '${method}' has no sharded form with capacityFactor, dropPolicy, groups or topkGroups`);
  }
  return new Sharded(inner, select);
}

const PLAIN = [TopKBalancer, BipBalancer, LossFreeBalancer, QuantileBalancer, AuxLossBalancer];

class Sharded implements ShardedBalancer {
  readonly method: MethodName;
  private readonly ws = new DualWorkspace();
  /** Index of this shard's first token in the whole batch (routeShard), for the tie rule. */
  private tokenOffset = 0;

  constructor(
    private readonly inner: Balancer,
    private readonly select: ShardedSelectOptions,
  ) {
    this.method = inner.method;
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

  *routeShard(scores: Float32Array, n: number, m: number, k: number, opts: RouteCallOptions = {}, tokenOffset = 0): ShardProgram<RouteResult> {
    validateRouteInput(scores, n, m, k);
    // The index of this shard's first token in the whole batch: exact key ties are broken by the global
    // token index (select.ts), so that the shards route exactly as one process does.
    this.tokenOffset = tokenOffset;
    const update = opts.update ?? true;
    switch (this.method) {
      case 'bip':
        return yield* this.bip(scores, n, m, k, update);
      case 'quantile':
        return yield* this.quantile(scores, n, m, k, update);
      case 'lossfree':
        return yield* this.lossfree(scores, n, m, k, update);
      case 'auxloss':
        return yield* this.auxloss(scores, n, m, k);
      default:
        return assignTopK(scores, n, m, k, null, 1, null, this.tokenOffset);
    }
  }

  /** The state vector (zeros before the first call), as the single-process balancer holds it. */
  private vector(key: string, m: number): Float64Array {
    const v = this.inner.getState()[key];
    return stateVectorFor(v && v.length > 0 ? Float64Array.from(v) : null, m, this.method, key);
  }

  private save(key: string, v: Float64Array): void {
    this.inner.setState({ [key]: Array.from(v) });
  }

  /**
   * T dual iterations (dual.ts) with the column step sharded: q in place. truncateP / truncateQ as in
   * dualIterations. The row step is the single-process one on this shard's rows.
   */
  private *iterations(scores: Float32Array, n: number, m: number, k: number, q: Float64Array, iters: number, truncateP: boolean, truncateQ: boolean): ShardProgram<void> {
    const ws = this.ws;
    ws.ensure(n, m, k);
    ws.pValid = false;
    // r = c + 1 from the whole batch's token count, which the first selection's collective brings.
    const rankOf = (total: number) => capacity(total, m, k) + 1;
    const floor = truncateQ ? 0 : -Infinity;
    const kernels = kernelsFor((this.inner as { kernels?: KernelChoice }).kernels ?? 'auto', k);
    for (let t = 0; t < iters; t++) {
      // The row step (wasm: with the ladder's local counts of the column step below), then the r-th
      // largest of s_ij − p_i (float64, the very values the single-process column step selects from),
      // the previous q as the hint; truncating, any answer below 0 gives q_j = 0.
      let ladder: ShardValues['ladder'];
      if (kernels) {
        const delta = t === 0 ? Infinity : maxAbsDiff(q, ws.qAtP);
        ladder = kernels.shardRowLadder(scores, n, m, k, q, truncateP, t === 0, delta, this, { hint: q, octaves: LADDER_OCTAVES, emin: LADDER_EMIN, floor }, ws.p, ws.pRaw);
        ws.qAtP.set(q);
        ws.pValid = true;
      } else rowStep(scores, n, m, k, q, truncateP, ws);
      const { values: v } = yield* shardedColumnSelect({ s: scores, p: ws.p, n, m, ladder }, rankOf, this.select, q, floor);
      for (let j = 0; j < m; j++) q[j] = v[j] === -Infinity ? 0 : truncateQ && v[j] < 0 ? 0 : v[j];
    }
  }

  private *bip(scores: Float32Array, n: number, m: number, k: number, update: boolean): ShardProgram<RouteResult> {
    const opt = this.inner as BipBalancer;
    const q = this.vector('q', m);
    if (!update) return assignTopK(scores, n, m, k, q, -1, null, this.tokenOffset);
    const before = opt.order === 'route-then-update' ? assignTopK(scores, n, m, k, q, -1, null, this.tokenOffset) : null;
    yield* this.iterations(scores, n, m, k, q, opt.iters, opt.truncate === true, opt.truncate !== false);
    this.save('q', q);
    if (before) return before;
    const kernels = opt.iters > 0 ? kernelsFor(opt.kernels, k) : null;
    if (kernels) return kernels.shardRoute(scores, n, m, k, q, this, maxAbsDiff(q, this.ws.qAtP), this.tokenOffset);
    return assignTopK(scores, n, m, k, q, -1, opt.iters > 0 ? routingFloors(q, n, this.ws) : null, this.tokenOffset);
  }

  private *quantile(scores: Float32Array, n: number, m: number, k: number, update: boolean): ShardProgram<RouteResult> {
    const opt = this.inner as QuantileBalancer;
    const beta = this.vector('beta', m);
    const result = assignTopK(scores, n, m, k, beta, -1, null, this.tokenOffset);
    if (!update) return result;
    if (opt.bins > 0) {
      const h = quantileHistogram(scores, n, m, k, beta, opt.bins, opt.range);
      const local = new Int32Array(h.counts.length + 1);
      local.set(h.counts);
      local[h.counts.length] = n;
      const sum = yield* allReduceSum(local);
      const counts = Float64Array.from(sum.subarray(0, h.counts.length));
      betaFromHistogram({ ...h, tokens: sum[h.counts.length], counts }, beta);
    } else {
      yield* this.iterations(scores, n, m, k, beta, 1, false, false);
    }
    this.save('beta', beta);
    return result;
  }

  private *lossfree(scores: Float32Array, n: number, m: number, k: number, update: boolean): ShardProgram<RouteResult> {
    const opt = this.inner as LossFreeBalancer;
    const b = this.vector('b', m);
    const result = assignTopK(scores, n, m, k, b, 1, null, this.tokenOffset);
    if (!update) return result;
    const local = new Int32Array(m + 1);
    local.set(result.loads);
    local[m] = n;
    const sum = yield* allReduceSum(local);
    lossFreeUpdate(b, sum.subarray(0, m), sum[m], k, opt.rate, opt.update);
    this.save('b', b);
    return result;
  }

  private *auxloss(scores: Float32Array, n: number, m: number, k: number): ShardProgram<AuxLossResult> {
    const opt = this.inner as AuxLossBalancer;
    const routing = assignTopK(scores, n, m, k, null, 1, null, this.tokenOffset);
    if (opt.form === 'sequence') {
      // Whole sequences per shard: the loss is the mean over all sequences of each one's own loss.
      const local = auxLoss(scores, routing, opt.alpha, 'sequence', opt.seqLen);
      const nSeq = n / (opt.seqLen as number);
      const sum = yield* allReduceSum(Float64Array.of(local.auxLoss * nSeq, nSeq));
      const scale = nSeq / sum[1];
      for (let x = 0; x < local.auxGrad.length; x++) local.auxGrad[x] *= scale;
      return { ...routing, auxLoss: sum[0] / sum[1], auxGrad: local.auxGrad };
    }
    // Global form: f_j and P_j from all tokens: counts, score sums and n summed over shards.
    const local = new Float64Array(2 * m + 1);
    for (let a = 0; a < n * k; a++) local[routing.experts[a]]++;
    for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) local[m + j] += scores[i * m + j];
    local[2 * m] = n;
    const sum = yield* allReduceSum(local);
    const N = sum[2 * m];
    const grad = new Float32Array(n * m);
    let loss = 0;
    for (let j = 0; j < m; j++) {
      const f = (m * sum[j]) / (N * k);
      loss += f * (sum[m + j] / N);
      // The single-process expression (auxLoss.ts, len = N, one sequence), so the gradient is bitwise equal.
      const g = (opt.alpha * f) / (N * 1);
      for (let i = 0; i < n; i++) grad[i * m + j] = g;
    }
    return { ...routing, auxLoss: opt.alpha * loss, auxGrad: grad };
  }
}

/**
 * Routes one batch in this process as W shards of the given sizes would (contiguous rows, shard w after
 * shard w − 1), one ShardedBalancer per shard. Returns the whole batch's routing (the shards' routings
 * concatenated; for auxloss the loss and the concatenated gradient) and what the shards exchanged.
 */
export function routeSharded(
  shards: ShardedBalancer[],
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  sizes: number[],
  opts: RouteCallOptions = {},
): { result: RouteResult | AuxLossResult; comm: CommStats } {
  if (sizes.length !== shards.length) throw new InputError(`routeSharded: ${sizes.length} shard sizes for ${shards.length} shards`);
  if (sizes.reduce((a, b) => a + b, 0) !== n || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new InputError(`routeSharded: shard sizes ${sizes.join(',')} are not positive integers summing to n=${n}`);
  }
  let row = 0;
  const programs = shards.map((b, w) => {
    const part = scores.subarray(row * m, (row + sizes[w]) * m);
    row += sizes[w];
    return b.routeShard(part, sizes[w], m, k, opts, row - sizes[w]);
  });
  const { results, comm } = runShards(programs);
  const experts = new Int32Array(n * k);
  const weights = new Float32Array(n * k);
  const loads = new Int32Array(m);
  let o = 0;
  for (const r of results) {
    experts.set(r.experts, o);
    weights.set(r.weights, o);
    o += r.experts.length;
    for (let j = 0; j < m; j++) loads[j] += r.loads[j];
  }
  const result: RouteResult = { n, m, k, experts, weights, loads };
  const aux = results[0] as Partial<AuxLossResult>;
  if (aux.auxGrad === undefined) return { result, comm };
  const auxGrad = new Float32Array(n * m);
  o = 0;
  for (const r of results as AuxLossResult[]) {
    auxGrad.set(r.auxGrad, o);
    o += r.auxGrad.length;
  }
  return { result: { ...result, auxLoss: aux.auxLoss as number, auxGrad }, comm };
}

/** W shard sizes summing to n, as equal as can be (the first n mod W shards one larger). */
export function evenShardSizes(n: number, W: number): number[] {
  if (!Number.isInteger(W) || W < 1 || W > n) throw new InputError(`cannot split n=${n} tokens into ${W} shards of at least one token`);
  return Array.from({ length: W }, (_, w) => Math.floor(n / W) + (w < n % W ? 1 : 0));
}
