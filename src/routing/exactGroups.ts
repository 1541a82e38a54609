/**
 * Group-limited exact (issue 14: `exact` with `groups` G and `topkGroups`; DeepSeek-V3's n_group /
 * topk_group, arXiv 2412.19437 §2.1.2), in two exact stages:
 *
 *   1. groups: gs_ig = the token's group score (sum of its top-2 scores in group g, the rule topk uses,
 *      groupLimited.ts), an n × G matrix; each token takes topkGroups groups by the exact balanced
 *      assignment of exact.ts on it: maximise Σ gs_ig y_ig, Σ_g y_ig = topkGroups, every group at most
 *      C = ⌈n·topkGroups/G⌉ tokens (its own duals qGroups, certified like the experts' q);
 *   2. experts: exact.ts restricted to the chosen groups' experts (the mask), capacity c = ⌈k·n/m⌉.
 *
 * Stage 2 is an LP over the mask; it can be infeasible (a group holding up to C tokens may not offer
 * them k·C/topkGroups expert slots when the rounding is unfavourable): then route() throws an InputError
 * naming n, m, k, G and topkGroups instead of returning a routing over capacity. The routing is the
 * optimum over the chosen groups, not over every group-limited routing (the groups are fixed first).
 *
 * Orders as exact: 'update-then-route' (default) routes with this batch's two solutions;
 * 'route-then-update' picks the groups by top-topkGroups of gs − qGroups and the experts by top-k of
 * s − q inside them (the previous batch's duals, causal), then solves the batch to update both.
 * State { q, qGroups }. Needs topkGroups·m/G ≥ k.
 */
import { assignTopK, capacity } from './assign.ts';
import { InputError } from './errors.ts';
import { ExactBalancer, ExactInfeasibleError, ExactWorkspace, solveExact, type ExactOptions, type ExactRouteResult } from './exact.ts';
import { groupMask, groupScore, maskScores } from './groupLimited.ts';
import { readStateVector, stateVectorJson, stateVectorFor, validateRouteInput } from './validate.ts';
import type { Balancer, BalancerState, RouteCallOptions, RouteResult } from './types.ts';

/** The n × G group scores (float32, as every score matrix the solvers take). */
export function groupScoreMatrix(scores: Float32Array, n: number, m: number, groups: number): Float32Array {
  const size = m / groups;
  const gs = new Float32Array(n * groups);
  for (let i = 0; i < n; i++) for (let g = 0; g < groups; g++) gs[i * groups + g] = groupScore(scores, i * m + g * size, size, null, g * size);
  return gs;
}

/** The result of one group-limited exact solve: the expert-level result plus the group level's. */
export interface GroupExactResult extends ExactRouteResult {
  /** The group-level solve (null when topkGroups = G: every group is allowed). */
  groupLevel: ExactRouteResult | null;
  allowed: Uint8Array;
}

/**
 * Both stages on one batch, warm-started from q (m) and qGroups (G), both updated in place. Throws an
 * InputError when stage 2 has no routing within capacity inside the chosen groups.
 */
export function solveGroupExact(
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  groups: number,
  topkGroups: number,
  q: Float64Array,
  qGroups: Float64Array,
  warmIters = 0,
  ws: ExactWorkspace = new ExactWorkspace(),
  groupWs: ExactWorkspace = new ExactWorkspace(),
): GroupExactResult {
  let groupLevel: ExactRouteResult | null = null;
  let allowed: Uint8Array;
  if (topkGroups === groups) allowed = new Uint8Array(n * m).fill(1);
  else {
    groupLevel = solveExact(groupScoreMatrix(scores, n, m, groups), n, groups, topkGroups, qGroups, 0, groupWs);
    allowed = groupMask(groupLevel.experts, n, m, groups, topkGroups);
  }
  try {
    return { ...solveExact(scores, n, m, k, q, warmIters, ws, allowed), groupLevel, allowed };
  } catch (e) {
    if (!(e instanceof ExactInfeasibleError)) throw e;
    throw new InputError(
      `exact with groups=${groups}, topkGroups=${topkGroups}: the balanced group choice leaves no routing with at most ` +
        `c=${capacity(n, m, k)} tokens per expert for n=${n}, m=${m}, k=${k} (${e.message}); ` +
        `use another topkGroups or the method without groups`,
    );
  }
}

/** exact with the group options: the two-stage solve above as a balancer. */
export class GroupExactBalancer implements Balancer {
  readonly method = 'exact' as const;
  private readonly plain: ExactBalancer;
  private q: Float64Array | null = null;
  private qGroups: Float64Array | null = null;
  private readonly ws = new ExactWorkspace();
  private readonly groupWs = new ExactWorkspace();
  /** The last two-stage solve (null before the first). */
  last: GroupExactResult | null = null;

  constructor(
    options: ExactOptions,
    readonly groups: number,
    readonly topkGroups: number,
  ) {
    // The plain balancer checks and holds exact's own options; its routing is not used.
    this.plain = new ExactBalancer(options);
  }

  route(scores: Float32Array, n: number, m: number, k: number, opts: RouteCallOptions = {}): RouteResult {
    validateRouteInput(scores, n, m, k);
    const { groups, topkGroups } = this;
    if (m % groups !== 0) throw new InputError(`groups=${groups} does not divide m=${m} experts`);
    if ((topkGroups * m) / groups < k) throw new InputError(`topkGroups=${topkGroups} groups of ${m / groups} experts cannot hold k=${k} experts`);
    const q = (this.q = stateVectorFor(this.q, m, 'exact', 'q'));
    const qGroups = (this.qGroups = stateVectorFor(this.qGroups, groups, 'exact', 'qGroups'));
    const update = opts.update ?? true;
    const solve = (): GroupExactResult =>
      (this.last = solveGroupExact(scores, n, m, k, groups, topkGroups, update ? q : q.slice(), update ? qGroups : qGroups.slice(), this.plain.warmIters, this.ws, this.groupWs));
    if (this.plain.order === 'update-then-route') return solve();
    // Causal: groups and experts from the previous duals, then this batch's solve updates them.
    const chosen = topkGroups === groups ? null : assignTopK(groupScoreMatrix(scores, n, m, groups), n, groups, topkGroups, qGroups, -1).experts;
    const allowed = chosen === null ? new Uint8Array(n * m).fill(1) : groupMask(chosen, n, m, groups, topkGroups);
    const routed = assignTopK(maskScores(scores, allowed, q.map((x) => -x)), n, m, k, q, -1);
    if (update) solve();
    return routed;
  }

  getState(): BalancerState {
    return { q: stateVectorJson(this.q), qGroups: stateVectorJson(this.qGroups) };
  }

  setState(state: BalancerState): void {
    for (const key of Object.keys(state)) {
      if (key !== 'q' && key !== 'qGroups') throw new InputError(`exact state: unknown key '${key}' (expected 'q' and 'qGroups')`);
    }
    const q = readStateVector({ q: state.q ?? [] }, 'q', this.q, 'exact');
    this.qGroups = readStateVector({ qGroups: state.qGroups ?? [] }, 'qGroups', this.qGroups, 'exact');
    this.q = q;
  }

  reset(): void {
    this.q = null;
    this.qGroups = null;
  }
}
