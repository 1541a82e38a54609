/**
 * Number formatting for reports: mean ± sd over seeds, percentages, durations.
 * Missing values (NaN, undefined) print as an em dash so tables stay aligned.
 */

export const MISSING = '—';

/** Arithmetic mean of the finite values (NaN when there are none). */
export function mean(values: readonly number[]): number {
  const v = values.filter(Number.isFinite);
  return v.length === 0 ? NaN : v.reduce((a, b) => a + b, 0) / v.length;
}

/** Median of the finite values (mean of the two middle ones for an even count; NaN for none). */
export function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const h = v.length >> 1;
  return v.length % 2 === 1 ? v[h] : (v[h - 1] + v[h]) / 2;
}

/** Sample standard deviation (n − 1) of the finite values; 0 for one value, NaN for none. */
export function sd(values: readonly number[]): number {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return NaN;
  if (v.length === 1) return 0;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) * (b - m), 0) / (v.length - 1));
}

/** A number with `digits` decimals, or the missing mark. */
export function fmtNum(x: number | undefined, digits = 3): string {
  return x === undefined || !Number.isFinite(x) ? MISSING : x.toFixed(digits);
}

/** "mean ± sd" over the finite values; only the mean when there is a single value. */
export function fmtMeanSd(values: readonly number[], digits = 3): string {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return MISSING;
  if (v.length === 1) return v[0].toFixed(digits);
  return `${mean(v).toFixed(digits)} ± ${sd(v).toFixed(digits)}`;
}

/** A fraction as a percentage: 0.123 -> "12.3%"; with `signed`, "+12.3%" / "−4.0%". */
export function fmtPercent(fraction: number | undefined, digits = 1, signed = false): string {
  if (fraction === undefined || !Number.isFinite(fraction)) return MISSING;
  const p = (fraction * 100).toFixed(digits);
  if (!signed) return `${p}%`;
  return fraction > 0 ? `+${p}%` : fraction < 0 ? `−${p.slice(1)}%` : `${p}%`;
}

/** A ratio as a multiplier: 1.234 -> "1.23×". */
export function fmtRatio(x: number | undefined, digits = 2): string {
  return x === undefined || !Number.isFinite(x) ? MISSING : `${x.toFixed(digits)}×`;
}

/** Milliseconds as a short duration: 950 -> "950 ms", 83000 -> "1 min 23 s", 7300000 -> "2 h 1 min". */
export function fmtDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return MISSING;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const min = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return h > 0 ? `${h} h ${min} min` : `${min} min ${sec} s`;
}
