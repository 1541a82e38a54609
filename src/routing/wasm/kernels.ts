/**
 * TypeScript bindings of the WebAssembly routing kernels (c/kernels.c; design and Algorithm 1's lines
 * there). One instance serves every balancer: a call lays out the buffers for its shape (cheap when the
 * shape repeats), copies the scores in, runs, and copies the results out; the balancer's state (q, b,
 * beta) and the kernel's speed tuning (its adapted floor and threshold guesses) live in the balancer and are
 * passed in.
 */
import { capacity } from '../assign.ts';
import { InputError } from '../errors.ts';
import type { RouteResult } from '../types.ts';
import { badScoreMessage } from '../validate.ts';

/** Largest k the kernels take (k + 1 network slots <= 32); larger k use the TypeScript path. */
export const MAX_K = 31;

/** What c/kernels.c exports. */
export interface KernelExports {
  memory: WebAssembly.Memory;
  table(): number;
  setup(n: number, m: number, k: number, c: number): number;
  prepare_scores(): void;
  topk_plain(): number;
  route_shifted(): number;
  dual_route(iters: number, flags: number): number;
  sum_scores(): number;
  shard_setup(octaves: number): number;
  shard_row_ladder(t: number, delta: number, truncP: number, octaves: number, emin: number, floor: number): number;
  shard_route(row0: number, fresh: number, delta: number): number;
}

/** One shard's row step and ladder counts (c/shard.h), copied out of wasm memory. */
export interface ShardLadder {
  /** Per column j: counts[j·(2A + 1) + b] of bucket b, then counts[m·(2A + 1) + j] of values ≥ floor. */
  counts: Int32Array;
  /** Each value's bucket, row i at i·stride. */
  buckets: Uint8Array;
  stride: number;
}

/** Flags of dual_route. */
export const DUAL_TRUNCATE_P = 1;
export const DUAL_TRUNCATE_Q = 2;
export const DUAL_ROUTE_FIRST = 4;

/** The kernel's TUNE array (c/state.h): TUNE_FIXED slots, then one per expert (padded to 4). */
const TUNE_FIXED = 32;
/** Its statistics slots (c/state.h TUNE_ROW_RETRY ..). */
const TUNE_STATS = 16;
const TUNE_STATS_END = 24;

/** Per-balancer speed tuning carried from call to call: the kernel's adapted guesses (never changes a result). */
export class KernelTuning {
  /** The kernel's TUNE slots for this balancer (all zero: nothing adapted yet). */
  state = new Float64Array(0);
  /**
   * Statistics of the last call: row retries, full rows, column fallbacks, compactions, route retries,
   * full routes, tied rows, experts looked at per row and pass.
   */
  readonly stats = new Float64Array(TUNE_STATS_END - TUNE_STATS);
}

interface Layout {
  n: number;
  m: number;
  k: number;
  scores: number;
  shift: number;
  q: number;
  experts: number;
  weights: number;
  loads: number;
  tune: number;
  /** The shard buffers' offsets once shard_setup ran for this layout (c/shard.h), else null. */
  shard: { octaves: number; hint: number; ladder: number; bucket: number; p: number; pRaw: number; stride: number } | null;
}

export class RoutingKernels {
  private layout: Layout | null = null;
  /** Who last loaded scores for shardRowLadder (any other call loads its own and clears it). */
  private owner: object | null = null;

  constructor(private readonly x: KernelExports) {}

  /** Lays out the buffers for (n, m, k) unless they already are. */
  private shape(n: number, m: number, k: number): Layout {
    const l = this.layout;
    if (l !== null && l.n === n && l.m === m && l.k === k) return l;
    this.layout = null;
    if (this.x.setup(n, m, k, capacity(n, m, k)) === 0) {
      throw new InputError(`routing kernels: cannot allocate memory for n=${n}, m=${m}, k=${k}`);
    }
    const t = new Int32Array(this.x.memory.buffer, this.x.table(), 16);
    this.layout = { n, m, k, scores: t[0], shift: t[1], q: t[2], experts: t[3], weights: t[4], loads: t[5], tune: t[6], shard: null };
    return this.layout;
  }

  private f64(ptr: number, len: number): Float64Array {
    return new Float64Array(this.x.memory.buffer, ptr, len);
  }

  /** Copies the scores in (the kernels check them in their first pass: checked()). */
  private load(scores: Float32Array, n: number, m: number, k: number): Layout {
    const l = this.shape(n, m, k);
    this.owner = null;
    new Float32Array(this.x.memory.buffer, l.scores, n * m).set(scores);
    this.x.prepare_scores();
    return l;
  }

  /**
   * A kernel's input check: `bad` is the flat index of the first score that is NaN, infinite, or negative
   * with k > 1 (the InputError of validate.ts), or -1. The kernels stop before writing any result then.
   */
  private checked(bad: number, scores: Float32Array, m: number): void {
    if (bad >= 0) throw new InputError(badScoreMessage(scores[bad], bad, m));
  }

  private result(l: Layout): RouteResult {
    const buf = this.x.memory.buffer;
    const { n, m, k } = l;
    return {
      n,
      m,
      k,
      experts: new Int32Array(buf, l.experts, n * k).slice(),
      weights: new Float32Array(buf, l.weights, n * k).slice(),
      loads: new Int32Array(buf, l.loads, m).slice(),
    };
  }

  /** Top-k of the scores per token, ties by the rotated order (select.ts topKRowPlain). */
  topk(scores: Float32Array, n: number, m: number, k: number): RouteResult {
    const l = this.load(scores, n, m, k);
    this.checked(this.x.topk_plain(), scores, m);
    return this.result(l);
  }

  /** Top-k of (s_ij + sh_j) per token, ties to the larger sh_j then by the rotated order (select.ts topKRowShifted). */
  topkShifted(scores: Float32Array, n: number, m: number, k: number, sh: Float64Array): RouteResult {
    const l = this.load(scores, n, m, k);
    this.f64(l.shift, m).set(sh);
    this.checked(this.x.route_shifted(), scores, m);
    return this.result(l);
  }

  /**
   * `iters` dual iterations of Algorithm 1 warm-started from q (updated in place), and the routing with
   * the q before (DUAL_ROUTE_FIRST) or after them. Same results as dual.ts dualIterations + assignTopK.
   */
  dualRoute(scores: Float32Array, n: number, m: number, k: number, q: Float64Array, iters: number, flags: number, tuning: KernelTuning): RouteResult {
    const l = this.load(scores, n, m, k);
    this.f64(l.q, m).set(q);
    const slots = TUNE_FIXED + ((m + 3) & ~3);
    if (tuning.state.length !== slots) tuning.state = new Float64Array(slots);
    this.f64(l.tune, slots).set(tuning.state);
    this.checked(this.x.dual_route(iters, flags), scores, m);
    tuning.state.set(this.f64(l.tune, slots));
    tuning.stats.set(tuning.state.subarray(TUNE_STATS, TUNE_STATS_END));
    q.set(this.f64(l.q, m));
    return this.result(l);
  }

  /**
   * A shard's row step p = [(k+1)-th largest of s − q]₊ (truncP) into p and pRaw (as dual.ts rowStep), then
   * its ladder around the hint (shardedSelect.ts: the same counts as its countLadder). `fresh`: scores
   * new to this call (loaded and checked, floors from the row's own values); else the scores of this
   * `owner`'s previous call stay loaded, and p's floors come from pRaw and delta (max_j |q_j − the q of
   * the previous row step|), unless another owner used the kernels since (then as fresh).
   */
  shardRowLadder(
    scores: Float32Array,
    n: number,
    m: number,
    k: number,
    q: Float64Array,
    truncP: boolean,
    fresh: boolean,
    delta: number,
    owner: object,
    ladder: { hint: Float64Array; octaves: number; emin: number; floor: number },
    p: Float64Array,
    pRaw: Float64Array,
  ): ShardLadder {
    const l = this.shape(n, m, k);
    if (l.shard === null || l.shard.octaves !== ladder.octaves) {
      if (this.x.shard_setup(ladder.octaves) === 0) throw new InputError(`routing kernels: cannot allocate memory for a shard of n=${n}, m=${m}`);
      const t = new Int32Array(this.x.memory.buffer, this.x.table(), 16);
      l.shard = { octaves: ladder.octaves, hint: t[7], ladder: t[8], bucket: t[9], p: t[10], pRaw: t[11], stride: (m + 3) & ~3 };
      fresh = true;
    }
    const sh = l.shard;
    if (fresh || this.owner !== owner) {
      this.load(scores, n, m, k);
      fresh = true;
    }
    this.owner = owner;
    this.f64(l.q, m).set(q);
    this.f64(sh.hint, m).set(ladder.hint);
    this.checked(this.x.shard_row_ladder(fresh ? 0 : 1, delta, truncP ? 1 : 0, ladder.octaves, ladder.emin, ladder.floor), scores, m);
    p.set(this.f64(sh.p, n));
    pRaw.set(this.f64(sh.pRaw, n));
    const size = m * (2 * ladder.octaves + 2);
    return {
      counts: new Int32Array(this.x.memory.buffer, sh.ladder, size).slice(),
      buckets: new Uint8Array(this.x.memory.buffer, sh.bucket, n * sh.stride).slice(),
      stride: sh.stride,
    };
  }

  /**
   * A shard's routing with q: top-k of s − q, ties by the rotated order of the global token index
   * row0 + i (select.ts; as assignTopK with the shard's token offset). On the scores this `owner`'s last
   * shardRowLadder loaded, from its pRaw floors (delta: max_j |q_j − the q of that row step|); else the
   * scores are loaded afresh.
   */
  shardRoute(scores: Float32Array, n: number, m: number, k: number, q: Float64Array, owner: object, delta: number, row0: number): RouteResult {
    const l = this.shape(n, m, k);
    const fresh = l.shard === null || this.owner !== owner;
    if (fresh) this.load(scores, n, m, k);
    this.f64(l.q, m).set(q);
    this.checked(this.x.shard_route(row0, fresh ? 1 : 0, delta), scores, m);
    return this.result(l);
  }

  /** Copies the scores in for sumLoaded() (the benchmark's read-bandwidth probe). */
  loadForSum(scores: Float32Array, n: number, m: number): void {
    this.load(scores, n, m, 1);
  }

  /** Sum of the scores last loaded, in f32x4 SIMD: one read of the batch from wasm memory. */
  sumLoaded(): number {
    return this.x.sum_scores();
  }
}
