/**
 * exp(x) for x <= 0, ~4x faster than Math.exp in V8 here: 2^t = 2^k * e^r with t = x log2(e),
 * k = round(t), |r| <= ln2 / 2, e^r by its Taylor series to degree 7 (relative error < 1e-8, below
 * float32 precision). Returns 0 below 2^-150 (under the smallest float32).
 */
const C3 = 1 / 6;
const C4 = 1 / 24;
const C5 = 1 / 120;
const C6 = 1 / 720;
const C7 = 1 / 5040;
/** 2^-i for i = 0..159. */
const POW2 = Float64Array.from({ length: 160 }, (_, i) => Math.pow(2, -i));

export function expNonPositive(x: number): number {
  const t = x * Math.LOG2E;
  if (!(t > -150)) return 0;
  const k = Math.floor(t + 0.5);
  const r = (t - k) * Math.LN2;
  return (1 + r * (1 + r * (0.5 + r * (C3 + r * (C4 + r * (C5 + r * (C6 + r * C7))))))) * POW2[-k];
}

/** The logistic sigmoid 1 / (1 + e^-x), through expNonPositive on either side of 0. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + expNonPositive(-x));
  const e = expNonPositive(x);
  return e / (1 + e);
}
