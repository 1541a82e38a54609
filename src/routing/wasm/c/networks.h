/*
 * Branch-free SIMD building blocks of the row kernels.
 *
 * Why networks: V8 compiles scalar f64 min/max/select to branches on x64, and a top-k insertion loop
 * then mispredicts on every other key (the prototype's first kernel: top-k 4.2 ms, BIP T=4 20 ms at
 * (16384, 64, 4)). An insertion network keeps the r largest keys in r descending lanes and inserts a key
 * v with one max/min per lane pair, no branch:
 *     b'_s = max(b_s, min(b_{s-1}, v))          (b_{-1} = +inf)
 * The id-carrying form moves ids with the same masks. Insertion with a strict '>' keeps the key inserted
 * first ahead of an equal later one, so inserting in increasing expert id gives "ties to the lower id".
 */
#ifndef MOE_NETWORKS_H
#define MOE_NETWORKS_H
#include <wasm_simd128.h>
#include <stdint.h>

#define INF __builtin_inf()
#define INFF __builtin_inff()
#define ALWAYS static inline __attribute__((always_inline))

/* Largest supported k + 1 (slots of the row networks). Larger k use the TypeScript path. */
#define MAXSLOTS 32

/* ---- f64x2, values only: NB vectors hold 2*NB descending slots. */
ALWAYS void net64_clear(v128_t *B, int NB) {
  for (int b = 0; b < NB; b++) B[b] = wasm_f64x2_splat(-INF);
}
ALWAYS void net64_insert(v128_t *B, int NB, double v) {
  v128_t V = wasm_f64x2_splat(v);
  for (int b = NB - 1; b > 0; b--) {
    v128_t prev = wasm_i64x2_shuffle(B[b - 1], B[b], 1, 2); /* slots 2b-1, 2b */
    B[b] = wasm_f64x2_pmax(B[b], wasm_f64x2_pmin(prev, V));
  }
  v128_t prev0 = wasm_i64x2_shuffle(wasm_f64x2_splat(INF), B[0], 1, 2);
  B[0] = wasm_f64x2_pmax(B[0], wasm_f64x2_pmin(prev0, V));
}
ALWAYS double net64_slot(const v128_t *B, int s) {
  return (s & 1) ? wasm_f64x2_extract_lane(B[s >> 1], 1) : wasm_f64x2_extract_lane(B[s >> 1], 0);
}

/* ---- f64x2 with ids (i64 lanes): strict '>' so an equal later key stays behind. */
ALWAYS void net64id_clear(v128_t *B, v128_t *I, int NB) {
  for (int b = 0; b < NB; b++) {
    B[b] = wasm_f64x2_splat(-INF);
    I[b] = wasm_i64x2_splat(-1);
  }
}
ALWAYS void net64id_insert(v128_t *B, v128_t *I, int NB, double v, int id) {
  v128_t V = wasm_f64x2_splat(v);
  v128_t VI = wasm_i64x2_splat(id);
  for (int b = NB - 1; b >= 0; b--) {
    v128_t Bp = b ? wasm_i64x2_shuffle(B[b - 1], B[b], 1, 2) : wasm_i64x2_shuffle(wasm_f64x2_splat(INF), B[0], 1, 2);
    v128_t Ip = b ? wasm_i64x2_shuffle(I[b - 1], I[b], 1, 2) : wasm_i64x2_shuffle(wasm_i64x2_splat(-1), I[0], 1, 2);
    v128_t here = wasm_f64x2_gt(V, B[b]); /* v displaces slot s */
    v128_t above = wasm_f64x2_gt(V, Bp);  /* v goes above slot s-1: slot s takes slot s-1 */
    B[b] = wasm_v128_bitselect(wasm_v128_bitselect(Bp, V, above), B[b], here);
    I[b] = wasm_v128_bitselect(wasm_v128_bitselect(Ip, VI, above), I[b], here);
  }
}
ALWAYS int net64id_id(const v128_t *I, int s) {
  return (int)((s & 1) ? wasm_i64x2_extract_lane(I[s >> 1], 1) : wasm_i64x2_extract_lane(I[s >> 1], 0));
}

/* ---- f32x4 with ids (plain top-k on the scores themselves). */
ALWAYS void net32id_insert(v128_t *B, v128_t *I, int NB, float v, int id) {
  v128_t V = wasm_f32x4_splat(v);
  v128_t VI = wasm_i32x4_splat(id);
  for (int b = NB - 1; b >= 0; b--) {
    v128_t Bp = b ? wasm_i32x4_shuffle(B[b - 1], B[b], 3, 4, 5, 6) : wasm_i32x4_shuffle(wasm_f32x4_splat(INFF), B[0], 3, 4, 5, 6);
    v128_t Ip = b ? wasm_i32x4_shuffle(I[b - 1], I[b], 3, 4, 5, 6) : wasm_i32x4_shuffle(wasm_i32x4_splat(-1), I[0], 3, 4, 5, 6);
    v128_t here = wasm_f32x4_gt(V, B[b]);
    v128_t above = wasm_f32x4_gt(V, Bp);
    B[b] = wasm_v128_bitselect(wasm_v128_bitselect(Bp, V, above), B[b], here);
    I[b] = wasm_v128_bitselect(wasm_v128_bitselect(Ip, VI, above), I[b], here);
  }
}

/* ---- f32x4 values only. */
ALWAYS void net32_insert(v128_t *B, int NB, v128_t V) {
  for (int b = NB - 1; b > 0; b--) {
    v128_t prev = wasm_i32x4_shuffle(B[b - 1], B[b], 3, 4, 5, 6);
    B[b] = wasm_f32x4_pmax(B[b], wasm_f32x4_pmin(prev, V));
  }
  v128_t prev0 = wasm_i32x4_shuffle(wasm_f32x4_splat(INFF), B[0], 3, 4, 5, 6);
  B[0] = wasm_f32x4_pmax(B[0], wasm_f32x4_pmin(prev0, V));
}

/* Lane l of an f32x4, splatted (l constant after unrolling). */
ALWAYS v128_t splat_lane32(v128_t a, int l) {
  switch (l) {
    case 0: return wasm_i32x4_shuffle(a, a, 0, 0, 0, 0);
    case 1: return wasm_i32x4_shuffle(a, a, 1, 1, 1, 1);
    case 2: return wasm_i32x4_shuffle(a, a, 2, 2, 2, 2);
    default: return wasm_i32x4_shuffle(a, a, 3, 3, 3, 3);
  }
}
ALWAYS float lane32(v128_t a, int l) {
  switch (l) {
    case 0: return wasm_f32x4_extract_lane(a, 0);
    case 1: return wasm_f32x4_extract_lane(a, 1);
    case 2: return wasm_f32x4_extract_lane(a, 2);
    default: return wasm_f32x4_extract_lane(a, 3);
  }
}

/* Accumulators for the group floor: A f32x4 vectors give 4A disjoint groups; 4A >= rank is needed
 * and A <= nv (vectors per row). 0 when impossible (the caller then uses no floor). */
ALWAYS int groups_for(int rank, int nv) {
  int A = rank <= 4 ? 1 : rank <= 8 ? 2 : 4;
  if (4 * A < rank || A > nv) return 0;
  return A;
}

/* Lanes of x that are NaN or +-inf (x - x is NaN exactly then), or negative when neg is all ones (-0 is
 * not): the balancers' input check (validate.ts). */
ALWAYS v128_t bad_lanes(v128_t x, v128_t neg) {
  v128_t zero = wasm_f32x4_splat(0);
  return wasm_v128_or(wasm_f32x4_ne(wasm_f32x4_sub(x, x), zero), wasm_v128_and(neg, wasm_f32x4_lt(x, zero)));
}

/*
 * A lower bound (f32) of the rank-th largest of (s_j + u_j) over a row of nv vectors: split the row into
 * 4A disjoint lane groups, take each group's maximum, then the rank-th largest of the maxima. Those
 * rank maxima are rank distinct elements of the row, so the rank-th largest of the row is at least the
 * result. One f32x4 max per vector of the row; the network over 4A values is independent of m.
 * check (a constant): also set *bad to a nonzero vector when the row may hold a bad score (the input
 * check, fused into the pass that reads the row anyway; only where the row has no padding). It costs
 * an f32x4 add and a pmin per vector (both single x86 instructions; wasm's NaN-propagating min is not):
 * the running sum is NaN or +-inf if any score is NaN or +-inf, and the running pmin is negative if any
 * score is (checked when neg is all ones, k > 1). A sum of huge finite scores can also overflow, so a
 * hit is only a hint: the caller confirms it with bad_in_row, exactly.
 */
ALWAYS float group_floor(const float *row, const float *u, int nv, int A, int rank, int check, v128_t neg, v128_t *bad) {
  v128_t acc[4];
  v128_t lo = wasm_f32x4_splat(INFF), sum = wasm_f32x4_splat(0);
  for (int a = 0; a < 4; a++) acc[a] = wasm_f32x4_splat(-INFF);
  int v = 0;
  for (; v + A <= nv; v += A)
    for (int a = 0; a < A; a++) {
      v128_t x = wasm_v128_load(row + 4 * (v + a));
      if (check) { lo = wasm_f32x4_pmin(lo, x); sum = wasm_f32x4_add(sum, x); }
      acc[a] = wasm_f32x4_pmax(acc[a], wasm_f32x4_add(x, wasm_v128_load(u + 4 * (v + a))));
    }
  for (; v < nv; v++) {
    v128_t x = wasm_v128_load(row + 4 * v);
    if (check) { lo = wasm_f32x4_pmin(lo, x); sum = wasm_f32x4_add(sum, x); }
    acc[0] = wasm_f32x4_pmax(acc[0], wasm_f32x4_add(x, wasm_v128_load(u + 4 * v)));
  }
  if (check) {
    /* sum - sum is NaN exactly when sum is NaN or +-inf. */
    v128_t b = wasm_f32x4_ne(wasm_f32x4_sub(sum, sum), wasm_f32x4_splat(0));
    *bad = wasm_v128_or(b, wasm_v128_and(neg, wasm_f32x4_lt(lo, wasm_f32x4_splat(0))));
  }
  const int NB = (rank + 3) / 4;
  v128_t B[4];
  for (int b = 0; b < NB; b++) B[b] = wasm_f32x4_splat(-INFF);
  for (int a = 0; a < A; a++)
    for (int l = 0; l < 4; l++) net32_insert(B, NB, splat_lane32(acc[a], l));
  return lane32(B[(rank - 1) >> 2], (rank - 1) & 3);
}

/*
 * Bitmask of {j : f32(s_j + u_j) >= F} over a row of nv vectors into mask[0..), 64 experts a word, in
 * increasing j. Returns the number of set bits.
 */
ALWAYS int survivor_mask(const float *row, const float *u, int nv, float F, uint64_t *mask) {
  v128_t Fv = wasm_f32x4_splat(F);
  int count = 0, v = 0, w = 0;
  while (v < nv) {
    uint64_t word = 0;
    for (int g = 0; g < 4 && v < nv; g++) {
      uint32_t bits;
      if (v + 4 <= nv) {
        const float *s4 = row + 4 * v;
        const float *u4 = u + 4 * v;
        v128_t m0 = wasm_f32x4_ge(wasm_f32x4_add(wasm_v128_load(s4), wasm_v128_load(u4)), Fv);
        v128_t m1 = wasm_f32x4_ge(wasm_f32x4_add(wasm_v128_load(s4 + 4), wasm_v128_load(u4 + 4)), Fv);
        v128_t m2 = wasm_f32x4_ge(wasm_f32x4_add(wasm_v128_load(s4 + 8), wasm_v128_load(u4 + 8)), Fv);
        v128_t m3 = wasm_f32x4_ge(wasm_f32x4_add(wasm_v128_load(s4 + 12), wasm_v128_load(u4 + 12)), Fv);
        bits = wasm_i8x16_bitmask(wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(m0, m1), wasm_i16x8_narrow_i32x4(m2, m3)));
        v += 4;
      } else {
        bits = 0;
        for (int e = 0; v < nv && e < 4; e++, v++)
          bits |= (uint32_t)wasm_i32x4_bitmask(wasm_f32x4_ge(wasm_f32x4_add(wasm_v128_load(row + 4 * v), wasm_v128_load(u + 4 * v)), Fv)) << (4 * e);
      }
      word |= (uint64_t)bits << (16 * g);
    }
    mask[w++] = word;
    count += __builtin_popcountll(word);
  }
  return count;
}

#endif
