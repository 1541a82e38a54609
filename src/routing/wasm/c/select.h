/*
 * Exact r-th largest of a buffer of f64 keys: the column step of Algorithm 1 (q_j = (c+1)-th largest
 * over i of s_ij - p_i) on the candidate keys of one column.
 *
 * Quickselect's data-dependent branches cost ~0.7 ms per iteration at (16384, 64, 4) in the prototype.
 * Here: 15 pivots sampled from the buffer and sorted; a binary search over them, each probe one
 * branch-free SIMD counting pass (f64x2 gt/ge) over the buffer, brackets the answer strictly between
 * two pivots (or returns a pivot that is the answer); one branch-free pass keeps the keys inside the
 * bracket; repeat on those. Small buffers end in an insertion sort. The result is an element of the
 * buffer, so it is bit-identical to the TypeScript quickselect's.
 */
#ifndef MOE_SELECT_H
#define MOE_SELECT_H
#include <wasm_simd128.h>
#include "networks.h"

/* r-th largest (1-based, r <= len) of a[0..len) by insertion sort, descending; reorders a. */
static double select_sorted(double *a, int len, int r) {
  for (int x = 1; x < len; x++) {
    double v = a[x];
    int y = x;
    while (y > 0 && a[y - 1] < v) {
      a[y] = a[y - 1];
      y--;
    }
    a[y] = v;
  }
  return a[r - 1];
}

/* r-th largest by quickselect (Hoare partition, median of three); reorders a. */
static double select_quick(double *a, int len, int r) {
  int t = r - 1, L = 0, H = len - 1;
  while (H - L >= 16) {
    int mid = (L + H) >> 1;
    double x0 = a[L], x1 = a[mid], x2 = a[H];
    double pivot = x0 < x1 ? (x1 < x2 ? x1 : (x0 < x2 ? x2 : x0)) : (x0 < x2 ? x0 : (x1 < x2 ? x2 : x1));
    int i = L - 1, j = H + 1;
    for (;;) {
      do i++; while (a[i] > pivot);
      do j--; while (a[j] < pivot);
      if (i >= j) break;
      double tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    if (t <= j) H = j;
    else L = j + 1;
  }
  return select_sorted(a + L, H - L + 1, t - L + 1);
}

/* #(a > z) and #(a >= z) over a[0..len). */
static inline void count_gt_ge(const double *a, int len, double z, int *gt, int *ge) {
  v128_t Z = wasm_f64x2_splat(z);
  v128_t cg = wasm_i64x2_splat(0), ce = cg, cg2 = cg, ce2 = cg;
  int x = 0;
  for (; x + 4 <= len; x += 4) {
    v128_t v0 = wasm_v128_load(a + x), v1 = wasm_v128_load(a + x + 2);
    cg = wasm_i64x2_sub(cg, wasm_f64x2_gt(v0, Z));
    ce = wasm_i64x2_sub(ce, wasm_f64x2_ge(v0, Z));
    cg2 = wasm_i64x2_sub(cg2, wasm_f64x2_gt(v1, Z));
    ce2 = wasm_i64x2_sub(ce2, wasm_f64x2_ge(v1, Z));
  }
  cg = wasm_i64x2_add(cg, cg2);
  ce = wasm_i64x2_add(ce, ce2);
  int g = (int)(wasm_i64x2_extract_lane(cg, 0) + wasm_i64x2_extract_lane(cg, 1));
  int e = (int)(wasm_i64x2_extract_lane(ce, 0) + wasm_i64x2_extract_lane(ce, 1));
  for (; x < len; x++) {
    g += a[x] > z;
    e += a[x] >= z;
  }
  *gt = g;
  *ge = e;
}

/*
 * r-th largest (1-based, 1 <= r <= len) of a[0..len). a may be overwritten; tmp has room for len keys.
 */
static double select_rank(double *a, int len, int r, double *tmp) {
  while (len > 48) {
    double z[15];
    int stride = len / 15;
    for (int s = 0; s < 15; s++) {
      double v = a[s * stride + stride / 2];
      int p = s;
      while (p > 0 && z[p - 1] > v) {
        z[p] = z[p - 1];
        p--;
      }
      z[p] = v;
    }
    /* lo: a pivot with #(> lo) >= r (answer > lo); hi: a pivot with #(>= hi) < r (answer < hi). */
    double lo = -INF, hi = INF;
    int aboveHi = 0;
    int L = 0, H = 14;
    while (L <= H) {
      int mid = (L + H) >> 1;
      int gt, ge;
      count_gt_ge(a, len, z[mid], &gt, &ge);
      if (gt >= r) {
        lo = z[mid];
        L = mid + 1;
      } else if (ge >= r) {
        return z[mid];
      } else {
        hi = z[mid];
        aboveHi = ge;
        H = mid - 1;
      }
    }
    int kept = 0;
    for (int x = 0; x < len; x++) {
      double v = a[x];
      tmp[kept] = v;
      kept += (v > lo) & (v < hi);
    }
    r -= aboveHi;
    double *swap = a;
    a = tmp;
    tmp = swap;
    if (kept * 4 > len * 3) return select_quick(a, kept, r); /* little progress: many equal keys */
    len = kept;
  }
  return select_sorted(a, len, r);
}

#endif
