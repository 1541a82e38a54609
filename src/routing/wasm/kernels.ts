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
}

export class RoutingKernels {
  private layout: Layout | null = null;

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
    this.layout = { n, m, k, scores: t[0], shift: t[1], q: t[2], experts: t[3], weights: t[4], loads: t[5], tune: t[6] };
    return this.layout;
  }

  private f64(ptr: number, len: number): Float64Array {
    return new Float64Array(this.x.memory.buffer, ptr, len);
  }

  /** Copies the scores in (the kernels check them in their first pass: checked()). */
  private load(scores: Float32Array, n: number, m: number, k: number): Layout {
    const l = this.shape(n, m, k);
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

  /** Copies the scores in for sumLoaded() (the benchmark's read-bandwidth probe). */
  loadForSum(scores: Float32Array, n: number, m: number): void {
    this.load(scores, n, m, 1);
  }

  /** Sum of the scores last loaded, in f32x4 SIMD: one read of the batch from wasm memory. */
  sumLoaded(): number {
    return this.x.sum_scores();
  }
}
