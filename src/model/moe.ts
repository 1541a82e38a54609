/**
 * The MoE feed-forward of one block:
 *
 *   logits = x . Wr                      [N, m]   (router, no bias)
 *   scores = softmax(logits) | sigmoid   [N, m]
 *   experts = balancer.route(scores)     [N, k]   (read out of the graph: selection carries no gradient)
 *   weights = scores at experts, / their sum when k > 1   (in the graph: the router learns through them)
 *   y_i = sum over the k chosen e of weights_ie * SwiGLU_e(x_i)  (+ shared experts on every token)
 *
 * Dispatch: the N*k (token, expert) pairs are ordered by expert once outside the gradient, the tokens are
 * gathered in that order, split into one contiguous 2-D block per expert, and the expert outputs are
 * concatenated, weighted and scatter-added back to their tokens (gradient: a gather).
 *
 * Auxiliary loss (method auxloss, algorithms.md §4), in the graph so that it trains the router:
 *   global:   alpha * sum_j f_j P_j, f_j = m * count_j / (N k), P_j = mean_i scores_ij
 *   sequence: the same per sequence of T tokens, averaged over the B sequences (MiniMind's seq_aux).
 * Router z-loss (ST-MoE, any method; src/routing/zLoss.ts): coef * mean_i (logsumexp_j logits_ij)^2.
 *
 * Ragged routings (Expert Choice, capacity dropping; RouteResult.offsets): a token's pairs are whatever
 * the balancer kept, so a token with no pair gets y = 0 and passes through the residual only. Gate
 * weights: the scores at the pairs, divided by the sum over the token's pre-drop ids when k > 1 (dropping
 * keeps the pre-drop weight), or the raw scores (Expert Choice).
 */
import * as tf from '@tensorflow/tfjs';
import { pairTokens } from '../routing/ragged.ts';
import type { RouteResult } from '../routing/types.ts';
import { gatherRows, matMul2d, scatterAddRows } from './ops.ts';
import { swiglu } from './layers.ts';

/** The parameters of one expert (a SwiGLU feed-forward): w13 = [w1 | w3] [d, 2h] (gate | up), w2 [h, d] (down). */
export interface ExpertParams {
  w13: tf.Tensor;
  w2: tf.Tensor;
}

/**
 * The parameters of one MoE feed-forward: the router [d, m], the m routed experts and the shared ones.
 * ("weights" is kept for the combine weights of a routing; "experts" for expert ids.)
 */
export interface MoeParams {
  router: tf.Tensor;
  routed: ExpertParams[];
  shared: ExpertParams[];
}

/** Auxiliary-loss settings (only for method auxloss). */
export interface AuxSpec {
  alpha: number;
  form: 'global' | 'sequence';
  /** Sequences and their length, N = B * T. */
  B: number;
  T: number;
}

export interface MoeOptions {
  k: number;
  gate: 'softmax' | 'sigmoid';
  /** Picks the experts from the n x m scores; not called when m = 1 (every token goes to expert 0). */
  route: (scores: Float32Array, n: number, m: number, k: number) => RouteResult;
  aux?: AuxSpec;
  /** Router z-loss coefficient (0 or absent: none). */
  zLoss?: number;
}

export interface MoeOutput {
  y: tf.Tensor2D;
  /** The auxiliary loss of this layer (a scalar in the graph), when opts.aux is given. */
  aux: tf.Scalar | null;
  /** The router z-loss of this layer (a scalar in the graph), when opts.zLoss > 0. */
  z: tf.Scalar | null;
  /** The routing decision (experts and loads; weights as the balancer computed them). */
  route: RouteResult;
  /** The scores the balancer saw. */
  scores: Float32Array;
  /** Time to read the scores out of the graph and route them. */
  routingMs: number;
}

/** The order of the N*k (token, expert) pairs grouped by expert (stable), and the group sizes. */
export interface DispatchPlan {
  /** Pair index a = i*k + slot, ordered by expert. */
  order: Int32Array;
  /** Token of each ordered pair. */
  tokens: Int32Array;
  /** Pairs per expert (= loads). */
  counts: Int32Array;
}

/** `tokenOf`: the token of each pair (ragged routings), or k (token of pair a = floor(a / k)). */
function dispatchPlan(experts: Int32Array, tokenOf: number | Int32Array, m: number): DispatchPlan {
  const total = experts.length;
  const counts = new Int32Array(m);
  for (let a = 0; a < total; a++) counts[experts[a]]++;
  const next = new Int32Array(m);
  for (let j = 1; j < m; j++) next[j] = next[j - 1] + counts[j - 1];
  const order = new Int32Array(total);
  const tokens = new Int32Array(total);
  for (let a = 0; a < total; a++) {
    const p = next[experts[a]]++;
    order[p] = a;
    tokens[p] = typeof tokenOf === 'number' ? Math.floor(a / tokenOf) : tokenOf[a];
  }
  return { order, tokens, counts };
}

/**
 * The routed part of the layer for given expert ids: sum over the chosen experts of weight * SwiGLU(x).
 * `scores` [N, m] is the gate output in the graph; `experts` (N*k ids) is fixed. A ragged routing is
 * passed as `route` (its pairs, offsets and pre-drop ids).
 */
export function combineExperts(x: tf.Tensor2D, scores: tf.Tensor2D, experts: Int32Array, k: number, w: MoeParams, route?: RouteResult): tf.Tensor2D {
  const [N, d] = x.shape;
  const m = scores.shape[1];
  const ragged = route?.offsets !== undefined;
  const tokenOf = ragged ? pairTokens(route!) : null;
  const total = experts.length;
  if (total === 0) return tf.zeros([N, d]);
  const plan = dispatchPlan(experts, tokenOf ?? k, m);
  // Combine weights: the scores at the chosen ids, renormalised over the k choices when k > 1.
  const flat = new Int32Array(total);
  for (let a = 0; a < total; a++) flat[a] = (tokenOf ? tokenOf[a] : Math.floor(a / k)) * m + experts[a];
  const flatScores = tf.reshape(scores, [N * m, 1]);
  let gw: tf.Tensor;
  if (!ragged) {
    gw = tf.reshape(gatherRows(flatScores, tf.tensor1d(flat, 'int32')), [N, k]); // [N, k]
    if (k > 1) gw = tf.div(gw, tf.sum(gw, 1, true));
  } else {
    gw = gatherRows(flatScores, tf.tensor1d(flat, 'int32')); // [P, 1]
    const pre = route!.preDrop;
    if (pre && k > 1) {
      const preFlat = new Int32Array(N * k);
      for (let a = 0; a < N * k; a++) preFlat[a] = Math.floor(a / k) * m + pre[a];
      const den = tf.sum(tf.reshape(gatherRows(flatScores, tf.tensor1d(preFlat, 'int32')), [N, k]), 1, true); // [N, 1]
      gw = tf.div(gw, gatherRows(den, tf.tensor1d(tokenOf!, 'int32')));
    }
  }
  const orderedW = gatherRows(tf.reshape(gw, [total, 1]), tf.tensor1d(plan.order, 'int32')); // [P, 1]
  const tokenIds = tf.tensor1d(plan.tokens, 'int32');
  const xs = gatherRows(x, tokenIds) as tf.Tensor2D; // [P, d], grouped by expert
  const sizes: number[] = [];
  const used: number[] = [];
  for (let j = 0; j < m; j++) {
    if (plan.counts[j] > 0) {
      sizes.push(plan.counts[j]);
      used.push(j);
    }
  }
  const blocks = used.length === 1 ? [xs] : tf.split(xs, sizes, 0);
  const outs = blocks.map((b, u) => {
    const e = w.routed[used[u]];
    return swiglu(b as tf.Tensor2D, e.w13, e.w2);
  });
  const ys = outs.length === 1 ? outs[0] : tf.concat(outs, 0); // [P, d]
  const y = scatterAddRows(tf.mul(ys, orderedW), tokenIds, N);
  return tf.reshape(y, [N, d]) as tf.Tensor2D;
}

/** Router z-loss in the graph: coef * mean_i (logsumexp_j logits_ij)^2 (ST-MoE; reference: routing/zLoss.ts). */
export function zLossTerm(logits: tf.Tensor2D, coef: number): tf.Scalar {
  return tf.mul(tf.mean(tf.square(tf.logSumExp(logits, 1))), coef) as tf.Scalar;
}

/** The whole MoE feed-forward: router, gate, routing, experts, shared experts, auxiliary loss. */
export function moeForward(x: tf.Tensor2D, w: MoeParams, opts: MoeOptions): MoeOutput {
  const N = x.shape[0];
  const m = w.router.shape[1]!;
  const { k } = opts;
  const logits = matMul2d(x, w.router as tf.Tensor2D); // [N, m]
  const scores = (opts.gate === 'softmax' ? tf.softmax(logits) : tf.sigmoid(logits)) as tf.Tensor2D;

  const t0 = performance.now();
  const s = scores.dataSync() as Float32Array;
  let route: RouteResult;
  if (m === 1) {
    // One expert: nothing to choose (and k < m cannot hold), every token goes to expert 0.
    route = { n: N, m, k, experts: new Int32Array(N * k), weights: new Float32Array(N * k).fill(1), loads: Int32Array.of(N * k) };
  } else {
    route = opts.route(s, N, m, k);
  }
  const routingMs = performance.now() - t0;

  let y = combineExperts(x, scores, route.experts, k, w, route);
  for (const e of w.shared) y = tf.add(y, swiglu(x, e.w13, e.w2));

  let aux: tf.Scalar | null = null;
  // With dropping, f counts the routing decisions (the pre-drop ids, N*k), as before the capacity cut.
  if (opts.aux) aux = auxLoss(scores, route.preDrop ?? route.experts, k, opts.aux);
  const z = opts.zLoss ? zLossTerm(logits, opts.zLoss) : null;
  return { y, aux, z, route, scores: s, routingMs };
}

/** alpha * sum_j f_j P_j (global) or its mean over sequences; f is a count (no gradient), P carries one. */
function auxLoss(scores: tf.Tensor2D, experts: Int32Array, k: number, spec: AuxSpec): tf.Scalar {
  const [N, m] = scores.shape;
  const { alpha, form, B, T } = spec;
  if (form === 'global') {
    const f = new Float32Array(m);
    for (let a = 0; a < experts.length; a++) f[experts[a]] += m / (N * k);
    const P = tf.mean(scores, 0); // [m]
    return tf.mul(tf.sum(tf.mul(P, tf.tensor1d(f))), alpha) as tf.Scalar;
  }
  const f = new Float32Array(B * m);
  for (let a = 0; a < experts.length; a++) {
    const seq = Math.floor(Math.floor(a / k) / T);
    f[seq * m + experts[a]] += m / (T * k);
  }
  const P = tf.mean(tf.reshape(scores, [B, T, m]), 1); // [B, m]
  return tf.mul(tf.sum(tf.mul(P, tf.tensor2d(f, [B, m]))), alpha / B) as tf.Scalar;
}
