/**
 * The linear router behind the synthetic streams: logits = x · W + b for token features x in R^d,
 * a router matrix W in R^{d x m} and a per-expert bias b in R^m (b is the row of W for a constant
 * feature, so it is as much a router parameter as W is). Features are N(0, I_d) unless a stream says
 * otherwise; W starts N(0, logitStd^2 / d) so the token-dependent part of each logit has std logitStd.
 */
import type { Rng } from '../util/rng.ts';

export class LinearRouter {
  /** W [d, m], row-major. */
  readonly matrix: Float64Array;
  /** [m]. */
  readonly bias: Float64Array;

  constructor(
    rng: Rng,
    readonly d: number,
    readonly m: number,
    readonly logitStd: number,
    bias?: Float64Array,
  ) {
    this.matrix = new Float64Array(d * m);
    const scale = logitStd / Math.sqrt(d);
    for (let x = 0; x < d * m; x++) this.matrix[x] = scale * rng.normal();
    this.bias = bias ?? new Float64Array(m);
  }

  /** logits [n, m] of features [n, d]. */
  logits(features: Float64Array, n: number): Float32Array {
    const { d, m, matrix, bias } = this;
    const out = new Float32Array(n * m);
    const acc = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      acc.set(bias);
      for (let f = 0; f < d; f++) {
        const xf = features[i * d + f];
        const wRow = f * m;
        for (let j = 0; j < m; j++) acc[j] += xf * matrix[wRow + j];
      }
      out.set(acc, i * m);
    }
    return out;
  }

  /**
   * One random-walk step of the router's parameters: W += step · N(0, logitStd^2 / d), b += step · N(0, 1).
   * After t steps the bias has moved by about step · sqrt(t), so popularity ranks reshuffle once that
   * is comparable to the gaps between the Zipf biases.
   */
  randomWalk(rng: Rng, step: number): void {
    const scale = (step * this.logitStd) / Math.sqrt(this.d);
    for (let x = 0; x < this.matrix.length; x++) this.matrix[x] += scale * rng.normal();
    for (let j = 0; j < this.m; j++) this.bias[j] += step * rng.normal();
  }
}

/** n token features, N(0, I_d), [n, d]. */
export function gaussianFeatures(rng: Rng, n: number, d: number): Float64Array {
  const x = new Float64Array(n * d);
  for (let t = 0; t < n * d; t++) x[t] = rng.normal();
  return x;
}

/**
 * Zipf popularity as a logit bias: b_j = -s · ln(rank_j), ranks 1..m in random order. Under a
 * softmax gate with a small token-dependent part, expert j's mean score is then ∝ rank_j^(-s).
 */
export function zipfBias(rng: Rng, m: number, s: number): Float64Array {
  const ranks = Array.from({ length: m }, (_, j) => j + 1);
  rng.shuffle(ranks);
  return Float64Array.from(ranks, (r) => -s * Math.log(r));
}

/** A draw from Dirichlet(alpha, ..., alpha) of dimension c (Marsaglia-Tsang gamma variates). */
export function dirichlet(rng: Rng, c: number, alpha: number): Float64Array {
  const g = new Float64Array(c);
  let sum = 0;
  for (let t = 0; t < c; t++) {
    g[t] = gamma(rng, alpha);
    sum += g[t];
  }
  // All-zero can only happen by float underflow at tiny alpha: fall back to one cluster.
  if (sum === 0) {
    g[rng.int(c)] = 1;
    sum = 1;
  }
  for (let t = 0; t < c; t++) g[t] /= sum;
  return g;
}

function gamma(rng: Rng, alpha: number): number {
  if (alpha < 1) {
    // Gamma(alpha) = Gamma(alpha + 1) · U^(1/alpha).
    let u = rng.next();
    while (u === 0) u = rng.next();
    return gamma(rng, alpha + 1) * Math.pow(u, 1 / alpha);
  }
  const d = alpha - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.next();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0 && Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}
