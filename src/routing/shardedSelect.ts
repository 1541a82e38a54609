/**
 * The exact r-th largest of each column of values split over W shards: the column step of BIP
 * (q_j = (c+1)-th largest over all tokens of s_ij − p_i, the paper's Algorithm 4) without gathering the
 * columns. Per column j, every shard keeps a candidate set C_j and all shards know how many values of all
 * shards rank above C_j and the rank ρ_j sought inside it:
 *
 *   0. The ladder: all_reduce(SUM) of, per column, the counts of d = v − h_j in 2A + 1 buckets around a
 *      hint h_j known to all (e.g. the previous q_j): d = 0 exactly, then one bucket per octave of |d| on
 *      each side, from 2^EMIN to 2^(EMIN + A − 1) (the innermost and outermost buckets open). Same
 *      collective: each shard's n and 1 (so the total and W come with it), and the count of v ≥ floor.
 *      Walking the merged counts down from the top bucket finds the one holding rank r: the d = 0 bucket
 *      means the answer is h_j exactly (the usual case once BIP has converged: q_j recurs as a tie, the
 *      key of the token whose (k+1)-th choice is j); fewer than r values ≥ floor means the answer is
 *      below the floor (BIP truncates it to 0 anyway); else C_j shrinks to that octave.
 *   1. While a column has more than `gatherMax` candidates over all shards: all_reduce(SUM) of B bin
 *      counts, bin(v) = clamp(⌊(v − lo_j)/w_j⌋, 0, B − 1) over the bracket's bounds (known to all from
 *      the octave or the previous bin, so no range is exchanged); only a bracket without bounds (the open
 *      outer octave, or a level that did not split) first takes an all_reduce(MAX) of (max C_j, −min C_j),
 *      where lo_j = hi_j means every candidate is equal: the answer.
 *   2. all_gather of the remaining candidates (at most `maxLevels` levels; ties can keep a bin full) and
 *      the ρ_j-th largest of their union (quickselect).
 *
 * Exact: bucket(v) and bin(v) are non-decreasing in v (each floating-point step is monotone, and
 * fl(v − h) = 0 only for v = h), so a value in a higher bucket or bin is strictly larger than every value
 * in a lower one; only comparisons and counts decide, never a rounded statistic. Bytes each shard sends:
 * 8 + 4m(2A + 1) (+ 4m with a floor) for the ladder; per level 4B per column binned (+ 16 per column
 * ranged); 8 per gathered candidate plus 8 per column gathered.
 */
import { allGather, allReduceMax, allReduceSum, type ShardProgram } from './collective.ts';
import { InputError } from './errors.ts';
import { kthLargest } from './select.ts';

export interface ShardedSelectOptions {
  /** Bins per bracketing level after the ladder (default 32). */
  bins?: number;
  /**
   * Gather a column once at most this many candidates remain over all shards. Default 128·W: a shard then
   * sends about 1 KiB of candidates per column, where one more level would cost a collective (a barrier).
   */
  gatherMax?: number;
  /** Bracketing levels after the ladder before gathering regardless (default 8; ties can keep a bin full). */
  maxLevels?: number;
}

const SHARDED_SELECT_DEFAULTS = { bins: 32, maxLevels: 8, gatherPerShard: 128 };

/** Octaves of |v − h| on each side of the hint: [2^EMIN, 2^(EMIN + A)), the outer ones open. */
export const LADDER_OCTAVES = 24;
export const LADDER_EMIN = -26;
/** Buckets per column: A below the hint, v = h, A above. */
const LADDER = 2 * LADDER_OCTAVES + 1;

/**
 * One shard's values: v_ij = s[i·m + j] − p[i] (the column step's s_ij − p_i, in float64), or s[i·m + j]
 * itself when p is null. Row-major, n rows of m.
 */
export interface ShardValues {
  s: Float32Array | Float64Array;
  p: Float64Array | null;
  n: number;
  m: number;
  /**
   * The ladder's local counts and buckets when already computed (the wasm kernels' shard_row_ladder:
   * counts[j·(2A + 1) + b], then the counts ≥ floor; row i's buckets at buckets[i·stride]).
   */
  ladder?: { counts: Int32Array; buckets: Uint8Array; stride: number };
}

/** What every shard gets back: the r-th largest per column, the total rows and the number of shards. */
export interface ShardedSelectResult {
  values: Float64Array;
  total: number;
  shards: number;
}

/**
 * One shard's part: returns, identically on every shard, the r-th largest of each column over all
 * shards, r = rankOf(total rows), or −Infinity where r is out of [1, total] or where fewer than r values
 * are ≥ `floor` (the answer is then below the floor). `hint`, the same on every shard (e.g. the previous
 * q; null: zeros), centres the first bracketing; it decides only the speed.
 */
export function* shardedColumnSelect(
  src: ShardValues,
  rankOf: (total: number) => number,
  options: ShardedSelectOptions = {},
  hint: Float64Array | null = null,
  floor = -Infinity,
): ShardProgram<ShardedSelectResult> {
  const { n, m } = src;
  const { bins: B, maxLevels } = { ...SHARDED_SELECT_DEFAULTS, ...options };
  const h = hint ?? new Float64Array(m);
  const withFloor = floor > -Infinity;
  // 0. The ladder: bucket of every value, counted per column (and remembered, to collect C_j below).
  const local = new Int32Array(2 + m * LADDER + (withFloor ? m : 0));
  local[0] = n;
  local[1] = 1;
  const ge = 2 + m * LADDER;
  let buckets: Uint8Array;
  let stride = m;
  if (src.ladder) {
    local.set(src.ladder.counts.subarray(0, local.length - 2), 2);
    buckets = src.ladder.buckets;
    stride = src.ladder.stride;
  } else {
    buckets = new Uint8Array(n * m);
    countLadder(src, h, floor, buckets, local);
  }
  const ladder = yield* allReduceSum(local);
  const total = ladder[0];
  const shards = ladder[1];
  const r = rankOf(total);
  const out = new Float64Array(m).fill(-Infinity);
  const result = { values: out, total, shards };
  if (r > total || r < 1) return result;
  const gatherMax = options.gatherMax ?? SHARDED_SELECT_DEFAULTS.gatherPerShard * shards;

  // Per open column: the bucket holding rank r, the rank sought inside it, its candidates over all shards,
  // and the bracket's bounds for the first level (width 0: unknown, take the range).
  const target = new Int16Array(m).fill(-1);
  const rank = new Float64Array(m);
  const count = new Float64Array(m);
  const lo = new Float64Array(m);
  const width = new Float64Array(m);
  const open: number[] = [];
  for (let j = 0; j < m; j++) {
    if (withFloor && ladder[ge + j] < r) continue; // below the floor: −Infinity
    const c = 2 + j * LADDER;
    let above = 0;
    let b = LADDER - 1;
    while (above + ladder[c + b] < r) above += ladder[c + b--];
    if (b === LADDER_OCTAVES) {
      out[j] = h[j];
      continue;
    }
    target[j] = b;
    rank[j] = r - above;
    count[j] = ladder[c + b];
    const o = b > LADDER_OCTAVES ? b - LADDER_OCTAVES - 1 : LADDER_OCTAVES - 1 - b;
    if (o < LADDER_OCTAVES - 1) {
      // The octave [2^(EMIN+o), 2^(EMIN+o+1)) of |d| (the innermost one from 0): bounds for the bins only,
      // which clamp, so rounding here costs at most speed.
      const inner = o === 0 ? 0 : 2 ** (LADDER_EMIN + o);
      const outer = 2 ** (LADDER_EMIN + o + 1);
      lo[j] = b > LADDER_OCTAVES ? h[j] + inner : h[j] - outer;
      width[j] = (outer - inner) / B;
    }
    open.push(j);
  }
  const cand = collect(src, open, target, count, buckets, stride);
  yield* bracket(cand, open, rank, count, lo, width, out, { B, gatherMax, maxLevels });
  return result;
}

/**
 * The ladder's local part: every value's bucket into bucketOf, the per-column bucket counts into
 * counts[2 + j·LADDER + b], and (floor finite) the count of v ≥ floor into counts[2 + m·LADDER + j].
 * A plain function (the hot loop; V8 optimises it better outside the generator).
 */
export function countLadder(src: ShardValues, h: Float64Array, floor: number, bucketOf: Uint8Array, counts: Int32Array): void {
  const { s, p, n, m } = src;
  const withFloor = floor > -Infinity;
  const ge = 2 + m * LADDER;
  // The float64's high word: its sign and biased exponent (floor(log2 |d|) + 1023).
  const bits = new Float64Array(1);
  const words = new Uint32Array(bits.buffer);
  const hiWord = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 1 : 0;
  for (let i = 0; i < n; i++) {
    const pi = p === null ? 0 : p[i];
    const row = i * m;
    for (let j = 0; j < m; j++) {
      const v = s[row + j] - pi;
      const d = v - h[j];
      let b = LADDER_OCTAVES;
      if (d !== 0) {
        bits[0] = d;
        const hw = words[hiWord];
        let o = ((hw >>> 20) & 0x7ff) - 1023 - LADDER_EMIN;
        o = o < 0 ? 0 : o >= LADDER_OCTAVES ? LADDER_OCTAVES - 1 : o;
        b = hw >>> 31 === 1 ? LADDER_OCTAVES - 1 - o : LADDER_OCTAVES + 1 + o;
      }
      bucketOf[row + j] = b;
      counts[2 + j * LADDER + b]++;
      if (withFloor && v >= floor) counts[ge + j]++;
    }
  }
}

/** This shard's candidates of each open column j: its values in bucket target[j], in row order. */
function collect(src: ShardValues, open: number[], target: Int16Array, count: Float64Array, buckets: Uint8Array, stride: number): Float64Array[] {
  const { s, p, n, m } = src;
  const cand: Float64Array[] = [];
  if (open.length === 0) return cand;
  const filled = new Int32Array(m);
  // Column by column (strided): usually only a few columns are open.
  for (const j of open) {
    const c = new Float64Array(Math.min(n, count[j]));
    const b = target[j];
    let f = 0;
    for (let i = 0; i < n; i++) if (buckets[i * stride + j] === b) c[f++] = s[i * m + j] - (p === null ? 0 : p[i]);
    cand[j] = c;
    filled[j] = f;
  }
  for (const j of open) cand[j] = cand[j].subarray(0, filled[j]);
  return cand;
}

/**
 * Steps 1–2 for the open columns: bin-count levels (a range first where the bounds are unknown), then
 * the gather and the selection. Writes out[j]; cand, rank, count, lo and width are updated in place.
 */
function* bracket(
  cand: Float64Array[],
  open: number[],
  rank: Float64Array,
  count: Float64Array,
  lo: Float64Array,
  width: Float64Array,
  out: Float64Array,
  o: { B: number; gatherMax: number; maxLevels: number },
): ShardProgram<void> {
  const { B, gatherMax, maxLevels } = o;
  const toGather: number[] = [];
  let active: number[] = [];
  for (const j of open) (count[j] <= gatherMax ? toGather : active).push(j);
  for (let level = 0; level < maxLevels && active.length > 0; level++) {
    // 1a. The global range of the columns whose bracket has no usable bounds.
    const ranged = active.filter((j) => !(width[j] > 0 && lo[j] + width[j] > lo[j]));
    if (ranged.length > 0) {
      const range = new Float64Array(2 * ranged.length);
      ranged.forEach((j, a) => {
        let hi = -Infinity;
        let negLo = -Infinity;
        const c = cand[j];
        for (let i = 0; i < c.length; i++) {
          if (c[i] > hi) hi = c[i];
          if (-c[i] > negLo) negLo = -c[i];
        }
        range[2 * a] = hi;
        range[2 * a + 1] = negLo;
      });
      const merged = yield* allReduceMax(range);
      const settled = new Set<number>();
      ranged.forEach((j, a) => {
        const hi = merged[2 * a];
        const l = -merged[2 * a + 1];
        const w = (hi - l) / B;
        if (hi === l) out[j] = hi; // every candidate equal: that is the answer
        else if (!(w > 0 && l + w > l)) toGather.push(j); // too narrow to split further
        else {
          lo[j] = l;
          width[j] = w;
          return;
        }
        settled.add(j);
      });
      active = active.filter((j) => !settled.has(j));
      if (active.length === 0) break;
    }
    // 1b. Bin counts of each column's candidates, summed over shards.
    const counts = new Int32Array(B * active.length);
    active.forEach((j, a) => {
      const c = cand[j];
      for (let i = 0; i < c.length; i++) counts[a * B + binOf(c[i], lo[j], width[j], B)]++;
    });
    const totals = yield* allReduceSum(counts);
    const next: number[] = [];
    active.forEach((j, a) => {
      // Walk down from the top bin to the one that holds rank[j].
      let above = 0;
      let b = B - 1;
      while (above + totals[a * B + b] < rank[j]) above += totals[a * B + b--];
      rank[j] -= above;
      const before = count[j];
      count[j] = totals[a * B + b];
      cand[j] = keepBin(cand[j], lo[j], width[j], B, b);
      // The next level bins inside bin b; a level that did not split (ties, rounding) takes the range.
      if (count[j] < before) {
        lo[j] += b * width[j];
        width[j] /= B;
      } else width[j] = 0;
      (count[j] <= gatherMax ? toGather : next).push(j);
    });
    active = next;
  }
  toGather.push(...active); // levels exhausted (ties keep a bin full): gather what is left
  if (toGather.length === 0) return;
  // 2. Gather the remaining candidates: per column, this shard's count then its values.
  let len = 0;
  for (const j of toGather) len += 1 + cand[j].length;
  const msg = new Float64Array(len);
  let at = 0;
  for (const j of toGather) {
    msg[at++] = cand[j].length;
    msg.set(cand[j], at);
    at += cand[j].length;
  }
  const parts = yield* allGather(msg);
  const offsets = parts.map(() => 0);
  for (const j of toGather) {
    const pool = new Float64Array(count[j]);
    let filled = 0;
    parts.forEach((part, w) => {
      const c = part[offsets[w]];
      pool.set(part.subarray(offsets[w] + 1, offsets[w] + 1 + c), filled);
      filled += c;
      offsets[w] += 1 + c;
    });
    out[j] = kthLargest(pool, filled, rank[j]);
  }
}

/**
 * shardedColumnSelect on plain values (this shard's n rows of m columns, row-major, float64) with the
 * rank r given: the r-th largest of each column over all shards, or −Infinity where r > total. `total`
 * and `shards` are checked against what the shards report.
 */
export function* shardedKthLargest(
  values: Float64Array,
  n: number,
  m: number,
  total: number,
  shards: number,
  r: number,
  options: ShardedSelectOptions = {},
  hint: Float64Array | null = null,
): ShardProgram<Float64Array> {
  const got = yield* shardedColumnSelect({ s: values, p: null, n, m }, () => r, options, hint);
  if (got.total !== total || got.shards !== shards) {
    throw new InputError(`shardedKthLargest: the shards hold ${got.total} rows in ${got.shards} shards, not ${total} in ${shards}`);
  }
  return got.values;
}

/** The values of c in bin b, in order (compacted in place). */
function keepBin(c: Float64Array, lo: number, w: number, B: number, b: number): Float64Array {
  let o = 0;
  for (let i = 0; i < c.length; i++) if (binOf(c[i], lo, w, B) === b) c[o++] = c[i];
  return c.subarray(0, o);
}

/** The bracketing bin of v: monotone non-decreasing in v, clamped to [0, B). */
function binOf(v: number, lo: number, w: number, B: number): number {
  const b = Math.floor((v - lo) / w);
  return b < 0 ? 0 : b >= B ? B - 1 : b;
}
