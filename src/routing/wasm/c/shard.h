/*
 * One shard's local part of a sharded dual iteration (src/routing/sharded.ts, shardedSelect.ts; the
 * paper's Algorithm 4): the row step p_i = [(k+1)-th largest over j of (s_ij - q_j)]+ on this shard's
 * rows (the fused row pass of kernels.c with no column buffers: its thresholds at +inf), then the
 * ladder of shardedSelect.ts: per column j, the counts of d = (s_ij - p_i) - h_j in 2A + 1 buckets
 * (d = 0; then one per octave of |d| from 2^EMIN on either side, the outer ones open) and of
 * s_ij - p_i >= floor, with each value's bucket kept for collecting the candidates. Same f64 arithmetic
 * and the same bucket function as the TypeScript reference (shardedSelect.ts countLadder), so the
 * counts are equal (test/sharded.test.ts runs both).
 */
#ifndef MOE_SHARD_H
#define MOE_SHARD_H
#include "state.h"

static double *HINT;      /* [MP] h_j */
static int32_t *LADDER;   /* [M * (2A + 1) + M] bucket counts per column, then the counts >= floor */
static uint8_t *BUCKET;   /* [N * MP] each value's bucket */

/* Takes the shard buffers after setup() (again after every setup); returns 0 when memory cannot grow.
 * Their offsets: TABLE[7] HINT, [8] LADDER, [9] BUCKET, [10] P, [11] PRAW. */
int shard_setup(int octaves) {
  size_t n = (size_t)N, mp = (size_t)MP;
  HINT = take(mp * 8);
  LADDER = take((size_t)M * (2 * octaves + 2) * 4);
  BUCKET = take(n * mp);
  if (!BUCKET) return 0;
  TABLE[7] = (int32_t)(size_t)HINT;
  TABLE[8] = (int32_t)(size_t)LADDER;
  TABLE[9] = (int32_t)(size_t)BUCKET;
  TABLE[10] = (int32_t)(size_t)P;
  TABLE[11] = (int32_t)(size_t)PRAW;
  return 1;
}

/*
 * The row step from Q (written by the caller) on the loaded scores: writes P (truncated when truncP)
 * and PRAW. t = 0: floors from group maxima (and the scores' check: returns the first bad score's
 * index, else -1); t > 0: the proven floor PRAW_i - delta, delta = max_j |q_j moved since the last
 * call on these scores| (the caller's). Then the ladder into LADDER / BUCKET.
 */
int shard_row_ladder(int t, double delta, int truncP, int octaves, int emin, double floor) {
  for (int j = 0; j < M; j++) {
    SH[j] = -Q[j];
    SH32[j] = (float)SH[j];
    U32[j] = (float)-Q[j]; /* the prefilter's shift -min(q_j, thr_j), thr_j = +inf */
    THR[j] = INF;          /* no column buffers: push() stores nothing */
    CNT[j] = 0;
  }
  int bad = row_pass(t, delta, delta, truncP, 0);
  if (bad >= 0) return bad;
  const int NBK = 2 * octaves + 1;
  int32_t *ge = LADDER + (size_t)M * NBK;
  for (int x = 0; x < M * NBK + M; x++) LADDER[x] = 0;
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MP;
    uint8_t *bk = BUCKET + (size_t)i * MP;
    double p = P[i];
    for (int j = 0; j < M; j++) {
      double v = (double)row[j] - p;
      double d = v - HINT[j];
      union {
        double d;
        uint64_t u;
      } x = {d};
      /* Branch-free: octave o of |d| clamped to [0, A), then below (A - 1 - o) or above (A + 1 + o) the
       * d = 0 bucket A. */
      int o = (int)((x.u >> 52) & 0x7ff) - 1023 - emin;
      o = o < 0 ? 0 : o;
      o = o >= octaves ? octaves - 1 : o;
      int side = 1 - 2 * (int)(x.u >> 63);
      int b = d == 0 ? octaves : octaves + side * (1 + o);
      bk[j] = (uint8_t)b;
      LADDER[j * NBK + b]++;
      ge[j] += v >= floor;
    }
  }
  return -1;
}

/*
 * The shard's routing: top-k of s_ij - q_j (Q written by the caller), ties by the rotated order of the
 * global token index row0 + i (rows.h). fresh: on newly loaded scores (group floors, and the check:
 * returns the first bad score's index, else -1); else the floor PRAW_i - delta of the last row step on
 * these scores, delta = max_j |q_j moved since|.
 */
int shard_route(int row0, int fresh, double delta) {
  for (int j = 0; j < M; j++) {
    SH[j] = -Q[j];
    SH32[j] = (float)SH[j];
  }
  ROW0 = row0 % M;
  int bad = fresh ? route_rows() : route_pass(delta, delta);
  ROW0 = 0;
  return bad;
}

#endif
