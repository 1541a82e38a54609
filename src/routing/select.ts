/**
 * Selection primitives shared by every balancer: partial selection, never a full sort.
 *
 * - topKRow: the k largest of one row of keys (insertion into a k-slot buffer: O(m) for the typical
 *   case, O(m·k) worst), ties broken towards the lower expert id so results are deterministic.
 * - kthLargestRow: the (k+1)-th largest of a row, by the same buffer (the row-side dual step of Alg. 1).
 * - kthLargest: the r-th largest of a long column, by quickselect (Hoare partition, median-of-three
 *   pivot), O(n) expected (the column-side dual step of Alg. 1, r = c + 1).
 */

/**
 * Top-k of `scores[row*m + j] - shift[j]` over j (shift may be null). Writes the ids in decreasing
 * order of key into `outIds[outOff .. outOff+k)` and their keys into `keyBuf` (length >= k + 1).
 * If `kthOut` is requested (`wantNext`), the buffer keeps k+1 slots and the function returns the
 * (k+1)-th largest key; otherwise it returns the k-th largest.
 */
export function topKRow(
  scores: Float32Array,
  row: number,
  m: number,
  shift: Float64Array | null,
  sign: number,
  slots: number,
  idBuf: Int32Array,
  keyBuf: Float64Array,
): number {
  // keyBuf[0..filled) sorted decreasing. `sign` lets Loss-Free add its bias (+1) and BIP subtract q (-1).
  const base = row * m;
  let filled = 0;
  if (shift === null) {
    for (let j = 0; j < m; j++) {
      const v = scores[base + j];
      if (filled === slots) {
        // Strict '>' keeps the earlier (lower) id on ties.
        if (!(v > keyBuf[slots - 1])) continue;
        filled--;
      }
      let p = filled;
      while (p > 0 && v > keyBuf[p - 1]) {
        keyBuf[p] = keyBuf[p - 1];
        idBuf[p] = idBuf[p - 1];
        p--;
      }
      keyBuf[p] = v;
      idBuf[p] = j;
      filled++;
    }
    return keyBuf[slots - 1];
  }
  // With a shift, exact ties of the key are broken towards the larger sign*shift (then the lower id):
  // for BIP/Quantile that is the smaller q_j, the expert whose capacity is not binding. This matters
  // because the dual step sets q_j to exactly the key of the (c+1)-th token of column j, which then
  // ties with that token's alternative; the tie must not push expert j to c + 1 tokens.
  for (let j = 0; j < m; j++) {
    const sh = sign * shift[j];
    const v = scores[base + j] + sh;
    if (filled === slots) {
      const last = slots - 1;
      if (!(v > keyBuf[last] || (v === keyBuf[last] && sh > sign * shift[idBuf[last]]))) continue;
      filled--;
    }
    let p = filled;
    while (p > 0 && (v > keyBuf[p - 1] || (v === keyBuf[p - 1] && sh > sign * shift[idBuf[p - 1]]))) {
      keyBuf[p] = keyBuf[p - 1];
      idBuf[p] = idBuf[p - 1];
      p--;
    }
    keyBuf[p] = v;
    idBuf[p] = j;
    filled++;
  }
  return keyBuf[slots - 1];
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
