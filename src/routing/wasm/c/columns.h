/*
 * Column step of Algorithm 1 (line "q"): q_j = [(c+1)-th largest over i of (s_ij - p_i)]+, fed by the
 * row pass. Each column j has a threshold thr_j and a buffer; the row pass stores every key
 * s_ij - p_i >= thr_j of the experts it looked at (its prefilter includes all of them, kernels.c), so
 * after the pass the buffer holds every key of column j that is >= thr_j. If it holds at least c+1
 * keys, its (c+1)-th largest is the column's, exactly. If not, the answer is < thr_j: with truncation
 * and thr_j <= 0 that is q_j = 0; otherwise the column is recomputed from the scores (the fallback, which
 * only costs time). The thresholds are guesses from the previous iteration and call (kernels.c).
 *
 * A buffer keeps at most CAP keys: when full it keeps only its c+1 largest (the keys above the (c+1)-th
 * largest v, then copies of v) and raises thr_j just above v: with c+1 keys >= v held, a later key <= v
 * cannot change the (c+1)-th largest. (Exact ties are common: a row whose (k+1)-th expert is j has key
 * s_ij - p_i = q_j exactly; without the raise a column of m = 16 compacted hundreds of times per call.)
 */
#ifndef MOE_COLUMNS_H
#define MOE_COLUMNS_H
#include "networks.h"
#include "select.h"
#include "state.h"

/* The smallest double above x (x finite). */
static inline double next_up(double x) {
  union {
    double d;
    int64_t i;
  } u = {x};
  if (x == 0) {
    u.i = 1;
    return u.d;
  }
  u.i += x > 0 ? 1 : -1;
  return u.d;
}

/* Column j's buffer is full: keep its R largest, raise thr_j above the R-th largest. */
__attribute__((noinline)) static void compact(int j) {
  TUNE[TUNE_COMPACTIONS] += 1;
  double *b = BUF + (size_t)j * CAPS;
  for (int x = 0; x < CAP; x++) COLA[x] = b[x];
  double v = select_rank(COLA, CAP, R, COLB);
  int cnt = 0;
  for (int x = 0; x < CAP; x++) {
    double y = b[x];
    b[cnt] = y;
    cnt += y > v;
  }
  while (cnt < R) b[cnt++] = v;
  double raised = next_up(v);
  if (raised > THR[j]) THR[j] = raised;
  CNT[j] = R;
}

/* Stores key in column j's buffer when >= thr_j (branch-free but for the rare compaction). */
ALWAYS void push(int j, double key) {
  int cj = CNT[j];
  BUF[(size_t)j * CAPS + cj] = key;
  cj += key >= THR[j];
  CNT[j] = cj;
  if (__builtin_expect(cj == CAP, 0)) compact(j);
}

/* (c+1)-th largest of column j over the keys >= lo, from the scores (strided); -inf if fewer than c+1. */
__attribute__((noinline)) static double column_from_scores(int j, double lo) {
  int cnt = 0;
  for (int i = 0; i < N; i++) {
    double key = (double)S[(size_t)i * MP + j] - P[i];
    COLA[cnt] = key;
    cnt += key >= lo;
  }
  return cnt >= R ? select_rank(COLA, cnt, R, COLB) : -INF;
}

/*
 * q_j for every column from the buffers (VR_j: the value before truncation, -inf when known only to be
 * < 0). LOWER_j: a proven lower bound of the column's value (-inf if none), used by the fallback.
 * Returns the number of fallbacks.
 */
static int column_select(int truncQ) {
  int fallbacks = 0;
  for (int j = 0; j < M; j++) {
    double v;
    int cnt = CNT[j];
    if (R > N) {
      v = -INF; /* the capacity cannot bind: the reference's -inf -> 0 */
    } else if (cnt >= R) {
      v = select_rank(BUF + (size_t)j * CAPS, cnt, R, COLB);
    } else if (truncQ && THR[j] <= 0) {
      v = -INF; /* the (c+1)-th largest is < thr_j <= 0 */
    } else {
      fallbacks++;
      double lo = LOWER[j];
      if (truncQ && !(lo > 0)) lo = 0;
      v = column_from_scores(j, lo);
      if (v == -INF && !(truncQ && lo <= 0)) v = column_from_scores(j, -INF);
    }
    VR[j] = v;
    Q[j] = v == -INF ? 0 : truncQ && v < 0 ? 0 : v;
  }
  TUNE[TUNE_COL_FULL] += fallbacks;
  return fallbacks;
}

#endif
