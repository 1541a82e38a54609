/**
 * Router z-loss (ST-MoE: Zoph et al. 2022, "ST-MoE: Designing Stable and Transferable Sparse Expert
 * Models", arXiv 2202.08906, Eq. 5), for any method in training:
 *
 *     z = coef · (1/n) Σ_i (log Σ_j exp(x_ij))²             x = the router logits (before the gate)
 *     ∂z/∂x_ij = coef · (2/n) · lse_i · softmax(x_i)_j       lse_i = log Σ_j exp(x_ij)
 *
 * It keeps the logits small (round-off in the gate's exp). ST-MoE's coefficient is 0.001. The trainer
 * computes the same expression in the graph (src/model/moe.ts); this plain version is its reference.
 */

/** The z-loss of n x m logits (row-major) and its gradient with respect to them. */
export function routerZLoss(logits: Float32Array, n: number, m: number, coef: number): { zLoss: number; zGrad: Float32Array } {
  const grad = new Float32Array(n * m);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = i * m;
    let max = -Infinity;
    for (let j = 0; j < m; j++) if (logits[o + j] > max) max = logits[o + j];
    let sum = 0;
    for (let j = 0; j < m; j++) sum += Math.exp(logits[o + j] - max);
    const lse = max + Math.log(sum);
    total += lse * lse;
    for (let j = 0; j < m; j++) grad[o + j] = (coef * 2 * lse * Math.exp(logits[o + j] - max)) / (sum * n);
  }
  return { zLoss: (coef * total) / n, zGrad: grad };
}
