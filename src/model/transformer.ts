/**
 * A decoder-only MoE transformer in the MiniMind shape the BIP paper trained:
 *
 *   h = tokEmb[x]                                                  [N, d], N = B*T
 *   per block:  h += Attn(RMSNorm(h))   (causal, multi-head, rotary)
 *               h += MoE(RMSNorm(h))    (router -> balancer -> k SwiGLU experts)
 *   logits = RMSNorm(h) . tokEmbᵀ                                  [N, V] (tied head)
 *   lmLoss = mean cross-entropy of the next token;  loss = lmLoss + sum over blocks of aux (auxloss only)
 *            + sum over blocks of the router z-loss (zLoss > 0, any method)
 *
 * `lossAndStats` is what the trainer differentiates: it returns the loss in the graph and fills a plain
 * record with what the log needs (per-layer routes, routing time, the two loss parts).
 */
import * as tf from '@tensorflow/tfjs';
import type { RouteResult } from '../routing/types.ts';
import { gatherRows } from './ops.ts';
import type { ModelConfig } from './config.ts';
import { tiedHeadLoss } from './loss.ts';
import { attention, disposeAttnConsts, makeAttnConsts, type AttnConsts } from './layers.ts';
import { rmsNorm } from './rmsNorm.ts';
import { moeForward, type AuxSpec, type MoeParams } from './moe.ts';
import type { Params } from './params.ts';

/** Routing for one forward pass: one function per layer, the balancer's route bound to its state. */
export type LayerRouter = (scores: Float32Array, n: number, m: number, k: number) => RouteResult;

export interface ForwardOptions {
  routers: LayerRouter[];
  /** Auxiliary loss settings (method auxloss); alpha and form, B and T are filled per batch. */
  aux?: { alpha: number; form: 'global' | 'sequence' };
  /** Router z-loss coefficient (0 or absent: none). */
  zLoss?: number;
  /** Keep each layer's scores in the stats (tests; costs a copy per layer). */
  keepScores?: boolean;
}

export interface ForwardStats {
  lmLoss: number;
  auxLoss: number;
  /** Sum over layers of the router z-loss (0 without it). */
  zLoss: number;
  routingMs: number;
  routes: RouteResult[];
  scores: Float32Array[];
}

/** The model: configuration, parameters and the constant tensors it owns. */
export class MoeTransformer {
  readonly consts: AttnConsts;

  constructor(
    readonly cfg: ModelConfig,
    readonly params: Params,
  ) {
    this.consts = makeAttnConsts(cfg.seqLen, cfg.dim / cfg.heads, cfg.ropeTheta);
  }

  private p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`missing parameter ${name}`);
    return v;
  }

  moeParams(i: number): MoeParams {
    const f = (pre: string) => ({ w13: this.p(`${pre}.w13`), w2: this.p(`${pre}.w2`) });
    return {
      router: this.p(`b${i}.router`),
      routed: Array.from({ length: this.cfg.numExperts }, (_, j) => f(`b${i}.e${j}`)),
      shared: Array.from({ length: this.cfg.numSharedExperts }, (_, j) => f(`b${i}.s${j}`)),
    };
  }

  /**
   * Mean next-token cross-entropy (+ auxiliary losses) of a batch: x and y are B*T token ids, y the
   * targets. Returns a scalar in the graph; `stats` receives the plain numbers.
   */
  loss(x: Int32Array, y: Int32Array, B: number, T: number, opts: ForwardOptions, stats: ForwardStats): tf.Scalar {
    const { cfg } = this;
    if (T !== cfg.seqLen) throw new Error(`batch sequence length ${T} != model seqLen ${cfg.seqLen}`);
    if (opts.routers.length !== cfg.layers) throw new Error(`need ${cfg.layers} layer routers, got ${opts.routers.length}`);
    const emb = this.p('tokEmb');
    let h = gatherRows(emb, tf.tensor1d(x, 'int32')) as tf.Tensor2D; // [N, d]
    const auxTerms: tf.Scalar[] = [];
    const zTerms: tf.Scalar[] = [];
    const aux: AuxSpec | undefined = opts.aux ? { ...opts.aux, B, T } : undefined;
    for (let i = 0; i < cfg.layers; i++) {
      const b = `b${i}`;
      const a = attention(
        rmsNorm(h, this.p(`${b}.attnNorm`), cfg.normEps),
        { wqkv: this.p(`${b}.wqkv`), wo: this.p(`${b}.wo`) },
        B,
        T,
        cfg.heads,
        this.consts,
      );
      h = tf.add(h, a);
      const out = moeForward(rmsNorm(h, this.p(`${b}.ffnNorm`), cfg.normEps), this.moeParams(i), {
        k: cfg.topK,
        gate: cfg.gate,
        route: opts.routers[i],
        aux,
        zLoss: opts.zLoss,
      });
      h = tf.add(h, out.y);
      stats.routes.push(out.route);
      stats.routingMs += out.routingMs;
      if (opts.keepScores) stats.scores.push(out.scores);
      if (out.aux) auxTerms.push(out.aux);
      if (out.z) zTerms.push(out.z);
    }
    h = rmsNorm(h, this.p('finalNorm'), cfg.normEps);
    const lm = tiedHeadLoss(h, emb as tf.Tensor2D, y); // logits = h . embᵀ [N, V], mean cross-entropy
    stats.lmLoss = lm.dataSync()[0];
    let loss: tf.Scalar = lm;
    stats.auxLoss = 0;
    stats.zLoss = 0;
    if (auxTerms.length > 0) {
      const auxSum = tf.addN(auxTerms) as tf.Scalar;
      stats.auxLoss = auxSum.dataSync()[0];
      loss = tf.add(loss, auxSum) as tf.Scalar;
    }
    if (zTerms.length > 0) {
      const zSum = tf.addN(zTerms) as tf.Scalar;
      stats.zLoss = zSum.dataSync()[0];
      loss = tf.add(loss, zSum) as tf.Scalar;
    }
    return loss;
  }

  dispose(): void {
    disposeAttnConsts(this.consts);
  }
}

export function emptyStats(): ForwardStats {
  return { lmLoss: 0, auxLoss: 0, zLoss: 0, routingMs: 0, routes: [], scores: [] };
}
