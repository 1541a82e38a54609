/**
 * AdamW (Loshchilov & Hutter) with global-norm gradient clipping, computed in plain typed arrays so
 * that its state (the two moments and the step) is explicit, checkpointable and bit-for-bit resumable:
 *
 *   g   <- g * min(1, clip / ||g||)               (global norm over all parameters; clip = 0: off)
 *   m   <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g²
 *   p   <- p - lr * ( m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps)  +  wd * p )   (wd on matrices only)
 *
 * Defaults as in nanoGPT: b1 0.9, b2 0.95, eps 1e-8, weight decay 0.1, clip 1.0.
 */
import * as tf from '@tensorflow/tfjs';
import type { Params } from '../model/params.ts';
import type { TrainConfig } from './config.ts';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the global gradient norm to this; 0 turns clipping off. */
  gradClip: number;
}

/**
 * The optimizer's state: the step count, the two moment buffers of every parameter, and a master copy
 * of the weights (equal to the variables' values; updated here and uploaded, so the weights are never
 * read back out of the backend: one copy of every weight less per step).
 */
export interface AdamWState {
  t: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  w: Map<string, Float32Array>;
}

/** The optimizer settings of a training configuration. */
export function adamOptions(cfg: TrainConfig): AdamWOptions {
  return { beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.adamEps, weightDecay: cfg.weightDecay, gradClip: cfg.gradClip };
}

/** Fresh moments (zeros) at step 0; the master weights are copied from the variables. */
export function initAdamWState(params: Params): AdamWState {
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, p] of params) {
    m.set(name, new Float32Array(p.size));
    v.set(name, new Float32Array(p.size));
  }
  return { t: 0, m, v, w: masterWeights(params) };
}

/** Copies of the variables' current values (call after restoring weights into the variables). */
export function masterWeights(params: Params): Map<string, Float32Array> {
  const w = new Map<string, Float32Array>();
  for (const [name, p] of params) w.set(name, new Float32Array(p.dataSync() as Float32Array));
  return w;
}

/** Global L2 norm of a set of gradients (float64 accumulation). */
function globalNorm(grads: Map<string, Float32Array>): number {
  let s = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

/**
 * One AdamW update of `params` from `grads` at learning rate `lr`. The gradients may be views of the wasm
 * heap, which any tensor allocation can invalidate: all updates are computed first, then assigned.
 * `decay(name)` says whether a parameter gets weight decay. Returns the gradient norm before clipping.
 */
export function adamWStep(
  params: Params,
  grads: Map<string, Float32Array>,
  state: AdamWState,
  lr: number,
  opts: AdamWOptions,
  decay: (name: string) => boolean,
): number {
  const norm = globalNorm(grads);
  if (!Number.isFinite(norm)) throw new Error(`gradient norm is ${norm}`);
  const scale = opts.gradClip > 0 && norm > opts.gradClip ? opts.gradClip / norm : 1;
  state.t += 1;
  const { beta1: b1, beta2: b2, eps } = opts;
  const inv1 = 1 / (1 - Math.pow(b1, state.t));
  const inv2 = 1 / (1 - Math.pow(b2, state.t));
  const updated: [tf.Variable, Float32Array][] = [];
  for (const [name, p] of params) {
    const g = grads.get(name);
    if (!g) throw new Error(`no gradient for parameter ${name}`);
    const m = state.m.get(name)!;
    const v = state.v.get(name)!;
    const w = state.w.get(name)!;
    adamWUpdate(w, g, m, v, lr, b1, b2, inv1, inv2, eps, decay(name) ? opts.weightDecay : 0, scale);
    updated.push([p, w]);
  }
  // Assign, never write in place: wasm's XNNPACK matmul caches packed weights per tensor. wasm copies
  // the values into its heap; the cpu backend would keep the array itself, so it gets a copy.
  const copy = tf.getBackend() !== 'wasm';
  tf.tidy(() => {
    for (const [p, w] of updated) p.assign(tf.tensor(copy ? w.slice() : w, p.shape));
  });
  return norm;
}

/** The element-wise update (a separate small function, so that V8 optimises the hot loop once). */
function adamWUpdate(
  w: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  lr: number,
  b1: number,
  b2: number,
  inv1: number,
  inv2: number,
  eps: number,
  wd: number,
  scale: number,
): void {
  const c1 = 1 - b1;
  const c2 = 1 - b2;
  const keep = 1 - lr * wd; // decoupled weight decay: w - lr * wd * w
  const a = lr * inv1;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i] * scale;
    const mi = b1 * m[i] + c1 * gi;
    const vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] * keep - (a * mi) / (Math.sqrt(vi * inv2) + eps);
  }
}
