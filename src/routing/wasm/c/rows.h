/*
 * Row kernels: the top-(k+1) of one row of keys s_ij + sh_j, exact in f64, and the routing output.
 *
 * Every decision uses the f64 key (double)s_ij + sh_j, the same arithmetic as the TypeScript reference
 * (src/routing/select.ts), so results are bit-identical. f32 SIMD only prefilters which experts are
 * looked at, with a slack that covers f32 rounding, and each prefilter is verified afterwards.
 *
 * Tie rule (the reference's, select.ts): keys in decreasing order; equal keys go to the larger sh_j (for
 * BIP and Quantile the smaller q_j, the expert whose capacity does not bind), then to the expert first
 * in token i's rotated order i mod m, i mod m + 1, ..., m - 1, 0, ... (so that equal scores spread
 * evenly over the experts, deterministically). The id-carrying networks keep the key inserted first
 * ahead of an equal later one, so the routing inserts in the rotated order; they break ties by that
 * order only, so a row whose top k+1 keys are not pairwise distinct is re-ranked by the scalar rule
 * (rare: about one row per expert per call, where q_j was set to exactly that row's key). A shard of a
 * sharded call (shard.h) counts its rows from its first token's index in the whole batch, ROW0.
 *
 * Functions with a parameter K (shadowing the global) or Mx (the global M) are specialised: the drivers
 * call them with constants for common shapes (the noinline thunks of kernels.c) so that clang unrolls the
 * networks into registers and the row loops over m, with the globals for other shapes.
 */
#ifndef MOE_ROWS_H
#define MOE_ROWS_H
#include "networks.h"
#include "state.h"

static inline double dabs(double x) { return x < 0 ? -x : x; }

/* An f32 at or below x minus a slack that covers the f32 rounding of s + f32(sh) for |sh| <= shmax. */
static inline float lower32(double x, double shmax) {
  if (x == -INF) return -INFF;
  return (float)(x - 1e-6 * (1.0 + dabs(x) + shmax));
}

/* Position of expert j in the rotated order that starts at expert `start` (the tie rule). */
static inline int rotated(int j, int start) { return j >= start ? j - start : j - start + M; }

/* Whether (v, j) ranks before (w, l): larger key, then larger sh, then first in the rotated order. */
static inline int ranks_before(double v, int j, double w, int l, int start) {
  if (v != w) return v > w;
  if (SH[j] != SH[l]) return SH[j] > SH[l];
  return rotated(j, start) < rotated(l, start);
}

/* Top-K of KV/IDS[0..L) under the tie rule, by insertion (the scalar path for tied rows). */
static void topk_by_rule(int L, int *ids, int start) {
  double keys[MAXSLOTS];
  int filled = 0;
  for (int a = 0; a < L; a++) {
    double v = KV[a];
    int j = IDS[a];
    int pos;
    if (filled < K) pos = filled++;
    else if (ranks_before(v, j, keys[K - 1], ids[K - 1], start)) pos = K - 1;
    else continue;
    while (pos > 0 && ranks_before(v, j, keys[pos - 1], ids[pos - 1], start)) {
      keys[pos] = keys[pos - 1];
      ids[pos] = ids[pos - 1];
      pos--;
    }
    keys[pos] = v;
    ids[pos] = j;
  }
}

/* Token i's output: ids, combine weights from the ORIGINAL scores (renormalised when K > 1), loads. */
ALWAYS void write_route(int K, int i, const float *row, const int *ids) {
  int32_t *e = EXPERTS + (size_t)i * K;
  float *w = WEIGHTS + (size_t)i * K;
  double sum = 0;
  for (int a = 0; a < K; a++) {
    e[a] = ids[a];
    LOADS[ids[a]]++;
    sum += (double)row[ids[a]];
  }
  for (int a = 0; a < K; a++) {
    double s = (double)row[ids[a]];
    w[a] = K == 1 ? (float)s : sum != 0 ? (float)(s / sum) : (float)(1.0 / K);
  }
}

/* Ids of the top K from an id network holding the top K+1 of KV/IDS[0..L); the scalar rule on ties. */
ALWAYS void ids_from_network(int K, const v128_t *B, const v128_t *I, int L, int *ids, int start) {
  int tied = 0;
  for (int s = 0; s < K; s++) tied |= net64_slot(B, s) == net64_slot(B, s + 1);
  if (tied) {
    TUNE[TUNE_TIES] += 1;
    topk_by_rule(L, ids, start);
    return;
  }
  for (int s = 0; s < K; s++) ids[s] = net64id_id(I, s);
}

/* All Mx (= M) keys of row i into KV/IDS; returns Mx. */
ALWAYS int gather_full(int Mx, const float *row) {
  for (int j = 0; j < Mx; j++) {
    KV[j] = (double)row[j] + SH[j];
    IDS[j] = j;
  }
  return Mx;
}

/* Runs `body` with j set to each survivor of MASK below Mx (= M), in the rotated order that starts at
 * expert `start` (the tie rule): j >= start increasing, then j < start increasing. */
#define FOR_EACH_SURVIVOR_FROM(Mx, start, j, body)                                  \
  for (int h_ = 0; h_ < 2; h_++)                                                    \
    for (int w_ = 0; w_ * 64 < (Mx); w_++) {                                        \
      int lo_ = (start) - 64 * w_;                                                  \
      uint64_t ge_ = lo_ <= 0 ? ~(uint64_t)0 : lo_ >= 64 ? 0 : ~(uint64_t)0 << lo_; \
      uint64_t bits_ = MASK[w_] & (h_ == 0 ? ge_ : ~ge_);                           \
      while (bits_) {                                                               \
        int j = 64 * w_ + __builtin_ctzll(bits_);                                   \
        bits_ &= bits_ - 1;                                                         \
        if (j >= (Mx)) break;                                                       \
        body;                                                                       \
      }                                                                             \
    }

/* The same in increasing order (start 0: the second round has no bits). */
#define FOR_EACH_SURVIVOR(Mx, j, body) FOR_EACH_SURVIVOR_FROM(Mx, 0, j, body)

/* Survivors of MASK into KV/IDS (increasing id); returns their count. */
ALWAYS int gather_mask(int Mx, const float *row) {
  int L = 0;
  FOR_EACH_SURVIVOR(Mx, j, {
    IDS[L] = j;
    KV[L] = (double)row[j] + SH[j];
    L++;
  });
  return L;
}

/* (K+1)-th largest of KV[0..L) (-inf if L <= K). */
ALWAYS double kplus1_value(int K, int L) {
  v128_t B[MAXSLOTS / 2 + 1];
  const int NB = (K + 2) / 2;
  net64_clear(B, NB);
  for (int a = 0; a < L; a++) net64_insert(B, NB, KV[a]);
  return net64_slot(B, K);
}

/* KV/IDS[0..L) (ids increasing) into an id network of NB vectors in the rotated order from `start`. */
ALWAYS void insert_rotated(v128_t *B, v128_t *I, int NB, int L, int start) {
  int s0 = 0;
  while (s0 < L && IDS[s0] < start) s0++;
  net64id_clear(B, I, NB);
  for (int a = s0; a < L; a++) net64id_insert(B, I, NB, KV[a], IDS[a]);
  for (int a = 0; a < s0; a++) net64id_insert(B, I, NB, KV[a], IDS[a]);
}

/*
 * Routes row i (Mx = M, a constant where specialised) over KV/IDS[0..L) (ids increasing) when the slot-th largest key of the list (0-based; the
 * network holds the top K+1) reaches `floor`, and returns 1; else writes nothing and returns 0. Every
 * expert outside the list must have a key below `floor`, so that then the top K of the list is the row's.
 */
ALWAYS int route_list_if(int K, int Mx, int i, const float *row, int L, int slot, double floor) {
  v128_t B[MAXSLOTS / 2 + 1], I[MAXSLOTS / 2 + 1];
  const int NB = (K + 2) / 2;
  const int start = (ROW0 + i) % Mx;
  insert_rotated(B, I, NB, L, start);
  if (net64_slot(B, slot) < floor) return 0;
  int ids[MAXSLOTS];
  ids_from_network(K, B, I, L, ids, start);
  write_route(K, i, row, ids);
  return 1;
}

/* Routes row i over KV/IDS[0..L) (ids increasing), which must hold every key >= the row's K-th largest. */
ALWAYS void route_list(int K, int i, const float *row, int L) { route_list_if(K, M, i, row, L, 0, -INF); }

#endif
