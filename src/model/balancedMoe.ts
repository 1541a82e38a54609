/**
 * A balanced MoE feed-forward layer for TensorFlow.js models: router + gate + balancer + SwiGLU experts
 * (+ optional shared experts) as one object that owns its parameters (tf.Variables) and its balancer's state.
 * The forward pass is moeForward (moe.ts):
 *
 *   scores  = softmax(x · Wr) | sigmoid(x · Wr)                 [N, m]
 *   experts = balancer.route(scores)                            [N, k]   (no gradient through the choice)
 *   y_i     = Σ_{e chosen} w_ie · SwiGLU_e(x_i)  (+ Σ shared SwiGLU(x_i)),   w = scores at the chosen e,
 *             renormalised over the k choices when k > 1      (the router learns through w)
 *
 * Defaults: method 'bip' (T = 4, the paper's), gate softmax, no shared experts, parameters ~ N(0, 0.02²)
 * from a seeded Rng (seed 1), so the same options give the same layer. With method 'auxloss' the layer
 * also returns the auxiliary loss in the graph (α = 0.1, global form; algorithms.md §4): add it to the
 * training loss.
 *
 *   import * as tf from '@tensorflow/tfjs';
 *   import { BalancedMoe, setBackend } from 'moe-balance/tfjs';
 *   await setBackend('wasm');                                  // or 'cpu'; or just await tf.ready()
 *   const moe = new BalancedMoe({ dim: 64, numExperts: 8, expertHidden: 128, k: 2 });
 *   const { value, grads } = tf.variableGrads(() => lossOf(moe.apply(x).y), moe.variables);
 */
import * as tf from '@tensorflow/tfjs';
import { createBalancer } from '../routing/factory.ts';
import { InputError } from '../routing/errors.ts';
import type { Balancer, BalancerState } from '../routing/types.ts';
import { Rng } from '../util/rng.ts';
import { installKernels } from './kernels.ts';
import { moeForward, type MoeOutput, type MoeParams } from './moe.ts';

export interface BalancedMoeOptions {
  /** Model width d: the layer maps [N, d] to [N, d]. */
  dim: number;
  /** Number of routed experts m (`experts` always means expert ids, as in a routing's result). */
  numExperts: number;
  /** Hidden size h of each SwiGLU expert. */
  expertHidden: number;
  /** Experts per token k (1 <= k < m, or k = 1 when m = 1). */
  k: number;
  /** Gate turning router logits into scores (default 'softmax', the paper's). */
  gate?: 'softmax' | 'sigmoid';
  /** Number of always-active SwiGLU experts of hidden size expertHidden (default 0). */
  numSharedExperts?: number;
  /** Balancing method, as createBalancer takes it (default 'bip'); ignored when `balancer` is given. */
  method?: string;
  /** Options of the method, as createBalancer takes them (e.g. { iters: 8, truncate: false } for bip). */
  balancerOptions?: Record<string, unknown>;
  /** A balancer you made yourself (its state is carried from call to call). */
  balancer?: Balancer;
  /** Auxiliary loss for method 'auxloss': weight α (default 0.1) and form (default 'global'; 'sequence' needs seqLen). */
  aux?: { alpha?: number; form?: 'global' | 'sequence'; seqLen?: number };
  /** Seed of the parameters' initialisation (default 1). */
  seed?: number;
  /** Standard deviation of the normal initialisation (default 0.02). */
  initStd?: number;
  /** Prefix of the variables' names (default 'moe'). */
  name?: string;
}

export interface ApplyOptions {
  /** Whether this call may update the balancer's state (default true; pass false for evaluation). */
  update?: boolean;
}

/** One MoE feed-forward layer with its own router, experts and balancer. Call dispose() when done. */
export class BalancedMoe {
  /** The layer's parameters (tf.Variables): router, routed experts, shared experts. */
  readonly params: MoeParams;
  readonly balancer: Balancer;
  readonly k: number;
  readonly gate: 'softmax' | 'sigmoid';
  private readonly aux?: { alpha: number; form: 'global' | 'sequence'; seqLen?: number };

  constructor(opts: BalancedMoeOptions) {
    for (const [old, now] of [['experts', 'numExperts'], ['sharedExperts', 'numSharedExperts']]) {
      // The options' names before 0.2: say what to write instead of a puzzling "numExperts must be ...".
      if (old in opts) throw new InputError(`BalancedMoe: option '${old}' is now '${now}' (a count; 'experts' means expert ids)`);
    }
    const { dim: d, numExperts: m, expertHidden: h, k } = opts;
    for (const [name, v] of [['dim', d], ['numExperts', m], ['expertHidden', h], ['k', k]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new InputError(`BalancedMoe: ${name} must be an integer >= 1, got ${String(v)}`);
    }
    if (m > 1 && k >= m) throw new InputError(`BalancedMoe: k must be < numExperts, got k=${k}, numExperts=${m}`);
    const shared = opts.numSharedExperts ?? 0;
    if (!Number.isInteger(shared) || shared < 0) throw new InputError(`BalancedMoe: numSharedExperts must be an integer >= 0, got ${String(shared)}`);
    this.k = k;
    this.gate = opts.gate ?? 'softmax';
    this.balancer = opts.balancer ?? createBalancer(opts.method ?? 'bip', opts.balancerOptions);
    if (this.balancer.method === 'auxloss') {
      this.aux = { alpha: opts.aux?.alpha ?? 0.1, form: opts.aux?.form ?? 'global', seqLen: opts.aux?.seqLen };
      if (this.aux.form === 'sequence' && this.aux.seqLen === undefined) throw new InputError("BalancedMoe: aux form 'sequence' needs aux.seqLen");
    }
    const rng = new Rng(opts.seed ?? 1);
    const std = opts.initStd ?? 0.02;
    const prefix = opts.name ?? 'moe';
    const variable = (name: string, shape: [number, number]): tf.Variable => {
      const v = new Float32Array(shape[0] * shape[1]);
      for (let i = 0; i < v.length; i++) v[i] = rng.normal() * std;
      return tf.tidy(() => tf.variable(tf.tensor2d(v, shape), true, `${prefix}.${name}`));
    };
    const ffn = (name: string) => ({ w13: variable(`${name}.w13`, [d, 2 * h]), w2: variable(`${name}.w2`, [h, d]) });
    this.params = {
      router: variable('router', [d, m]),
      routed: Array.from({ length: m }, (_, j) => ffn(`e${j}`)),
      shared: Array.from({ length: shared }, (_, j) => ffn(`s${j}`)),
    };
  }

  /** Every trainable variable of the layer (router, experts, shared experts), for an optimizer's varList. */
  get variables(): tf.Variable[] {
    const w = this.params;
    return [w.router, ...[...w.routed, ...w.shared].flatMap((e) => [e.w13, e.w2])] as tf.Variable[];
  }

  /**
   * The layer on x [N, d]: y [N, d] in the graph, the auxiliary loss (method auxloss, else null), the
   * routing (experts, weights, loads), the scores the balancer saw and the routing time in ms.
   */
  apply(x: tf.Tensor2D, opts: ApplyOptions = {}): MoeOutput {
    const d = this.params.router.shape[0];
    if (x.rank !== 2 || x.shape[1] !== d) throw new InputError(`BalancedMoe: expected x of shape [N, ${d}], got [${x.shape.join(', ')}]`);
    // The replacement kernels (row scatter-add on wasm, fused SwiGLU) for whichever backend is active.
    installKernels(tf.getBackend());
    const N = x.shape[0];
    const update = opts.update ?? true;
    let aux;
    if (this.aux) {
      const T = this.aux.form === 'sequence' ? this.aux.seqLen! : N;
      if (N % T !== 0) throw new InputError(`BalancedMoe: ${N} tokens are not a whole number of sequences of ${T}`);
      aux = { alpha: this.aux.alpha, form: this.aux.form, B: N / T, T };
    }
    return moeForward(x, this.params, {
      k: this.k,
      gate: this.gate,
      route: (s, n, m, k) => this.balancer.route(s, n, m, k, { update }),
      aux,
    });
  }

  /** The balancer's state (JSON-safe), e.g. to save next to the model's parameters. */
  getState(): BalancerState {
    return this.balancer.getState();
  }

  setState(state: BalancerState): void {
    this.balancer.setState(state);
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }
}
