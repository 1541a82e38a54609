/** Score generators for tests: random softmax rows and adversarial shapes. */
import { Rng } from '../../src/util/rng.ts';

/** Softmax of N(0, temp^2) logits, n rows of m. */
export function softmaxScores(n: number, m: number, seed: number, temp = 2): Float32Array {
  const rng = new Rng(seed);
  const s = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    let z = 0;
    const row = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      row[j] = Math.exp(rng.normal() * temp);
      z += row[j];
    }
    for (let j = 0; j < m; j++) s[i * m + j] = row[j] / z;
  }
  return s;
}

/** Adversarial inputs: skewed towards expert 0, all tied, constant zero, coarse ties (few distinct values). */
export function adversarial(n: number, m: number, seed: number): Record<string, Float32Array> {
  const rng = new Rng(seed);
  const skewed = new Float32Array(n * m);
  const tied = new Float32Array(n * m).fill(1 / m);
  const zero = new Float32Array(n * m);
  const coarse = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      skewed[i * m + j] = j === 0 ? 0.9 : (0.1 * rng.next()) / m;
      coarse[i * m + j] = rng.int(3) / 4;
    }
  }
  return { skewed, tied, zero, coarse, random: softmaxScores(n, m, seed) };
}
