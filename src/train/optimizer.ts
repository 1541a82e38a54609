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
 * of the parameters (equal to the variables' values; updated here and uploaded, so the parameters are
 * never read back out of the backend: one copy of every parameter less per step).
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

/** Fresh moments (zeros) at step 0; the master parameters are copied from the variables. */
export function initAdamWState(params: Params): AdamWState {
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [name, p] of params) {
    m.set(name, new Float32Array(p.size));
    v.set(name, new Float32Array(p.size));
  }
  return { t: 0, m, v, w: masterParams(params) };
}

/** Copies of the variables' current values (call after restoring parameters into the variables). */
export function masterParams(params: Params): Map<string, Float32Array> {
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

/** The step's coefficients, the same for every element: lr, moments' decay, bias corrections, clip scale. */
export interface AdamWCoefficients {
  lr: number;
  beta1: number;
  beta2: number;
  /** 1 / (1 − β1^t), 1 / (1 − β2^t). */
  inv1: number;
  inv2: number;
  eps: number;
  /** The clipping factor min(1, clip / ||g||). */
  scale: number;
}

/**
 * Starts step t + 1 (increments state.t) for a gradient of global norm `norm` and returns its
 * coefficients. Throws when the norm is not finite (the caller turns that into a TrainingError).
 */
export function adamWCoefficients(norm: number, state: AdamWState, lr: number, opts: AdamWOptions): AdamWCoefficients {
  if (!Number.isFinite(norm)) throw new Error(`gradient norm is ${norm}`);
  const scale = opts.gradClip > 0 && norm > opts.gradClip ? opts.gradClip / norm : 1;
  state.t += 1;
  const { beta1, beta2, eps } = opts;
  return { lr, beta1, beta2, inv1: 1 / (1 - Math.pow(beta1, state.t)), inv2: 1 / (1 - Math.pow(beta2, state.t)), eps, scale };
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
  const c = adamWCoefficients(norm, state, lr, opts);
  for (const name of params.keys()) {
    const g = grads.get(name);
    if (!g) throw new Error(`no gradient for parameter ${name}`);
    adamWUpdate(state.w.get(name)!, g, state.m.get(name)!, state.v.get(name)!, c, decay(name) ? opts.weightDecay : 0);
  }
  uploadParams(params, state.w);
  return norm;
}

/**
 * Uploads the master parameters into the variables. Assign, never write in place: wasm's XNNPACK matmul
 * caches packed matrices per tensor. wasm copies the values into its heap; the cpu backend would keep the
 * array itself, so it gets a copy.
 */
export function uploadParams(params: Params, master: Map<string, Float32Array>): void {
  const copy = tf.getBackend() !== 'wasm';
  tf.tidy(() => {
    for (const [name, p] of params) {
      const w = master.get(name)!;
      p.assign(tf.tensor(copy ? w.slice() : w, p.shape));
    }
  });
}

/**
 * The scalars of the element-wise update, the same for every element of a parameter with weight decay
 * wd: the TypeScript loop below and the SIMD kernel (wasm/c/optimizer.c adamw, in this order) use these.
 */
export function adamWScalars(c: AdamWCoefficients, wd: number) {
  return {
    b1: c.beta1,
    c1: 1 - c.beta1,
    b2: c.beta2,
    c2: 1 - c.beta2,
    scale: c.scale,
    inv2: c.inv2,
    eps: c.eps,
    keep: 1 - c.lr * wd, // decoupled weight decay: w - lr * wd * w
    a: c.lr * c.inv1,
  };
}

/**
 * The element-wise update of w, m, v (equal-length arrays, or equal ranges of them) from g, with weight
 * decay wd (a separate small function, so that V8 optimises the hot loop once).
 */
export function adamWUpdate(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, c: AdamWCoefficients, wd: number): void {
  const { b1, c1, b2, c2, scale, inv2, eps, keep, a } = adamWScalars(c, wd);
  for (let i = 0; i < w.length; i++) {
    const gi = g[i] * scale;
    const mi = b1 * m[i] + c1 * gi;
    const vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] * keep - (a * mi) / (Math.sqrt(vi * inv2) + eps);
  }
}
