/**
 * Decimal text for float32 values: the shortest one that reads back as the same float32, so that
 * 0.6f prints as 0.6 rather than 0.6000000238418579 (what printing it as a double would give).
 */

export function float32Text(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const f = Math.fround(x);
  // Nine significant digits always round-trip a float32; most values need fewer.
  for (let p = 1; p < 9; p++) {
    const v = Number(f.toPrecision(p));
    if (Math.fround(v) === f) return String(v);
  }
  return String(Number(f.toPrecision(9)));
}
