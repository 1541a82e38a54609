/**
 * Model parameters: one tf.Variable per named parameter, created in a fixed order from a seeded Rng so that
 * the same seed gives bit-identical initial parameters on every backend and for every balancing method.
 *
 * Names: `tokEmb` [V, d]; per block i: `b{i}.attnNorm` [d], `b{i}.wqkv` [d, 3d] (= [wq | wk | wv]),
 * `b{i}.wo` [d, d], `b{i}.ffnNorm` [d], `b{i}.router` [d, m], routed expert j: `b{i}.e{j}.w13` [d, 2h]
 * (= [gate | up]), `b{i}.e{j}.w2` [h, d] (down), shared expert j: `b{i}.s{j}.w13|w2`; `finalNorm` [d]. Norm scales start at 1, the rest ~ N(0, std²),
 * with wo and w2 (the projections that write into the residual stream) scaled by 1/sqrt(2L) as in GPT-2.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng.ts';
import type { ModelConfig } from './config.ts';

export type Params = Map<string, tf.Variable>;

export interface ParamSpec {
  name: string;
  shape: number[];
  /** 'ones' for norm scales, otherwise the standard deviation of a normal init. */
  init: 'ones' | number;
  /** AdamW decays matrices, not norm scales. */
  decay: boolean;
}

export function paramSpecs(cfg: ModelConfig): ParamSpec[] {
  const { vocabSize: V, dim: d, layers: L, numExperts: m, expertHidden: h, numSharedExperts, initStd: std } = cfg;
  const outStd = std / Math.sqrt(2 * L);
  const specs: ParamSpec[] = [{ name: 'tokEmb', shape: [V, d], init: std, decay: true }];
  const ffn = (prefix: string) => {
    specs.push({ name: `${prefix}.w13`, shape: [d, 2 * h], init: std, decay: true });
    specs.push({ name: `${prefix}.w2`, shape: [h, d], init: outStd, decay: true });
  };
  for (let i = 0; i < L; i++) {
    const b = `b${i}`;
    specs.push({ name: `${b}.attnNorm`, shape: [d], init: 'ones', decay: false });
    specs.push({ name: `${b}.wqkv`, shape: [d, 3 * d], init: std, decay: true });
    specs.push({ name: `${b}.wo`, shape: [d, d], init: outStd, decay: true });
    specs.push({ name: `${b}.ffnNorm`, shape: [d], init: 'ones', decay: false });
    specs.push({ name: `${b}.router`, shape: [d, m], init: std, decay: true });
    for (let j = 0; j < m; j++) ffn(`${b}.e${j}`);
    for (let j = 0; j < numSharedExperts; j++) ffn(`${b}.s${j}`);
  }
  specs.push({ name: 'finalNorm', shape: [d], init: 'ones', decay: false });
  return specs;
}

/** Fresh parameters from `seed` (the Rng stream is consumed in paramSpecs order). */
export function initParams(cfg: ModelConfig, seed: number): Params {
  const rng = new Rng(seed);
  const params: Params = new Map();
  for (const s of paramSpecs(cfg)) {
    const size = s.shape.reduce((a, c) => a * c, 1);
    const v = new Float32Array(size);
    if (s.init === 'ones') v.fill(1);
    else for (let i = 0; i < size; i++) v[i] = rng.normal() * s.init;
    params.set(s.name, tf.tidy(() => tf.variable(tf.tensor(v, s.shape), true)));
  }
  return params;
}
