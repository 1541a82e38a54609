/**
 * Group-limited routing (DeepSeek-V3's `n_group` / `topk_group`, arXiv 2412.19437 §2.1.2; device- or
 * node-limited routing), as an option (`groups`, `topkGroups`) of topk, lossfree and bip (and of exact:
 * exactGroups.ts).
 *
 *     experts in G contiguous groups of m/G (a group = a device or node of expert parallelism)
 *     key_ij = s_ij + sh_j          the method's own selection key: sh = 0 (topk), +b (lossfree), −q (bip)
 *     group score of token i for group g = sum of its top-2 keys in g (DeepSeek-V3's rule; the top key
 *                                          alone when m/G = 1)
 *     token i keeps its topkGroups best groups (ties: the lower group id), then takes the top-k keys
 *     among their experts; combine weights are the original scores, renormalised when k > 1
 *
 * lossfree: b is updated from the group-limited loads, as in DeepSeek-V3. bip: the groups are chosen with
 * the q the call starts from; the dual iterations then run on the group-restricted BIP, where a pair
 * outside the token's groups gets a finite score one below every allowed key (so it is never worth
 * routing and q stays finite), and the routing excludes those pairs outright. Needs topkGroups·m/G ≥ k.
 */
import { assignTopK } from './assign.ts';
import { BipBalancer } from './bip.ts';
import { DualWorkspace, dualIterations } from './dual.ts';
import { InputError } from './errors.ts';
import { LossFreeBalancer, lossFreeUpdate } from './lossFree.ts';
import { TopKBalancer } from './topk.ts';
import { checkEmptyState, readStateVector, stateVectorJson, stateVectorFor, validateRouteInput } from './validate.ts';
import type { Balancer, BalancerState, RouteCallOptions, RouteResult } from './types.ts';

export interface GroupOptions {
  /** G: number of expert groups (devices), dividing m. */
  groups?: number;
  /** Groups each token may use (1..G). */
  topkGroups?: number;
}

/** Methods that take the group options. */
export const GROUP_METHODS = ['topk', 'lossfree', 'bip', 'exact'] as const;
export type GroupMethod = (typeof GROUP_METHODS)[number];

/** DeepSeek-V3's group score: the sum of the top-2 keys s + sh of one token in one group (size 1: the key). */
export function groupScore(scores: Float32Array, base: number, size: number, sh: Float64Array | null, first: number): number {
  let top = -Infinity;
  let second = -Infinity;
  for (let t = 0; t < size; t++) {
    const v = scores[base + t] + (sh === null ? 0 : sh[first + t]);
    if (v > top) {
      second = top;
      top = v;
    } else if (v > second) second = v;
  }
  return size === 1 ? top : top + second;
}

/** allowed (n·m) from each token's chosen groups (n·topkGroups group ids): their experts are allowed. */
export function groupMask(chosen: Int32Array, n: number, m: number, groups: number, topkGroups: number): Uint8Array {
  const size = m / groups;
  const allowed = new Uint8Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < topkGroups; t++) {
      const g = chosen[i * topkGroups + t];
      allowed.fill(1, i * m + g * size, i * m + (g + 1) * size);
    }
  }
  return allowed;
}

/**
 * allowed[i*m + j] = 1 when expert j is in one of token i's topkGroups best groups, groups ranked by the
 * sum of the token's top-2 keys s_ij + sh_j inside the group (sh null: 0).
 */
export function chooseGroups(scores: Float32Array, n: number, m: number, sh: Float64Array | null, groups: number, topkGroups: number): Uint8Array {
  const size = m / groups;
  const allowed = new Uint8Array(n * m);
  const gScore = new Float64Array(groups);
  const best = new Int32Array(topkGroups);
  for (let i = 0; i < n; i++) {
    for (let g = 0; g < groups; g++) gScore[g] = groupScore(scores, i * m + g * size, size, sh, g * size);
    // The topkGroups best groups by insertion ('>' keeps the lower group id first on ties).
    let filled = 0;
    for (let g = 0; g < groups; g++) {
      let p: number;
      if (filled < topkGroups) p = filled++;
      else if (gScore[g] > gScore[best[topkGroups - 1]]) p = topkGroups - 1;
      else continue;
      while (p > 0 && gScore[g] > gScore[best[p - 1]]) {
        best[p] = best[p - 1];
        p--;
      }
      best[p] = g;
    }
    for (let t = 0; t < topkGroups; t++) allowed.fill(1, i * m + best[t] * size, i * m + (best[t] + 1) * size);
  }
  return allowed;
}

/**
 * A copy of the scores where every pair outside the allowed groups is set to min s − (max sh − min sh) − 1:
 * its key s + sh is then below every allowed key, so top-k of the copy stays inside the groups.
 */
export function maskScores(scores: Float32Array, allowed: Uint8Array, sh: Float64Array | null): Float32Array {
  let lo = Infinity;
  for (let x = 0; x < scores.length; x++) if (scores[x] < lo) lo = scores[x];
  let range = 0;
  if (sh !== null) range = Math.max(...sh) - Math.min(...sh);
  const floor = Math.fround(lo - range - 1);
  const out = scores.slice();
  for (let x = 0; x < out.length; x++) if (!allowed[x]) out[x] = floor;
  return out;
}

/** topk, lossfree or bip restricted to each token's best groups. State and options as the plain method. */
export class GroupLimitedBalancer implements Balancer {
  readonly method: GroupMethod;
  private readonly lossfree: LossFreeBalancer | null = null;
  private readonly bip: BipBalancer | null = null;
  private v: Float64Array | null = null;
  private readonly ws = new DualWorkspace();

  constructor(
    method: GroupMethod,
    options: Record<string, unknown>,
    readonly groups: number,
    readonly topkGroups: number,
  ) {
    this.method = method;
    // The plain balancers check and hold the method's own options; their routing is not used.
    if (method === 'bip') this.bip = new BipBalancer(options);
    else if (method === 'lossfree') this.lossfree = new LossFreeBalancer(options);
    else new TopKBalancer(options);
  }

  private get stateKey(): string | null {
    return this.bip ? 'q' : this.lossfree ? 'b' : null;
  }

  route(scores: Float32Array, n: number, m: number, k: number, opts: RouteCallOptions = {}): RouteResult {
    validateRouteInput(scores, n, m, k);
    if (m % this.groups !== 0) throw new InputError(`groups=${this.groups} does not divide m=${m} experts`);
    if ((this.topkGroups * m) / this.groups < k) {
      throw new InputError(`topkGroups=${this.topkGroups} groups of ${m / this.groups} experts cannot hold k=${k} experts`);
    }
    const update = opts.update ?? true;
    const key = this.stateKey;
    const v = key === null ? null : (this.v = stateVectorFor(this.v, m, this.method, key));
    const shift = (): Float64Array | null => (v === null ? null : this.bip ? v.map((x) => -x) : v);
    const allowed = chooseGroups(scores, n, m, shift(), this.groups, this.topkGroups);
    const within = (): RouteResult => {
      const sh = shift();
      return assignTopK(maskScores(scores, allowed, sh), n, m, k, sh, 1);
    };
    const bip = this.bip;
    if (bip && v && update) {
      const iterate = () =>
        dualIterations(maskScores(scores, allowed, shift()), n, m, k, v, bip.iters, bip.truncate === true, bip.truncate !== false, this.ws);
      if (bip.order === 'update-then-route') {
        iterate();
        return within();
      }
      const r = within();
      iterate();
      return r;
    }
    const r = within();
    if (this.lossfree && v && update) lossFreeUpdate(v, r.loads, n, k, this.lossfree.rate, this.lossfree.update);
    return r;
  }

  getState(): BalancerState {
    const key = this.stateKey;
    return key === null ? {} : { [key]: stateVectorJson(this.v) };
  }

  setState(state: BalancerState): void {
    const key = this.stateKey;
    if (key === null) {
      checkEmptyState('topk', state);
      return;
    }
    this.v = readStateVector(state, key, this.v, this.method);
  }

  reset(): void {
    this.v = null;
  }
}
