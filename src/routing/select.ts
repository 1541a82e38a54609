/**
 * Selection primitives shared by every balancer: partial selection, never a full sort.
 *
 * - topKRowPlain / topKRowShifted: the k (or k+1) largest of one row of keys, by insertion into a small
 *   sorted buffer: O(m) typical, O(m·k) worst; deterministic tie-breaking. The (k+1)-th largest is the
 *   row-side dual step of Alg. 1.
 *
 * Tie rule: among equal keys, token i prefers the expert that comes first in the rotated order
 * i mod m, i mod m + 1, ..., m − 1, 0, 1, ... (the rows are scanned in that order and an equal later key
 * never displaces an earlier one). With all-equal scores token i so takes experts i, i+1, ..., i+k−1
 * (mod m) and every expert gets k·n/m tokens (±1), where "lowest id first" sent every token to experts
 * 0..k−1 (MaxVio m/k − 1). Deterministic, and the same on the wasm path (c/rows.h).
 * - kthLargest: the r-th largest of a long column, by quickselect (Hoare partition, median-of-three
 *   pivot), O(n) expected (the column-side dual step of Alg. 1, r = c + 1).
 */

/**
 * Top-`slots` of one row of scores: writes the ids in decreasing order of score into idBuf[0..slots)
 * and the scores into keyBuf; returns the slots-th largest. Ties go to the expert first in the rotated
 * order from `start` (the token's index mod m: the tie rule above).
 */
export function topKRowPlain(scores: Float32Array, base: number, m: number, slots: number, idBuf: Int32Array, keyBuf: Float64Array, start = 0): number {
  const last = slots - 1;
  let filled = 0;
  // thr: the smallest key kept once the buffer is full; most keys fall below it and cost one compare.
  let thr = -Infinity;
  for (let t = 0, j = start; t < m; t++, j = j + 1 === m ? 0 : j + 1) {
    const v = scores[base + j];
    // '<=' keeps the earlier expert (in the rotated order) on ties.
    if (v <= thr) continue;
    let p = filled < slots ? filled++ : last;
    while (p > 0 && v > keyBuf[p - 1]) {
      keyBuf[p] = keyBuf[p - 1];
      idBuf[p] = idBuf[p - 1];
      p--;
    }
    keyBuf[p] = v;
    idBuf[p] = j;
    if (filled === slots) thr = keyBuf[last];
  }
  return keyBuf[last];
}

/**
 * Top-`slots` of one row of keys (s_ij + sh_j), where sh is a signed shift (−q for BIP and Quantile,
 * +b for Loss-Free). Exact ties of the key go to the larger sh (then to the expert first in the rotated
 * order from `start`, the tie rule above): for BIP/Quantile
 * that is the smaller q_j, the expert whose capacity is not binding. This matters because the dual step
 * sets q_j to exactly the key of the (c+1)-th token of column j, which then ties with that token's
 * alternative; the tie must not push expert j to c + 1 tokens.
 *
 * `floor`, when given, is a known lower bound of the slots-th largest key (from the previous dual
 * iteration): keys below it are skipped even before the buffer is full, which saves most insertions.
 */
export function topKRowShifted(
  scores: Float32Array,
  base: number,
  m: number,
  sh: Float64Array,
  slots: number,
  idBuf: Int32Array,
  keyBuf: Float64Array,
  floor: number,
  start = 0,
): number {
  const last = slots - 1;
  let filled = 0;
  let thr = floor;
  for (let t = 0, j = start; t < m; t++, j = j + 1 === m ? 0 : j + 1) {
    const v = scores[base + j] + sh[j];
    if (v < thr) continue;
    if (v === thr && filled === slots && !(sh[j] > sh[idBuf[last]])) continue;
    let p = filled < slots ? filled++ : last;
    while (p > 0 && (v > keyBuf[p - 1] || (v === keyBuf[p - 1] && sh[j] > sh[idBuf[p - 1]]))) {
      keyBuf[p] = keyBuf[p - 1];
      idBuf[p] = idBuf[p - 1];
      p--;
    }
    keyBuf[p] = v;
    idBuf[p] = j;
    if (filled === slots) thr = keyBuf[last];
  }
  // A floor is only ever passed when it is a proven lower bound; stay exact regardless.
  if (filled < slots) return topKRowShifted(scores, base, m, sh, slots, idBuf, keyBuf, -Infinity, start);
  return keyBuf[last];
}

/**
 * The r-th largest value (1-based) of `a[0..len)`, by quickselect. Reorders `a` in place.
 * Returns -Infinity when r > len (no such element: the constraint it encodes cannot bind).
 */
export function kthLargest(a: Float32Array | Float64Array, len: number, r: number): number {
  if (r > len) return -Infinity;
  if (r < 1) throw new RangeError(`kthLargest: rank ${r} < 1`);
  // Find the element of index t = r - 1 in decreasing order.
  const t = r - 1;
  let lo = 0;
  let hi = len - 1;
  while (hi > lo) {
    if (hi - lo < 16) {
      // Small range: insertion sort (decreasing) and read off.
      for (let i = lo + 1; i <= hi; i++) {
        const v = a[i];
        let p = i;
        while (p > lo && a[p - 1] < v) {
          a[p] = a[p - 1];
          p--;
        }
        a[p] = v;
      }
      return a[t];
    }
    // Median of three as pivot, then Hoare partition into [>= pivot | <= pivot] (decreasing order).
    const mid = (lo + hi) >>> 1;
    const pivot = median3(a[lo], a[mid], a[hi]);
    let i = lo - 1;
    let j = hi + 1;
    for (;;) {
      do i++; while (a[i] > pivot);
      do j--; while (a[j] < pivot);
      if (i >= j) break;
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    // Now a[lo..j] >= pivot >= a[j+1..hi].
    if (t <= j) hi = j;
    else lo = j + 1;
  }
  return a[t];
}

function median3(x: number, y: number, z: number): number {
  if (x < y) {
    if (y < z) return y;
    return x < z ? z : x;
  }
  if (x < z) return x;
  return y < z ? z : y;
}
