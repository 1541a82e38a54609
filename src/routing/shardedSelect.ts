/**
 * The exact r-th largest of each column of values split over W shards: the column step of BIP
 * (q_j = (c+1)-th largest over all tokens of s_ij − p_i, the paper's Algorithm 4) without gathering the
 * columns. Per column j, every shard keeps a candidate set C_j (at first all its values) and all shards
 * know `above_j` (values of all shards ranked above C_j) and the rank ρ_j sought inside C_j:
 *
 *   0. (with a hint h_j known to all) all_reduce(SUM) of #{v > h_j} and #{v ≥ h_j}: either the answer
 *      is h_j, or C_j keeps only the side of h_j that holds it.
 *   1. all_reduce(MAX) of (max C_j, −min C_j) → the global range [lo_j, hi_j] of the candidates;
 *      lo_j = hi_j means every candidate is equal: the answer is hi_j.
 *   2. all_reduce(SUM) of B bin counts, bin(v) = clamp(⌊(v − lo_j)/w_j⌋, 0, B − 1), w_j = (hi_j − lo_j)/B.
 *      bin(·) is non-decreasing in v (each floating-point step is monotone), so a value in a higher bin is
 *      strictly larger than every value in a lower one: walking the merged counts down from the top bin
 *      finds the bin b* holding rank ρ_j; the counts above it go to above_j, and C_j shrinks to bin b*.
 *   3. Repeat 1–2 while more than `gatherMax` candidates remain (at most `maxLevels` times), then
 *      all_gather the remaining candidates and select the ρ_j-th largest of their union (quickselect).
 *
 * The result is the r-th largest of the union to the last bit: only comparisons and counts decide, never
 * a rounded statistic. Bytes each shard sends: 8 per column for the probe; per level 16 per active column
 * (range) + 4B (counts); and 8 per gathered candidate plus 8 per column gathered.
 */
import { allGather, allReduceMax, allReduceSum, type ShardProgram } from './collective.ts';
import { kthLargest } from './select.ts';

export interface ShardedSelectOptions {
  /** Bins per bracketing level (default 32: fewest bytes per iteration at 4–6 collectives, bench at n = 2048–16384). */
  bins?: number;
  /**
   * Gather a column once at most this many candidates remain over all shards. Default B·W/2: a shard
   * then sends about 8·B/2 bytes of candidates per column, no more than one more level of counts (4B).
   */
  gatherMax?: number;
  /** Bracketing levels before gathering regardless (default 8; ties can keep a bin full). */
  maxLevels?: number;
}

const SHARDED_SELECT_DEFAULTS = { bins: 32, maxLevels: 8 };

/**
 * One shard's part: `values` holds this shard's n rows of m columns (row-major, float64), `total` the
 * rows over all `shards`, r the rank sought in every column (1 = largest). Returns, identically on every
 * shard, the r-th largest of each column over all shards, or −Infinity where r > total. `hint`, the
 * same on every shard (e.g. the previous q), is a first threshold to probe (step 0 below).
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
  const { bins: B, maxLevels } = { ...SHARDED_SELECT_DEFAULTS, ...options };
  const gatherMax = options.gatherMax ?? (B * shards) / 2;
  const out = new Float64Array(m).fill(-Infinity);
  if (r > total || r < 1) return out;
  // This shard's candidates per column, the rank sought among all shards' candidates, and their count.
  const cand: Float64Array[] = [];
  for (let j = 0; j < m; j++) {
    const c = new Float64Array(n);
    for (let i = 0; i < n; i++) c[i] = values[i * m + j];
    cand.push(c);
  }
  const rank = new Array<number>(m).fill(r);
  const count = new Array<number>(m).fill(total);
  let active: number[] = [];
  const toGather: number[] = [];
  if (hint !== null) {
    // 0. Probe at the hint (the previous q_j): the column step sets q_j to a value that then recurs
    //    as a tie (token i whose (k+1)-th choice is j has s_ij − p_i = q_j), so once converged the
    //    answer is usually exactly the hint; otherwise it keeps one side.
    const local = new Int32Array(2 * m);
    for (let j = 0; j < m; j++) {
      const t = hint[j];
      const c = cand[j];
      let gt = 0;
      let ge = 0;
      for (let i = 0; i < c.length; i++) {
        if (c[i] > t) gt++;
        if (c[i] >= t) ge++;
      }
      local[2 * j] = gt;
      local[2 * j + 1] = ge;
    }
    const probe = yield* allReduceSum(local);
    for (let j = 0; j < m; j++) {
      const [gt, ge] = [probe[2 * j], probe[2 * j + 1]];
      const t = hint[j];
      if (gt < r && r <= ge) {
        out[j] = t;
        continue;
      }
      if (r <= gt) {
        cand[j] = keepSide(cand[j], t, true);
        count[j] = gt;
      } else {
        cand[j] = keepSide(cand[j], t, false);
        rank[j] -= ge;
        count[j] = total - ge;
      }
      (count[j] <= gatherMax ? toGather : active).push(j);
    }
  } else for (let j = 0; j < m; j++) (count[j] <= gatherMax ? toGather : active).push(j);

  for (let level = 0; level < maxLevels && active.length > 0; level++) {
    // 1. Global range of the candidates of each active column.
    const range = new Float64Array(2 * active.length);
    active.forEach((j, a) => {
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
    const lo: number[] = [];
    const width: number[] = [];
    const binned: number[] = [];
    active.forEach((j, a) => {
      const hi = merged[2 * a];
      const l = -merged[2 * a + 1];
      const w = (hi - l) / B;
      if (hi === l) out[j] = hi; // every candidate equal: that is the answer
      else if (!(w > 0 && l + w > l)) toGather.push(j); // too narrow to split further
      else {
        lo.push(l);
        width.push(w);
        binned.push(j);
      }
    });
    if (binned.length === 0) {
      active = [];
      break;
    }
    // 2. Bin counts of each column's candidates, summed over shards.
    const counts = new Int32Array(B * binned.length);
    binned.forEach((j, a) => {
      const c = cand[j];
      for (let i = 0; i < c.length; i++) counts[a * B + binOf(c[i], lo[a], width[a], B)]++;
    });
    const totals = yield* allReduceSum(counts);
    const next: number[] = [];
    binned.forEach((j, a) => {
      // Walk down from the top bin to the one that holds rank[j].
      let above = 0;
      let b = B - 1;
      while (above + totals[a * B + b] < rank[j]) above += totals[a * B + b--];
      rank[j] -= above;
      count[j] = totals[a * B + b];
      cand[j] = keepBin(cand[j], lo[a], width[a], B, b);
      (count[j] <= gatherMax ? toGather : next).push(j);
    });
    active = next;
  }
  toGather.push(...active); // levels exhausted (ties keep a bin full): gather what is left
  if (toGather.length === 0) return out;
  // 3. Gather the remaining candidates: per column, this shard's count then its values.
  let len = 0;
  for (const j of toGather) len += 1 + cand[j].length;
  const msg = new Float64Array(len);
  let o = 0;
  for (const j of toGather) {
    msg[o++] = cand[j].length;
    msg.set(cand[j], o);
    o += cand[j].length;
  }
  const parts = yield* allGather(msg);
  const offsets = parts.map(() => 0);
  for (const j of toGather) {
    const pool = new Float64Array(count[j]);
    let filled = 0;
    parts.forEach((p, w) => {
      const c = p[offsets[w]];
      pool.set(p.subarray(offsets[w] + 1, offsets[w] + 1 + c), filled);
      filled += c;
      offsets[w] += 1 + c;
    });
    out[j] = kthLargest(pool, filled, rank[j]);
  }
  return out;
}

/** The values of c above t (or below it), in order (c is reused: compacted in place). */
function keepSide(c: Float64Array, t: number, above: boolean): Float64Array {
  let o = 0;
  if (above) {
    for (let i = 0; i < c.length; i++) if (c[i] > t) c[o++] = c[i];
  } else {
    for (let i = 0; i < c.length; i++) if (c[i] < t) c[o++] = c[i];
  }
  return c.subarray(0, o);
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
