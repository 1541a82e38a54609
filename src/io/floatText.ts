/**
 * Decimal text for float32 values: the shortest one that reads back as the same float32, so that
 * 0.6f prints as 0.6 rather than 0.6000000238418579 (what printing it as a double would give).
 */

export function float32Text(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const f = Math.fround(x);
  // Nine significant digits always round-trip a float32, eight do for most values, and fewer for values
  // with short decimals. So try 8, then go down while one digit fewer still reads back (the nearest
  // p-digit decimal is at least as close with p + 1 digits), else 9: about two conversions per value
  // instead of up to nine from 1 upwards (route's JSON output spent half its time here).
  let text = f.toPrecision(8);
  if (Math.fround(Number(text)) !== f) return String(Number(f.toPrecision(9)));
  for (let p = 7; p >= 1; p--) {
    const shorter = f.toPrecision(p);
    if (Math.fround(Number(shorter)) !== f) break;
    text = shorter;
  }
  return String(Number(text));
}
