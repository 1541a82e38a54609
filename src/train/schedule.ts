/**
 * Learning rate at step s (1-based): linear warm-up from lr/warmup to lr over `warmupSteps`, then cosine
 * decay to `minLr` at the last step (nanoGPT's schedule).
 */
export function learningRate(step: number, c: { lr: number; minLr: number; warmupSteps: number; steps: number }): number {
  if (c.warmupSteps > 0 && step <= c.warmupSteps) return (c.lr * step) / c.warmupSteps;
  const span = Math.max(1, c.steps - c.warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - c.warmupSteps) / span));
  return c.minLr + 0.5 * (c.lr - c.minLr) * (1 + Math.cos(Math.PI * progress));
}
