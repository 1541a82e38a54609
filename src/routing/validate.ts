/**
 * Input checks shared by every balancer. Each error names the problem: a wrong answer from bad input
 * is worse than a loud failure.
 */
import { InputError } from './errors.ts';

/** Checks n, m, k and the scores (length n*m, all finite, and >= 0 when k > 1). */
export function validateRouteInput(scores: unknown, n: number, m: number, k: number): asserts scores is Float32Array {
  validateRouteShape(scores, n, m, k);
  // With k > 1 the combine weights are the chosen scores over their sum (assign.ts writeWeights): a
  // negative score would give a negative weight, or with a negative sum flip the signs of all k. Scores
  // are gate outputs (softmax or sigmoid, >= 0); anything else is refused rather than given weights
  // that mean nothing. With k = 1 the weight is the score itself, whatever its sign.
  const signed = k > 1;
  for (let x = 0; x < scores.length; x++) {
    const v = scores[x];
    // v - v is NaN exactly when v is NaN or +-Infinity: one cheap test for both.
    if (v - v !== 0 || (signed && v < 0)) throw new InputError(badScoreMessage(v, x, m));
  }
}

/** Index of the first NaN or ±Infinity in values, or -1: the one scan for the readers of score files. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let x = 0; x < values.length; x++) {
    const v = values[x];
    if (v - v !== 0) return x; // NaN exactly for NaN and ±Infinity
  }
  return -1;
}

/** The error for a refused score v at flat index x (also raised by the wasm kernels' check, c/kernels.c). */
export function badScoreMessage(v: number, x: number, m: number): string {
  const i = Math.floor(x / m);
  const at = `at token ${i}, expert ${x - i * m}`;
  if (v - v === 0) {
    return `scores contain ${v} ${at}: with k > 1 scores must be >= 0 (gate outputs such as softmax or sigmoid; the combine weights are the chosen scores over their sum), apply a gate to logits first`;
  }
  return `scores contain ${Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'} ${at}`;
}

/** validateRouteInput without the scan of the values (the wasm kernels make it while loading the scores). */
export function validateRouteShape(scores: unknown, n: number, m: number, k: number): asserts scores is Float32Array {
  if (!(scores instanceof Float32Array)) {
    throw new InputError(`scores must be a Float32Array (n*m, row-major), got ${describe(scores)}`);
  }
  if (!Number.isInteger(n) || n < 1) throw new InputError(`n (tokens) must be an integer >= 1, got ${n}`);
  if (!Number.isInteger(m) || m < 2) throw new InputError(`m (experts) must be an integer >= 2, got ${m}`);
  if (!Number.isInteger(k) || k < 1) throw new InputError(`k must be an integer >= 1, got ${k}`);
  if (k >= m) throw new InputError(`k must be < m (experts): k=${k}, m=${m}`);
  if (scores.length !== n * m) {
    throw new InputError(`scores has length ${scores.length}, expected n*m = ${n}*${m} = ${n * m}`);
  }
}

/**
 * A balancer's state vector (q, b, β) as setState reads it back from JSON: an array of finite numbers, of
 * the balancer's m once it has routed (`current`); [] (a state saved before the first call) is null.
 */
export function readStateVector(state: Record<string, unknown>, key: string, current: Float64Array | null, method: string): Float64Array | null {
  const m = current ? current.length : null;
  const known = Object.keys(state);
  for (const kk of known) {
    if (kk !== key) throw new InputError(`${method} state: unknown key '${kk}' (expected only '${key}')`);
  }
  const v = state[key];
  if (!Array.isArray(v)) throw new InputError(`${method} state: '${key}' must be an array of numbers`);
  if (m !== null && v.length !== m) {
    throw new InputError(`${method} state: '${key}' has ${v.length} entries, but this balancer has m=${m} experts`);
  }
  const out = new Float64Array(v.length);
  for (let j = 0; j < v.length; j++) {
    const x = v[j];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new InputError(`${method} state: '${key}[${j}]' is not a finite number (${String(x)})`);
    }
    out[j] = x;
  }
  return out.length === 0 ? null : out;
}

/** A state vector as getState writes it: its values, or [] before the first call (m not known yet). */
export function stateVectorJson(v: Float64Array | null): number[] {
  return v ? Array.from(v) : [];
}

/** A balancer's state vector for m experts: zeros on first use; an error if it was made for another m. */
export function stateVectorFor(v: Float64Array | null, m: number, method: string, key: string): Float64Array {
  if (v === null) return new Float64Array(m);
  if (v.length !== m) throw new InputError(`${method}: state ${key} has ${v.length} entries but the scores have m=${m} experts`);
  return v;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}

/** The setState check of a stateless balancer: only {} is accepted. */
export function checkEmptyState(method: string, state: Record<string, unknown>): void {
  const keys = Object.keys(state);
  if (keys.length > 0) throw new InputError(`${method} state must be {} (it has no state), got keys: ${keys.join(', ')}`);
}
