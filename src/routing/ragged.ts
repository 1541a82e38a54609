/**
 * Reading a RouteResult pair by pair, whether it gives every token exactly k experts (the usual layout,
 * token i at [i*k, i*k + k)) or is ragged (Expert Choice, capacity dropping: token i at
 * [offsets[i], offsets[i+1]), 0..m ids). Consumers (metrics, the trainer, the CLIs) go through these so
 * that both layouts mean the same thing everywhere.
 */
import type { RouteResult } from './types.ts';

/** First pair of token i. */
export function pairStart(r: RouteResult, i: number): number {
  return r.offsets ? r.offsets[i] : i * r.k;
}

/** One past the last pair of token i. */
export function pairEnd(r: RouteResult, i: number): number {
  return r.offsets ? r.offsets[i + 1] : (i + 1) * r.k;
}

/** The token of every pair (experts.length entries). */
export function pairTokens(r: RouteResult): Int32Array {
  const out = new Int32Array(r.experts.length);
  for (let i = 0; i < r.n; i++) out.fill(i, pairStart(r, i), pairEnd(r, i));
  return out;
}

/** How many tokens got 0, 1, ..., m experts (m + 1 entries, summing to n). */
export function expertsPerToken(r: RouteResult): Int32Array {
  const hist = new Int32Array(r.m + 1);
  for (let i = 0; i < r.n; i++) hist[pairEnd(r, i) - pairStart(r, i)]++;
  return hist;
}

/** Share of tokens with no expert at all (they pass through the residual only). */
export function unroutedShare(r: RouteResult): number {
  return expertsPerToken(r)[0] / r.n;
}

/** Builds the offsets of a ragged routing from per-token counts (n entries). */
export function offsetsFromCounts(counts: Int32Array): Int32Array {
  const offsets = new Int32Array(counts.length + 1);
  for (let i = 0; i < counts.length; i++) offsets[i + 1] = offsets[i] + counts[i];
  return offsets;
}
