/**
 * Seeded synthetic streams of router scores: models of how a router's scores behave during training.
 * Each layer is an independent stream (its own Rng, forked from the seed in layer order); each step
 * yields, per layer, an n x m Float32Array of scores = gate(logits). The same options and seed give
 * the same scores, bit for bit.
 *
 * All four use the linear router of router.ts, logits = x · W + b with x ~ N(0, I_d) and the
 * token-dependent part of a logit of std `logitStd`:
 * - skewed:    b_j = -zipf · ln(rank_j): expert popularity follows a Zipf law with exponent `zipf`.
 * - drift:     skewed, and after every batch W and b take a Gaussian random-walk step of size `drift`
 *              (b_j moves by about drift · sqrt(t) after t steps), so the popular experts change. A pure
 *              random walk: the spread of b, and so the skew, also grows with t.
 * - collapse:  `dominant` experts (chosen at random) get b_j = +`strength`, the others 0: a few experts
 *              win almost every token, as in the first MoE layer of a model early in training.
 * - clustered: tokens come from `clusters` topics; x = sqrt(1 - spread^2) · mu_c + spread · eps, with
 *              centroids mu_c ~ N(0, I_d); each batch draws a new topic mix pi ~ Dirichlet(concentration),
 *              so which experts are hot changes from batch to batch. b = 0.
 */
import { Rng } from '../util/rng.ts';
import { InputError } from '../routing/errors.ts';
import { applyGate, type Gate } from '../routing/gate.ts';
import { LinearRouter, dirichlet, gaussianFeatures, zipfBias } from './router.ts';

export type StreamKind = 'skewed' | 'drift' | 'collapse' | 'clustered';
export const STREAM_KINDS: readonly StreamKind[] = ['skewed', 'drift', 'collapse', 'clustered'];

/** One-line descriptions, used by `simulate --help`. */
export const STREAM_DOCS: Record<StreamKind, string> = {
  skewed: 'logits = x·W + b, tokens x ~ N(0,I), expert popularity Zipf: b_j = -zipf·ln(rank_j)',
  drift: 'skewed, plus a random-walk step of size --drift on W and b after each batch (popular experts change)',
  collapse: '--dominant experts get logit bias +--strength: a few experts take nearly every token (first-layer collapse)',
  clustered: 'tokens from --clusters topic clusters; the topic mix is redrawn each batch ~ Dirichlet(--concentration)',
};

/** Model parameters of the synthetic streams (each used by the streams named in its comment). */
export interface StreamParams {
  /** Feature dimension d of the linear router (all; default 32). */
  dim: number;
  /** Std of the token-dependent part of each logit (all; default 1). */
  logitStd: number;
  /** Zipf exponent of expert popularity (skewed, drift; default 1). */
  zipf: number;
  /** Random-walk step size per batch (drift; default 0.1). */
  drift: number;
  /** Number of dominant experts (collapse; default 1). */
  dominant: number;
  /** Logit bias of the dominant experts (collapse; default 3). */
  strength: number;
  /** Number of topic clusters (clustered; default 8). */
  clusters: number;
  /** Dirichlet concentration of the per-batch topic mix; small = peaked mixes (clustered; default 0.3). */
  concentration: number;
  /** Within-cluster spread of the features, in [0, 1] (clustered; default 0.5). */
  spread: number;
}

export const STREAM_DEFAULTS: Readonly<StreamParams> = {
  dim: 32,
  logitStd: 1,
  zipf: 1,
  drift: 0.1,
  dominant: 1,
  strength: 3,
  clusters: 8,
  concentration: 0.3,
  spread: 0.5,
};

export interface SyntheticStreamOptions extends Partial<StreamParams> {
  kind: StreamKind;
  /** Tokens per batch. */
  n: number;
  /** Experts. */
  m: number;
  steps: number;
  /** Independent streams, one per MoE layer (default 1). */
  layers?: number;
  /** Gate applied to the logits (default softmax). */
  gate?: Gate;
  seed: number;
}

/** What the simulator consumes: `steps` batches, each one n x m score matrix per layer. */
export interface ScoreStream {
  /** Short description for logs and reports, e.g. "collapse" or "replay:run.npy". */
  readonly name: string;
  readonly n: number;
  readonly m: number;
  readonly steps: number;
  readonly layers: number;
  /** A fresh pass over the stream: yields `steps` arrays of `layers` score matrices ([n, m] each). */
  batches(): Generator<Float32Array[]>;
}

type LayerModel = (rng: Rng, n: number, m: number, p: StreamParams) => Generator<Float32Array>;

const MODELS: Record<StreamKind, LayerModel> = {
  *skewed(rng, n, m, p) {
    const router = new LinearRouter(rng, p.dim, m, p.logitStd, zipfBias(rng, m, p.zipf));
    for (;;) yield router.logits(gaussianFeatures(rng, n, p.dim), n);
  },
  *drift(rng, n, m, p) {
    const router = new LinearRouter(rng, p.dim, m, p.logitStd, zipfBias(rng, m, p.zipf));
    for (;;) {
      yield router.logits(gaussianFeatures(rng, n, p.dim), n);
      router.randomWalk(rng, p.drift);
    }
  },
  *collapse(rng, n, m, p) {
    const order = Array.from({ length: m }, (_, j) => j);
    rng.shuffle(order);
    const bias = new Float64Array(m);
    for (let t = 0; t < p.dominant; t++) bias[order[t]] = p.strength;
    const router = new LinearRouter(rng, p.dim, m, p.logitStd, bias);
    for (;;) yield router.logits(gaussianFeatures(rng, n, p.dim), n);
  },
  *clustered(rng, n, m, p) {
    const { dim: d, clusters: c } = p;
    const centroids = gaussianFeatures(rng, c, d);
    const router = new LinearRouter(rng, d, m, p.logitStd);
    const a = Math.sqrt(1 - p.spread * p.spread);
    const x = new Float64Array(n * d);
    for (;;) {
      const mix = dirichlet(rng, c, p.concentration);
      for (let i = 0; i < n; i++) {
        const topic = categorical(rng, mix);
        for (let f = 0; f < d; f++) x[i * d + f] = a * centroids[topic * d + f] + p.spread * rng.normal();
      }
      yield router.logits(x, n);
    }
  },
};

function categorical(rng: Rng, probs: Float64Array): number {
  let u = rng.next();
  for (let t = 0; t < probs.length - 1; t++) {
    u -= probs[t];
    if (u < 0) return t;
  }
  return probs.length - 1;
}

/** Checks the options (clear errors for bad values) and returns the stream. */
export function syntheticStream(options: SyntheticStreamOptions): ScoreStream {
  const { kind, n, m, steps, layers = 1, gate = 'softmax', seed } = options;
  const model = MODELS[kind];
  if (!model) throw new InputError(`unknown stream '${kind}' (streams: ${STREAM_KINDS.join(', ')})`);
  const p: StreamParams = { ...STREAM_DEFAULTS };
  for (const key of Object.keys(STREAM_DEFAULTS) as (keyof StreamParams)[]) {
    const v = options[key];
    if (v !== undefined) p[key] = v;
  }
  positiveInt('n', n);
  positiveInt('m', m);
  positiveInt('steps', steps);
  positiveInt('layers', layers);
  positiveInt('dim', p.dim);
  positiveInt('clusters', p.clusters);
  if (!Number.isInteger(p.dominant) || p.dominant < 1 || p.dominant > m) {
    throw new InputError(`dominant must be an integer in [1, m=${m}], got ${p.dominant}`);
  }
  for (const key of ['logitStd', 'zipf', 'drift', 'strength'] as const) {
    if (!Number.isFinite(p[key]) || p[key] < 0) throw new InputError(`${key} must be a finite number >= 0, got ${p[key]}`);
  }
  if (!(p.concentration > 0) || !Number.isFinite(p.concentration)) {
    throw new InputError(`concentration must be a finite number > 0, got ${p.concentration}`);
  }
  if (!(p.spread >= 0 && p.spread <= 1)) throw new InputError(`spread must be in [0, 1], got ${p.spread}`);
  if (gate !== 'softmax' && gate !== 'sigmoid') throw new InputError(`gate must be softmax or sigmoid, got '${gate}'`);
  if (!Number.isFinite(seed)) throw new InputError(`seed must be a number, got ${seed}`);

  return {
    name: kind,
    n,
    m,
    steps,
    layers,
    *batches() {
      const root = new Rng(seed);
      const perLayer = Array.from({ length: layers }, () => model(root.fork(), n, m, p));
      for (let step = 0; step < steps; step++) {
        yield perLayer.map((g) => applyGate(g.next().value as Float32Array, n, m, gate));
      }
    },
  };
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new InputError(`${name} must be a positive integer, got ${v}`);
}
