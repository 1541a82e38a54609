/**
 * AdamW split over the W ranks of a data-parallel group by element range (the ZeRO stage-1 idea: each
 * rank owns the optimizer update of 1/W of the parameters). The master parameters and both moments live
 * once, in the group's shared memory; rank r owns elements R_r = [lo_r, hi_r) of the flattened
 * parameters (model.params order). After every rank has written its share's gradient g_w to its slot
 * and passed a barrier:
 *
 *   1. reduce-scatter: rank r sums g_i = Σ_w (B_w / B) · g_w,i for i in R_r only (ranks in order), and
 *      its partial squared norm Σ_{i∈R_r} g_i²;                                                barrier
 *   2. ||g|| = sqrt(Σ_r partial_r), summed in rank order (the same bits on every rank); rank r applies
 *      AdamW (optimizer.ts, adamWUpdate) to R_r of the shared parameters and moments;             barrier
 *   3. every rank uploads all the master parameters into its model (uploadParams).
 *
 * So each rank sums and updates N/W elements instead of N (both are memory-bound loops over 7M floats on
 * moe16, ~100 and ~200 ms on one core), and the parameters stay identical on every rank. Against one
 * process, only the norm's float64 summation order differs (partial sums per range).
 */
import type { Params } from '../model/params.ts';
import { adamWCoefficients, adamWScalars, adamWUpdate, uploadParams, type AdamWOptions, type AdamWState } from './optimizer.ts';
import { optimizerKernelsOn, type OptimizerKernels } from './wasm/instance.ts';
import type { GroupMemory, WorkerGroup } from './workerGroup.ts';

/** Float32 entries of the shared optimizer memory per parameter element: weight, m, v. */
export const MASTER_ARRAYS = 3;

/** A parameter's place in the flattened layout (model.params order, as the gradient slots use). */
interface Segment {
  name: string;
  offset: number;
  size: number;
  wd: number;
}

/** Rank r's elements [lo, hi) of N, contiguous and as equal as can be. */
export function elementRange(N: number, W: number, r: number): { lo: number; hi: number } {
  return { lo: Math.floor((N * r) / W), hi: Math.floor((N * (r + 1)) / W) };
}

/** The AdamW state as views of the group's shared memory (master copy, m, v of every parameter), at step t. */
export function sharedAdamState(params: Params, mem: GroupMemory, t: number): AdamWState {
  const N = mem.gradSize;
  const view = (a: number, offset: number, size: number) => new Float32Array(mem.master, mem.masterOffset + (a * N + offset) * 4, size);
  const state: AdamWState = { t, w: new Map(), m: new Map(), v: new Map() };
  let o = 0;
  for (const [name, p] of params) {
    state.w.set(name, view(0, o, p.size));
    state.m.set(name, view(1, o, p.size));
    state.v.set(name, view(2, o, p.size));
    o += p.size;
  }
  if (o !== N) throw new Error(`shared optimizer memory holds ${N} elements, the model has ${o}`);
  return state;
}

/** Copies a state into the group's shared memory and returns it as views there (rank 0, before the helpers start). */
export function shareAdamState(state: AdamWState, params: Params, mem: GroupMemory): AdamWState {
  const shared = sharedAdamState(params, mem, state.t);
  for (const name of params.keys()) {
    shared.w.get(name)!.set(state.w.get(name)!);
    shared.m.get(name)!.set(state.m.get(name)!);
    shared.v.get(name)!.set(state.v.get(name)!);
  }
  return shared;
}

/** One rank's part of the split AdamW step (see the file comment). */
export class ShardedAdamW {
  private readonly segments: Segment[] = [];
  private readonly lo: number;
  private readonly hi: number;
  /**
   * This rank's range of the summed gradient: its own slot's range, overwritten in place (rank r alone
   * reads range R_r of any slot, and the slots are written again only after the update's barrier).
   */
  private readonly g: Float32Array;
  private readonly w: Float32Array;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly norms: Float64Array;
  /** The SIMD kernels on the group's shared WebAssembly memory (null: the TypeScript loops). */
  private readonly kernels: OptimizerKernels | null;

  constructor(
    private readonly params: Params,
    readonly state: AdamWState,
    private readonly group: WorkerGroup,
    private readonly opts: AdamWOptions,
    decay: (name: string) => boolean,
  ) {
    const { mem, rank } = group;
    const N = mem.gradSize;
    let o = 0;
    for (const [name, p] of params) {
      this.segments.push({ name, offset: o, size: p.size, wd: decay(name) ? opts.weightDecay : 0 });
      o += p.size;
    }
    ({ lo: this.lo, hi: this.hi } = elementRange(N, group.W, rank));
    this.g = group.gradSlot(rank).subarray(this.lo, this.hi);
    this.w = new Float32Array(mem.master, mem.masterOffset, N);
    this.m = new Float32Array(mem.master, mem.masterOffset + N * 4, N);
    this.v = new Float32Array(mem.master, mem.masterOffset + 2 * N * 4, N);
    this.norms = new Float64Array(mem.norms);
    // allocGroupMemory made the shared memory only where the kernels are wanted (MOE_BALANCE_OPTIMIZER_KERNELS).
    this.kernels = mem.heap ? optimizerKernelsOn(mem.heap) : null;
  }

  /**
   * Steps 1–3 above, after the barrier that follows the gradient slots' writing. `scales[w]` is rank w's
   * weight B_w / B. Returns the gradient norm before clipping; throws, on every rank alike, when it is
   * not finite.
   */
  step(lr: number, scales: number[]): number {
    this.reduce(scales);
    this.group.barrier();
    const norm = this.norm();
    this.update(lr, norm);
    // Every range updated: the slots and norms may be written again, the parameters read.
    this.group.barrier();
    uploadParams(this.params, this.state.w);
    return norm;
  }

  /** Step 1: this rank's range of the summed gradient, and its partial squared norm (published). */
  reduce(scales: number[]): void {
    const { group, lo, hi } = this;
    const slots = scales.map((_, w) => group.gradSlot(w).subarray(lo, hi));
    const k = this.kernels;
    this.norms[group.rank] = k && slots.length === 2 ? k.reduce2(slots[0].byteOffset, slots[1].byteOffset, scales[0], scales[1], this.g.byteOffset, this.g.length) : reduceRange(slots, scales, this.g);
  }

  /** ||g|| from every rank's published partial (after the barrier), summed in rank order. */
  norm(): number {
    let sq = 0;
    for (let w = 0; w < this.group.W; w++) sq += this.norms[w];
    return Math.sqrt(sq);
  }

  /** Step 2: AdamW on this rank's range of the shared parameters and moments. */
  update(lr: number, norm: number): void {
    const { lo, hi, g } = this;
    const c = adamWCoefficients(norm, this.state, lr, this.opts);
    const k = this.kernels;
    for (const s of this.segments) {
      const a = Math.max(lo, s.offset);
      const b = Math.min(hi, s.offset + s.size);
      if (a >= b) continue;
      const [w, gs, m, v] = [this.w.subarray(a, b), g.subarray(a - lo, b - lo), this.m.subarray(a, b), this.v.subarray(a, b)];
      if (k) {
        const x = adamWScalars(c, s.wd);
        k.adamw(w.byteOffset, gs.byteOffset, m.byteOffset, v.byteOffset, b - a, x.b1, x.c1, x.b2, x.c2, x.scale, x.inv2, x.eps, x.keep, x.a);
      } else adamWUpdate(w, gs, m, v, c, s.wd);
    }
  }
}

/** out_i = Σ_w scales[w] · slots[w]_i (float64, rounded once to float32; out may be one of the slots); returns Σ_i out_i². */
export function reduceRange(slots: Float32Array[], scales: number[], out: Float32Array): number {
  let sq = 0;
  if (slots.length === 2) {
    // The common case as its own loop (no inner loop over ranks): this is a hot, memory-bound pass.
    const [a, b] = slots;
    const [sa, sb] = scales;
    for (let i = 0; i < out.length; i++) {
      const x = Math.fround(a[i] * sa + b[i] * sb);
      out[i] = x;
      sq += x * x;
    }
    return sq;
  }
  for (let i = 0; i < out.length; i++) {
    let x = 0;
    for (let w = 0; w < slots.length; w++) x += slots[w][i] * scales[w];
    const f = Math.fround(x);
    out[i] = f;
    sq += f * f;
  }
  return sq;
}
