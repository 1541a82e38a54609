/**
 * The router gate: turns an n x m matrix of logits into scores, row by row, in place.
 * - softmax: s_ij = exp(l_ij - max_j l_ij) / sum_j exp(l_ij - max_j l_ij)  (MiniMind, Mixtral, the BIP paper)
 * - sigmoid: s_ij = 1 / (1 + exp(-l_ij))                                     (DeepSeek-V3)
 * - none: the values already are scores (replay of recorded scores).
 */

export type Gate = 'softmax' | 'sigmoid' | 'none';

export const GATES: readonly Gate[] = ['softmax', 'sigmoid', 'none'];

/** Applies the gate to `values` ([n, m], row-major) in place and returns it. */
export function applyGate(values: Float32Array, n: number, m: number, gate: Gate): Float32Array {
  if (gate === 'none') return values;
  if (gate === 'sigmoid') {
    for (let x = 0; x < n * m; x++) values[x] = 1 / (1 + Math.exp(-values[x]));
    return values;
  }
  for (let i = 0; i < n; i++) {
    const row = i * m;
    let max = -Infinity;
    for (let j = 0; j < m; j++) if (values[row + j] > max) max = values[row + j];
    // Sum in float64 so that the row sums to 1 up to float32 rounding of each entry.
    let sum = 0;
    for (let j = 0; j < m; j++) sum += Math.exp(values[row + j] - max);
    for (let j = 0; j < m; j++) values[row + j] = Math.exp(values[row + j] - max) / sum;
  }
  return values;
}
