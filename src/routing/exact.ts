/**
 * Exact: certified-optimal routing with no expert over capacity (issue 9; the LP of algorithms.md §1).
 *
 *     maximise Σ_ij s_ij x_ij   s.t.  Σ_j x_ij = k (each token),  Σ_i x_ij ≤ c = ⌈k·n/m⌉ (each expert),
 *                                    x_ij ∈ {0, 1}
 *
 * Dual (p_i free for the equality, q_j ≥ 0): the routing is optimal iff there is q with
 *     (1) every token's k experts are a top-k of the keys s_ij − q_j  (then p_i = its k-th key, and the
 *         chosen pairs have s_ij − q_j − p_i ≥ 0, the others ≤ 0),
 *     (2) q ≥ 0,   (3) q_j = 0 wherever load_j < c,   (4) load_j ≤ c.
 * `checkCertificate` checks (1)–(4) in one O(n·m) pass and also returns the dual bound
 * g(q) = Σ_i topk-sum(s_i − q) + c·Σ_j q_j ≥ optimum (algorithms.md §2b), so gap = g(q) − objective.
 *
 * Method: a transportation problem with m ≪ n, solved as min-cost flow on m + 1 nodes (the experts and a
 * sink T; arc j→T has capacity c) by successive shortest paths (Ahuja, Magnanti & Orlin 1993, §9.7).
 * 1. Warm start: q from the state (the previous batch's duals), optionally refined by `warmIters` dual
 *    iterations of BIP (dual.ts, equality form: p free, q ≥ 0); every token takes the top-k of s − q.
 *    This is dual feasible for (1); only the loads are off.
 * 2. Pseudo-flow: expert j sends f_j = c to T if q_j > 0 (complementary slackness), else min(load_j, c).
 *    Excess e_j = load_j − f_j (> 0: overloaded; < 0: an under-full expert with q_j > 0), e_T = −Σ e_j.
 * 3. Repair: node potentials φ with q_j = φ_T − φ_j. Arcs and reduced costs:
 *        a→b (move one token from a to b) = min over tokens i in a, not in b of (s_ia − s_ib) + φ_a − φ_b,
 *        j→T (if f_j < c) = φ_j − φ_T,    T→j (if f_j > 0) = φ_T − φ_j.
 *    All are ≥ 0 by (1)–(2). Repeatedly: Dijkstra from one excess node (dense, O(m) per pop) to the
 *    nearest deficit node at distance D; φ_v −= D − d_v on the settled nodes (keeps reduced costs ≥ 0,
 *    makes the path tight); push one unit along the path (move its tokens, adjust f). The cheapest token
 *    of each pair (a, b) does not depend on φ, so it is kept in a short sorted candidate list per pair,
 *    built lazily per row a, updated as tokens move, and rebuilt from a's members when it runs dry.
 * At the end all excesses are 0: loads ≤ c, and reduced costs ≥ 0 are exactly (1)–(3).
 *
 * Keys are float64 (scores are float32, q float64); reduced costs within rounding of 0 are clamped at 0,
 * so the certificate holds to ~1e-15 of the score scale, not bit-exactly.
 *
 * Defaults: warmIters = 0 (the previous batch's q alone), order = 'update-then-route' (the batch is
 * routed with the solution of that same batch, like BIP's default); 'route-then-update' is causal: it
 * routes with the previous batch's q (top-k of s − q, capacity not guaranteed), then solves the batch
 * exactly to update q.
 */
import { assignTopK, capacity, writeWeights } from './assign.ts';
import { DualWorkspace, dualIterations } from './dual.ts';
import { InputError } from './errors.ts';
import { kthLargest, topKRowShifted } from './select.ts';
import { resolveOptions } from './registry.ts';
import { validateRouteInput, readStateVector, stateVectorJson, stateVectorFor } from './validate.ts';
import type { Balancer, BalancerState, RouteCallOptions, RouteResult } from './types.ts';

/** A masked instance (group-limited exact) with no routing inside the mask that respects capacity. */
export class ExactInfeasibleError extends InputError {
  override name = 'InputError';
}

/** What checkCertificate finds. */
export interface Certificate {
  /** Every token has k distinct experts in [0, m) and no expert has more than c tokens. */
  feasible: boolean;
  /**
   * Largest violation of the optimality conditions, in score units: max over tokens of
   * (best unchosen key − worst chosen key)₊, over experts of (−q_j)₊ and of q_j where load_j < c.
   */
  worstViolation: number;
  /** Σ of the chosen scores (float64). */
  objective: number;
  /** g(q) = Σ_i topk-sum(s_i − q) + c·Σ_j q_j: an upper bound on the optimum for any q ≥ 0. */
  dualBound: number;
  /** feasible and worstViolation ≤ tol. */
  ok: boolean;
}

/** Default tolerance of the certificate, relative to max(1, max |s|). */
export const CERTIFICATE_TOL = 1e-9;

/**
 * Checks that `experts` (n·k ids, token i at [i·k, i·k + k)) is an optimal routing with duals q: the
 * conditions (1)–(4) of the docstring, in one pass over the scores. The routing need not be sorted.
 * `allowed` (n·m, 1 = the pair may be chosen) restricts the LP to a mask, as group-limited exact does.
 */
export function checkCertificate(
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  experts: Int32Array,
  q: ArrayLike<number>,
  tol = CERTIFICATE_TOL,
  allowed: Uint8Array | null = null,
): Certificate {
  validateRouteInput(scores, n, m, k);
  const c = capacity(n, m, k);
  let feasible = experts.length === n * k && q.length === m;
  const loads = new Int32Array(m);
  const chosen = new Uint8Array(m);
  const top = new Float64Array(k);
  let worst = 0;
  let objective = 0;
  let dualBound = 0;
  let scale = 1;
  for (let i = 0; feasible && i < n; i++) {
    const row = i * m;
    let minChosen = Infinity;
    for (let t = 0; t < k; t++) {
      const j = experts[i * k + t];
      if (!(j >= 0 && j < m) || chosen[j] || (allowed !== null && !allowed[row + j])) {
        feasible = false;
        break;
      }
      chosen[j] = 1;
      loads[j]++;
      objective += scores[row + j];
      const key = scores[row + j] - q[j];
      if (key < minChosen) minChosen = key;
    }
    let maxOther = -Infinity;
    // g(q)'s token term: the sum of the k largest keys, by insertion into a small sorted buffer.
    let filled = 0;
    for (let j = 0; j < m; j++) {
      const s = scores[row + j];
      if (Math.abs(s) > scale) scale = Math.abs(s);
      // A pair outside the allowed mask is no variable of the LP: neither a rival nor part of g(q).
      if (allowed !== null && !allowed[row + j]) continue;
      const key = s - q[j];
      if (chosen[j]) chosen[j] = 0;
      else if (key > maxOther) maxOther = key;
      if (filled < k || key > top[k - 1]) {
        let p = filled < k ? filled++ : k - 1;
        while (p > 0 && top[p - 1] < key) {
          top[p] = top[p - 1];
          p--;
        }
        top[p] = key;
      }
    }
    for (let t = 0; t < k; t++) dualBound += top[t];
    if (maxOther - minChosen > worst) worst = maxOther - minChosen;
  }
  if (feasible) {
    for (let j = 0; j < m; j++) {
      if (loads[j] > c || !Number.isFinite(q[j])) feasible = false;
      if (-q[j] > worst) worst = -q[j];
      if (loads[j] < c && Math.abs(q[j]) > worst) worst = Math.abs(q[j]);
      dualBound += c * q[j];
    }
  }
  if (!feasible) worst = Infinity;
  return { feasible, worstViolation: worst, objective, dualBound, ok: feasible && worst <= tol * scale };
}

/** Counters of one solve (for benchmarks and the README: where the time goes). */
export interface ExactStats {
  /** Rounds of bulk eviction (step 2) and tokens moved by them. */
  evictionRounds: number;
  evictions: number;
  /** Units of flow pushed: tokens moved to repair the warm start (each one a Dijkstra). */
  augmentations: number;
  /** Nodes settled over all Dijkstra runs. */
  pops: number;
  /** Candidate rows built (each an O(c·m) scan of one expert's tokens). */
  rowsBuilt: number;
  /** Candidate lists rebuilt after running dry (each O(c)). */
  pairRebuilds: number;
}

/** A routing with its duals and certificate. */
export interface ExactRouteResult extends RouteResult {
  /** The expert duals q the routing is certified with. */
  q: Float64Array;
  certificate: Certificate;
  stats: ExactStats;
}

/** Candidate tokens kept per pair (a, b); more are found by a rescan of a's members when needed. */
const LIST = 8;

/**
 * Buffers for the repair, reused across calls of the same shape. Holds no state between calls that
 * changes a result: every call starts from its own warm start.
 */
export class ExactWorkspace {
  private m = -1;
  private nm = -1;
  has = new Uint8Array(0); // [n*m] token i has expert j
  candTok = new Int32Array(0); // [m*m*LIST] candidate tokens of pair (a, b), by increasing s_ia − s_ib
  candDiff = new Float64Array(0);
  candLen = new Int32Array(0); // [m*m]
  /** Every valid candidate of (a, b) not in the list has diff ≥ candBound (Infinity: the list is complete). */
  candBound = new Float64Array(0);
  rowBuilt = new Uint8Array(0);
  dist = new Float64Array(0); // [m+1]
  prevNode = new Int32Array(0);
  prevTok = new Int32Array(0);
  done = new Uint8Array(0);
  settled = new Int32Array(0);
  readonly dual = new DualWorkspace();
  readonly best = new BestUnchosen();

  ensure(n: number, m: number): void {
    if (this.nm !== n * m) {
      this.has = new Uint8Array(n * m);
      this.nm = n * m;
    }
    if (this.m !== m) {
      this.candTok = new Int32Array(m * m * LIST);
      this.candDiff = new Float64Array(m * m * LIST);
      this.candLen = new Int32Array(m * m);
      this.candBound = new Float64Array(m * m);
      this.rowBuilt = new Uint8Array(m);
      this.dist = new Float64Array(m + 1);
      this.prevNode = new Int32Array(m + 1);
      this.prevTok = new Int32Array(m + 1);
      this.done = new Uint8Array(m + 1);
      this.settled = new Int32Array(m + 1);
      this.m = m;
    }
  }
}

/** Eviction rounds stop once a round removes less than this fraction of the remaining excess. */
const EVICT_MIN_GAIN = 0.25;
const EVICT_MAX_ROUNDS = 32;

/**
 * Each token's best unchosen key max_{b ∉ E_i} (s_ib − q_b) and its expert, cached between eviction
 * rounds, with `second`, a bound on every other unchosen key. q only rises during the rounds, so cached
 * keys can only be too high: the entry is exact while its expert's q is unchanged (stamp = that expert's
 * version) and the token's experts are (a move resets the stamp); after that expert's q rose, its new key
 * is still the maximum if it is ≥ second. Otherwise an O(m) rescan.
 */
class BestUnchosen {
  key = new Float64Array(0);
  arg = new Int32Array(0);
  second = new Float64Array(0);
  stamp = new Int32Array(0);
  /** qVersion[j] counts the changes of q_j. */
  qVersion = new Int32Array(0);

  reset(n: number, m: number): void {
    if (this.key.length < n) {
      this.key = new Float64Array(n);
      this.arg = new Int32Array(n);
      this.second = new Float64Array(n);
      this.stamp = new Int32Array(n);
    }
    if (this.qVersion.length !== m) this.qVersion = new Int32Array(m);
    this.qVersion.fill(0);
    this.stamp.fill(-1, 0, n);
  }

  /** Sets token i's entry from known keys, e.g. the (k+1)-th and (k+2)-th of a top-(k+2) pass. */
  set(i: number, key: number, arg: number, second: number): void {
    this.key[i] = key;
    this.arg[i] = arg;
    this.second[i] = second;
    this.stamp[i] = arg < 0 ? 0 : this.qVersion[arg];
  }

  /** Token i's best unchosen key with the current q and choices: cached, or an O(m) scan. */
  get(scores: Float32Array, i: number, m: number, q: Float64Array, has: Uint8Array, load: Int32Array): number {
    const a = this.arg[i];
    const r = i * m;
    if (this.stamp[i] >= 0) {
      if (a < 0 || this.stamp[i] === this.qVersion[a]) return this.key[i];
      const key = scores[r + a] - q[a];
      if (key >= this.second[i]) {
        this.set(i, key, a, this.second[i]);
        return key;
      }
    }
    let best = -Infinity;
    let second = -Infinity;
    let arg = -1;
    for (let b = 0; b < m; b++) {
      if (has[r + b]) continue;
      const key = scores[r + b] - q[b];
      // Among tied keys the least-loaded expert: any tie keeps dual feasibility, and this one
      // spreads tied tokens (all-equal scores) instead of piling them onto the lowest id.
      if (key > best || (key === best && arg >= 0 && load[b] < load[arg])) {
        second = best;
        best = key;
        arg = b;
      } else if (key > second) second = key;
    }
    this.set(i, best, arg, second);
    return best;
  }
}

/**
 * Step 2, bulk moves before the exact repair (Gauss–Seidel auction, Bertsekas 1988, with ε = 0): each
 * overloaded expert j raises q_j by the (c+1)-th largest margin of its tokens, margin_i = (s_ij − q_j) −
 * (token i's best unchosen key), exactly BIP's column step restricted to j (algorithms.md §2), and its
 * load − c tokens of smallest margin move to their best unchosen expert. Each move keeps every token's
 * experts a top-k of s − q, q only rises on experts left at exactly c, and total excess never grows;
 * the rounds stop when they stop paying (price wars between near-tied experts), and the successive
 * shortest paths finish exactly. O(load_j) per expert processed, plus O(m) per token whose cached best
 * unchosen expert (BestUnchosen) went stale.
 */
function evictionRounds(
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  c: number,
  experts: Int32Array,
  q: Float64Array,
  has: Uint8Array,
  load: Int32Array,
  members: number[][],
  best: BestUnchosen,
  stats: ExactStats,
): void {
  let excess = 0;
  for (let j = 0; j < m; j++) if (load[j] > c) excess += load[j] - c;
  let margins = new Float64Array(0);
  let sorted = new Float64Array(0);
  for (let round = 0; round < EVICT_MAX_ROUNDS && excess > 0; round++) {
    const before = excess;
    for (let j = 0; j < m; j++) {
      if (load[j] <= c) continue;
      const list = members[j];
      const kept: number[] = [];
      for (let x = 0; x < list.length; x++) if (has[list[x] * m + j]) kept.push(list[x]);
      const L = kept.length;
      if (margins.length < L) {
        margins = new Float64Array(L);
        sorted = new Float64Array(L);
      }
      for (let x = 0; x < L; x++) {
        const i = kept[x];
        margins[x] = scores[i * m + j] - q[j] - best.get(scores, i, m, q, has, load);
      }
      sorted.set(margins.subarray(0, L));
      const delta = Math.max(0, kthLargest(sorted, L, c + 1));
      // More than c of its tokens have no free alternative (a mask): left to the exact repair, which
      // moves what can move or reports the instance infeasible.
      if (delta === Infinity) continue;
      let evict = L - c;
      const stay: number[] = [];
      // Smaller margins first (strictly below delta), then ties at delta in member order.
      for (let pass = 0; pass < 2; pass++) {
        for (let x = 0; x < L; x++) {
          const i = kept[x];
          if (i < 0) continue;
          const mu = margins[x];
          if (evict > 0 && (pass === 0 ? mu < delta : mu <= delta)) {
            // The cache is exact here (margins were just computed from it and nothing moved i since).
            const b = best.arg[i];
            for (let t = 0; t < k; t++) {
              if (experts[i * k + t] === j) {
                experts[i * k + t] = b;
                break;
              }
            }
            has[i * m + j] = 0;
            has[i * m + b] = 1;
            best.stamp[i] = -1; // its unchosen set changed: rescan when next needed
            load[b]++;
            members[b].push(i);
            if (load[b] > c) excess++;
            kept[x] = -1;
            evict--;
          }
        }
      }
      for (let x = 0; x < L; x++) if (kept[x] >= 0) stay.push(kept[x]);
      excess -= load[j] - c;
      load[j] = c;
      members[j] = stay;
      if (delta > 0) {
        q[j] += delta;
        best.qVersion[j]++;
      }
      stats.evictions += L - c;
    }
    stats.evictionRounds++;
    if (before - excess < EVICT_MIN_GAIN * before) break;
  }
}

/**
 * Repairs a dual-feasible routing (every token's experts a top-k of s − q) into the optimum, by
 * successive shortest paths (see the docstring). `experts` (n·k) and `q` (m) are updated in place.
 */
function repairToOptimum(
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  experts: Int32Array,
  q: Float64Array,
  ws: ExactWorkspace = new ExactWorkspace(),
  bestPrimed = false,
  allowed: Uint8Array | null = null,
): ExactStats {
  ws.ensure(n, m);
  if (!bestPrimed) ws.best.reset(n, m);
  const c = capacity(n, m, k);
  const T = m;
  const { has, candTok, candDiff, candLen, candBound, rowBuilt, dist, prevNode, prevTok, done, settled } = ws;
  const stats: ExactStats = { evictionRounds: 0, evictions: 0, augmentations: 0, pops: 0, rowsBuilt: 0, pairRebuilds: 0 };

  const load = new Int32Array(m);
  // has: 0 = a free pair, 1 = chosen, 2 = outside the mask. Every candidate test is !has (free only).
  if (allowed !== null) for (let x = 0; x < n * m; x++) has[x] = allowed[x] ? 0 : 2;
  for (let x = 0; x < n * k; x++) {
    const i = (x / k) | 0;
    has[i * m + experts[x]] = 1;
    load[experts[x]]++;
  }
  // Members of each expert: tokens that are or were in it (stale entries are skipped via `has`).
  const members: number[][] = [];
  for (let j = 0; j < m; j++) members.push([]);
  for (let x = 0; x < n * k; x++) members[experts[x]].push((x / k) | 0);

  evictionRounds(scores, n, m, k, c, experts, q, has, load, members, ws.best, stats);

  // Step 3: the pseudo-flow and the potentials.
  const f = new Int32Array(m);
  const excess = new Int32Array(m + 1);
  const phi = new Float64Array(m + 1);
  let sumF = 0;
  for (let j = 0; j < m; j++) {
    f[j] = q[j] > 0 ? c : Math.min(load[j], c);
    excess[j] = load[j] - f[j];
    sumF += f[j];
    phi[j] = -q[j];
  }
  excess[T] = sumF - n * k;
  rowBuilt.fill(0);

  // Each pair's list is stored by decreasing diff, so that its head (the smallest) is the last entry
  // and is popped in O(1). The head of every built list is kept valid (its token is in a and not in
  // b): move() advances the heads its token invalidates; entries behind the head are checked when they
  // become the head.

  /** Inserts token `tok` with `diff` into the list of `pair`, keeping the bound invariant. */
  function insert(pair: number, tok: number, diff: number): void {
    if (diff >= candBound[pair]) return;
    const base = pair * LIST;
    const len = candLen[pair];
    if (len === LIST) {
      // Full: drop the largest; everything outside the list is now ≥ it.
      const largest = candDiff[base];
      candBound[pair] = largest;
      if (diff >= largest) return;
      let p = 0;
      while (p + 1 < LIST && candDiff[base + p + 1] > diff) {
        candDiff[base + p] = candDiff[base + p + 1];
        candTok[base + p] = candTok[base + p + 1];
        p++;
      }
      candDiff[base + p] = diff;
      candTok[base + p] = tok;
      return;
    }
    let p = len;
    while (p > 0 && candDiff[base + p - 1] < diff) {
      candDiff[base + p] = candDiff[base + p - 1];
      candTok[base + p] = candTok[base + p - 1];
      p--;
    }
    candDiff[base + p] = diff;
    candTok[base + p] = tok;
    candLen[pair] = len + 1;
  }

  /** Fills the lists of pairs (a, b) for every b from a's members. O(|members a|·m). */
  function buildRow(a: number): void {
    stats.rowsBuilt++;
    const row = a * m;
    for (let b = 0; b < m; b++) {
      candLen[row + b] = 0;
      candBound[row + b] = Infinity;
    }
    const list = members[a];
    for (let x = 0; x < list.length; x++) {
      const i = list[x];
      const r = i * m;
      if (!has[r + a]) continue;
      const sa = scores[r + a];
      for (let b = 0; b < m; b++) {
        const d = sa - scores[r + b];
        // Most candidates lose to a full list's largest entry: one comparison (insert re-checks).
        if (d >= candBound[row + b] || has[r + b]) continue;
        if (candLen[row + b] === LIST && d >= candDiff[(row + b) * LIST]) {
          candBound[row + b] = candDiff[(row + b) * LIST];
          continue;
        }
        insert(row + b, i, d);
      }
    }
    rowBuilt[a] = 1;
  }

  /** Refills the list of (a, b) from a's members once it has run dry and tokens were left out. O(|members a|). */
  function rebuildPair(a: number, b: number): void {
    stats.pairRebuilds++;
    const pair = a * m + b;
    candLen[pair] = 0;
    candBound[pair] = Infinity;
    const list = members[a];
    for (let x = 0; x < list.length; x++) {
      const r = list[x] * m;
      if (has[r + a] && !has[r + b]) insert(pair, list[x], scores[r + a] - scores[r + b]);
    }
  }

  /** Drops invalid entries from the head of the list of (a, b). */
  function advance(pair: number, a: number, b: number): void {
    const base = pair * LIST;
    let len = candLen[pair];
    while (len > 0) {
      const t = candTok[base + len - 1] * m;
      if (has[t + a] && !has[t + b]) break;
      len--;
    }
    candLen[pair] = len;
  }

  /** Moves token i from expert a to expert b (i has a, lacks b), keeping the candidate lists exact. */
  function move(i: number, a: number, b: number): void {
    const r = i * m;
    for (let t = 0; t < k; t++) {
      if (experts[i * k + t] === a) {
        experts[i * k + t] = b;
        break;
      }
    }
    has[r + a] = 0;
    has[r + b] = 1;
    load[a]--;
    load[b]++;
    members[b].push(i);
    // Heads that named this token and are now invalid: pairs (a, x) (it left a) and (y, b) (it has b).
    if (rowBuilt[a]) {
      for (let x = 0; x < m; x++) {
        const pair = a * m + x;
        const len = candLen[pair];
        if (len > 0 && candTok[pair * LIST + len - 1] === i) advance(pair, a, x);
      }
    }
    for (let t = 0; t < k; t++) {
      const y = experts[i * k + t];
      if (y === b || !rowBuilt[y]) continue;
      const pair = y * m + b;
      const len = candLen[pair];
      if (len > 0 && candTok[pair * LIST + len - 1] === i) advance(pair, y, b);
    }
    // New candidacies: (b, x) for every x the token lacks, and (y, a) for every y it has.
    if (rowBuilt[b]) {
      const sb = scores[r + b];
      for (let x = 0; x < m; x++) if (!has[r + x]) insert(b * m + x, i, sb - scores[r + x]);
    }
    const sa = scores[r + a];
    for (let t = 0; t < k; t++) {
      const y = experts[i * k + t];
      if (y !== b && rowBuilt[y]) insert(y * m + a, i, scores[r + y] - sa);
    }
  }

  let source = 0;
  for (;;) {
    while (source <= T && excess[source] <= 0) source++;
    if (source > T) break;
    // Dijkstra from `source` to the nearest node with negative excess (dense graph: scan for the minimum).
    dist.fill(Infinity);
    done.fill(0);
    dist[source] = 0;
    let nSettled = 0;
    let sink: number;
    for (;;) {
      let u = -1;
      let best = Infinity;
      for (let v = 0; v <= T; v++) {
        if (!done[v] && dist[v] < best) {
          best = dist[v];
          u = v;
        }
      }
      if (u < 0) {
        if (allowed !== null) {
          has.fill(0, 0, n * m);
          throw new ExactInfeasibleError(`exact: no routing inside the allowed experts gives each of the n=${n} tokens k=${k} experts with at most c=${c} tokens per expert (m=${m})`);
        }
        throw new Error(`exact: no augmenting path from node ${source} (internal error: the problem is always feasible)`);
      }
      if (excess[u] < 0) {
        sink = u;
        break;
      }
      done[u] = 1;
      settled[nSettled++] = u;
      stats.pops++;
      if (u === T) {
        for (let j = 0; j < m; j++) {
          if (done[j] || f[j] === 0) continue;
          const w = phi[T] - phi[j];
          const nd = best + (w > 0 ? w : 0);
          if (nd < dist[j]) {
            dist[j] = nd;
            prevNode[j] = T;
          }
        }
        continue;
      }
      if (!rowBuilt[u]) buildRow(u);
      const row = u * m;
      for (let b = 0; b < m; b++) {
        if (done[b]) continue;
        let len = candLen[row + b];
        if (len === 0) {
          if (candBound[row + b] === Infinity) continue; // no token of u lacks b
          rebuildPair(u, b);
          len = candLen[row + b];
          if (len === 0) continue;
        }
        const at = (row + b) * LIST + len - 1;
        const w = candDiff[at] + phi[u] - phi[b];
        // Reduced costs are ≥ 0 in exact arithmetic; clamp rounding noise so Dijkstra stays valid.
        const nd = best + (w > 0 ? w : 0);
        if (nd < dist[b]) {
          dist[b] = nd;
          prevNode[b] = u;
          prevTok[b] = candTok[at];
        }
      }
      if (!done[T] && f[u] < c) {
        const w = phi[u] - phi[T];
        const nd = best + (w > 0 ? w : 0);
        if (nd < dist[T]) {
          dist[T] = nd;
          prevNode[T] = u;
        }
      }
    }
    const D = dist[sink];
    for (let s = 0; s < nSettled; s++) {
      const v = settled[s];
      phi[v] -= D - dist[v];
    }
    // Push one unit along the path, from the sink back to the source.
    for (let v = sink; v !== source; ) {
      const u = prevNode[v];
      if (u === T) f[v]--;
      else if (v === T) f[u]++;
      else move(prevTok[v], u, v);
      v = u;
    }
    excess[source]--;
    excess[sink]++;
    stats.augmentations++;
  }

  // Duals: q_j = φ_T − φ_j; exactly 0 where the expert is under-full (its reduced costs force ≤ 0 there).
  for (let j = 0; j < m; j++) {
    const v = phi[T] - phi[j];
    q[j] = load[j] < c || v < 0 ? 0 : v;
  }
  if (allowed !== null) has.fill(0, 0, n * m);
  else for (let x = 0; x < n * k; x++) has[((x / k) | 0) * m + experts[x]] = 0;
  return stats;
}

/** Sorts each token's experts by decreasing key s − q (ties: lower id), as every balancer presents them. */
function sortByKey(scores: Float32Array, n: number, m: number, k: number, q: Float64Array, experts: Int32Array): void {
  for (let i = 0; i < n; i++) {
    const o = i * k;
    for (let t = 1; t < k; t++) {
      const j = experts[o + t];
      const key = scores[i * m + j] - q[j];
      let p = t;
      while (p > 0) {
        const prev = experts[o + p - 1];
        const pk = scores[i * m + prev] - q[prev];
        if (pk > key || (pk === key && prev < j)) break;
        experts[o + p] = prev;
        p--;
      }
      experts[o + p] = j;
    }
  }
}

/**
 * Every token's top-k of s − q (ties to the smaller q, as assignTopK) and, from the same pass, its
 * (k+1)-th key and expert (the best unchosen one) and (k+2)-th key, which prime `best` for the
 * eviction rounds.
 */
function topKWithRunnerUp(
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  q: Float64Array,
  best: BestUnchosen,
  allowed: Uint8Array | null,
): Int32Array {
  best.reset(n, m);
  const experts = new Int32Array(n * k);
  const slots = Math.min(k + 2, m);
  const idBuf = new Int32Array(slots);
  const keyBuf = new Float64Array(slots);
  const sh = q.map((x) => -x);
  // With a mask: the row's shift is −∞ outside it (a row copy, so the shared kernel stays unmasked).
  const rowSh = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    if (allowed === null) topKRowShifted(scores, i * m, m, sh, slots, idBuf, keyBuf, -Infinity);
    else {
      for (let j = 0; j < m; j++) rowSh[j] = allowed[i * m + j] ? sh[j] : -Infinity;
      topKRowShifted(scores, i * m, m, rowSh, slots, idBuf, keyBuf, -Infinity);
      if (keyBuf[k - 1] === -Infinity) throw new InputError(`exact: token ${i} has fewer than k=${k} allowed experts`);
    }
    for (let t = 0; t < k; t++) experts[i * k + t] = idBuf[t];
    if (slots > k && keyBuf[k] > -Infinity) best.set(i, keyBuf[k], idBuf[k], slots > k + 1 ? keyBuf[k + 1] : -Infinity);
    else best.set(i, -Infinity, -1, -Infinity);
  }
  return experts;
}

/**
 * The optimum of one batch, warm-started from q (updated in place to the certified duals). No input
 * checks: ExactBalancer checks. `allowed` (n·m, 1 = may be chosen) restricts every token to a mask
 * (group-limited exact); an instance with no capacity-feasible routing inside it is an
 * ExactInfeasibleError.
 */
export function solveExact(
  scores: Float32Array,
  n: number,
  m: number,
  k: number,
  q: Float64Array,
  warmIters = 0,
  ws: ExactWorkspace = new ExactWorkspace(),
  allowed: Uint8Array | null = null,
): ExactRouteResult {
  // Step 1: the warm start. truncateP = false: p is free in the equality form (each token gets exactly k).
  if (warmIters > 0) dualIterations(scores, n, m, k, q, warmIters, false, true, ws.dual);
  for (let j = 0; j < m; j++) if (!(q[j] >= 0)) q[j] = 0;
  const experts = topKWithRunnerUp(scores, n, m, k, q, ws.best, allowed);
  const stats = repairToOptimum(scores, n, m, k, experts, q, ws, true, allowed);
  sortByKey(scores, n, m, k, q, experts);
  const weights = new Float32Array(n * k);
  const loads = new Int32Array(m);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) loads[experts[i * k + t]]++;
    writeWeights(scores, i, m, k, experts, weights);
  }
  const certificate = checkCertificate(scores, n, m, k, experts, q, CERTIFICATE_TOL, allowed);
  return { n, m, k, experts, weights, loads, q: q.slice(), certificate, stats };
}

export type ExactOrder = 'update-then-route' | 'route-then-update';

export interface ExactOptions {
  /** BIP dual iterations run on the batch before the repair (default 0: the previous batch's q alone). */
  warmIters?: number;
  /** 'update-then-route' (default: the batch's own optimum) or 'route-then-update' (causal). */
  order?: ExactOrder;
}

/** The exact optimum as a balancer; state { q }, the duals of the last batch solved. */
export class ExactBalancer implements Balancer {
  readonly method = 'exact' as const;
  readonly warmIters: number;
  readonly order: ExactOrder;
  private q: Float64Array | null = null;
  private readonly ws = new ExactWorkspace();
  /** The certificate and counters of the last exact solve (null before the first). */
  last: ExactRouteResult | null = null;

  constructor(options: ExactOptions = {}) {
    const o = resolveOptions('exact', options as Record<string, unknown>) as Required<ExactOptions>;
    this.warmIters = o.warmIters;
    this.order = o.order;
  }

  /**
   * update-then-route: the certified optimum of this batch (an ExactRouteResult). route-then-update:
   * top-k of s − q with the previous batch's q (causal, capacity not guaranteed), then this batch's
   * optimum becomes the state. update = false routes the same way and leaves the state untouched.
   */
  route(scores: Float32Array, n: number, m: number, k: number, opts: RouteCallOptions = {}): RouteResult {
    validateRouteInput(scores, n, m, k);
    const q = (this.q = stateVectorFor(this.q, m, 'exact', 'q'));
    const update = opts.update ?? true;
    if (this.order === 'route-then-update') {
      const routed = assignTopK(scores, n, m, k, q, -1);
      if (update) this.last = solveExact(scores, n, m, k, q, this.warmIters, this.ws);
      return routed;
    }
    const result = solveExact(scores, n, m, k, update ? q : q.slice(), this.warmIters, this.ws);
    this.last = result;
    return result;
  }

  getState(): BalancerState {
    return { q: stateVectorJson(this.q) };
  }

  setState(state: BalancerState): void {
    this.q = readStateVector(state, 'q', this.q, 'exact');
  }

  reset(): void {
    this.q = null;
  }

  /** The current q (a copy), or null before the first call. */
  get qVector(): Float64Array | null {
    return this.q ? this.q.slice() : null;
  }
}
