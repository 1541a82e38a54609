/*
 * Routing kernels of moe-balance in WebAssembly SIMD (clang --target=wasm32 -O3 -msimd128; built by
 * scripts/build-wasm.sh into src/routing/wasm/kernelsWasm.ts). Called from src/routing/wasm/kernels.ts;
 * the TypeScript balancers keep their API, validation and state, only the loops over the scores are here.
 *
 * Algorithm 1 of Sun 2025 (BIP-Based Balancing; algorithms.md §2), per dual iteration:
 *     line "p":  p_i = [(k+1)-th largest over j of (s_ij - q_j)]+            row step
 *     line "q":  q_j = [(c+1)-th largest over i of (s_ij - p_i)]+            column step
 *     then route: top-k over j of (s_ij - q_j)                              final routing
 * (Quantile Balancing is one untruncated iteration after routing with the previous q; Loss-Free is the
 * routing step with key s_ij + b_j.) Results are bit-identical to the TypeScript reference: keys are the
 * same f64 sums, selections return elements of the same sets, ties follow the same rule (rows.h).
 *
 * Design (why T = 4 costs little more than one pass over the scores):
 *  1. One full pass over the rows (full_pass) computes p_i from the carried q (q0) and keeps, per row,
 *     the candidate set C_i = { j : s_ij - q0_j >= f_i } with f_i = p_i - D (D a margin adapted from
 *     call to call). The pass reads each row once: an f32 SIMD group floor bounds the (k+1)-th key from
 *     below, an f32 SIMD mask keeps the experts above it (slack for f32 rounding), exact f64 keys of the
 *     survivors go through a branch-free network. Every j outside C_i has s_ij - q0_j < f_i (proven).
 *     Once the candidate storage (CAND_CAP, about 4(k+1)+4 a row) is full, later rows keep none: they
 *     are exception rows, recomputed in full by every step; their scores are transposed once so that
 *     every column step reads them contiguously.
 *  2. Column lists: the candidates regrouped by expert (a counting sort), built once per call.
 *  3. Later iterations and the final routing touch only the candidates, with proven bounds:
 *     - row step: outside C_i every key is < f_i + max_j(q0_j - q_j); if the (k+1)-th largest
 *       candidate key reaches that bound it is exact, else the row is recomputed in full;
 *     - column step: outside the lists every key s_ij - p_i is < q0_j + max_i(f_i - p_i); if the
 *       (c+1)-th largest listed key reaches that bound it is exact (or q_j = 0 when truncating and the
 *       bound is <= 0), else the column is recomputed in full from the scores;
 *     - final routing: as the row step, with the k-th largest key.
 *     So a wrong guess of D costs time, never exactness.
 *  4. Column selection without quickselect's branches: SIMD counting against sorted sample pivots
 *     (select.h).
 */
#include "networks.h"
#include "select.h"
#include "state.h"
#include "rows.h"

/* TUNE slots. In: margin D (0: estimate). Out: statistics of the last call (speed only). */
#define TUNE_MARGIN 0
#define TUNE_ROW_FULL 8
#define TUNE_COL_FULL 9
#define TUNE_ROUTE_FULL 10
#define TUNE_CANDIDATES 11
#define TUNE_TIES 12
#define TUNE_EXCEPTIONS 13

/* Phase timing for profiling builds (-DPHASES): TUNE[16+x] += ms of phase x. Compiled out otherwise. */
#ifdef PHASES
__attribute__((import_module("env"), import_name("now"))) double now_ms(void);
double PHASE[16];
#define TIC(x) double tic_##x = now_ms()
#define TOC(x, slot) PHASE[slot] += now_ms() - tic_##x
double *phases(void) { return PHASE; }
#else
#define TIC(x)
#define TOC(x, slot)
#endif

/* Relative slack for f64 rounding in the proven bounds (sums of two or three rounded terms). */
#define EPS 1e-12

static double shift_abs_max(void) {
  double mx = 0;
  for (int j = 0; j < M; j++) mx = dabs(SH[j]) > mx ? dabs(SH[j]) : mx;
  return mx;
}

static void set_shift_from_q(void) {
  for (int j = 0; j < M; j++) {
    SH[j] = -Q[j];
    SH32[j] = (float)SH[j];
  }
}

/* ---------------------------------------------------------------- exported shape and probes */

/* Offsets of the buffers (TABLE in state.h). */
int32_t *table(void) { return TABLE; }

/* Lays out the buffers for (n, m, k) with capacity c; returns 0 when the memory cannot grow. */
int setup(int n, int m, int k, int c) {
  if (n < 1 || m < 2 || k < 1 || k >= m || k + 1 > MAXSLOTS) return 0;
  N = n;
  M = m;
  MP = (m + 3) & ~3;
  NV = MP / 4;
  K = k;
  C = c;
  R = c + 1;
  int avg = 4 * (k + 1) + 4; /* room for this many candidates per row on average */
  if (avg < 16) avg = 16;
  if (avg < m / 4) avg = m / 4;
  CAND_CAP = (size_t)n * (avg < m ? avg : m);
  return setup_buffers();
}

/*
 * After the TypeScript side copied n*m scores to S contiguously: spreads the rows to the padded stride
 * MP (in place, last row first) and fills the padding with -inf. Returns the index of the first score
 * that is NaN or +-inf, or negative when `nonnegative` (k > 1), or -1: the balancers' input check
 * (validate.ts validateRouteInput), done here in SIMD rather than a JS loop.
 */
int prepare_scores(int nonnegative) {
  if (MP != M) {
    for (int i = N - 1; i >= 0; i--) {
      for (int j = M - 1; j >= 0; j--) S[(size_t)i * MP + j] = S[(size_t)i * M + j];
      for (int j = M; j < MP; j++) S[(size_t)i * MP + j] = -INFF;
    }
  }
  /* x - x is 0 for finite x and NaN otherwise; -0 is not < 0. The padding (-inf) is not checked. */
  const v128_t zero = wasm_f32x4_splat(0);
  const v128_t neg = nonnegative ? wasm_i32x4_splat(-1) : wasm_i32x4_splat(0);
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MP;
    v128_t bad = wasm_i32x4_splat(0);
    int v = 0;
    for (; (v + 1) * 4 <= M; v++) {
      v128_t x = wasm_v128_load(row + 4 * v);
      bad = wasm_v128_or(bad, wasm_f32x4_ne(wasm_f32x4_sub(x, x), zero));
      bad = wasm_v128_or(bad, wasm_v128_and(neg, wasm_f32x4_lt(x, zero)));
    }
    int any = wasm_v128_any_true(bad);
    for (int j = 4 * v; j < M; j++) any |= !(row[j] - row[j] == 0) || (nonnegative && row[j] < 0);
    if (any)
      for (int j = 0; j < M; j++)
        if (!(row[j] - row[j] == 0) || (nonnegative && row[j] < 0)) return i * M + j;
  }
  return -1;
}

/* ---------------------------------------------------------------- plain top-k */

/* Top-k of the scores per token (no shift): ids best first, ties to the lower id; weights; loads. */
ALWAYS void topk_plain_k(int K) {
  for (int j = 0; j < MP; j++) LOADS[j] = 0;
  const int A = groups_for(K, NV);
  const int NB = (K + 3) / 4;
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MP;
    /* The group floor is an exact lower bound of the k-th largest score (no arithmetic on s). */
    float F = A ? group_floor(row, ZERO32, NV, A, K) : -INFF;
    survivor_mask(row, ZERO32, NV, F, MASK);
    v128_t B[MAXSLOTS / 4 + 1], I[MAXSLOTS / 4 + 1];
    for (int b = 0; b < NB; b++) {
      B[b] = wasm_f32x4_splat(-INFF);
      I[b] = wasm_i32x4_splat(-1);
    }
    FOR_EACH_SURVIVOR(j, net32id_insert(B, I, NB, row[j], j));
    int ids[MAXSLOTS + 4];
    for (int b = 0; b < NB; b++) wasm_v128_store(ids + 4 * b, I[b]);
    write_route(K, i, row, ids);
  }
}

/* ---------------------------------------------------------------- the full pass (step 1) */

/*
 * One pass over all rows with keys s_ij + SH_j. want_route: write the top-k routing. want_cand: keep
 * candidate sets C_i = { j : key >= p_i - D } (or make the row an exception row). Writes PRAW, P
 * (truncated if truncP), FLO, RCNT, EXC. Returns G = max_i (f_i - p_i) over rows with candidates, the
 * column bound's offset.
 */
ALWAYS double full_pass_k(int K, int want_route, int want_cand, double D, int truncP) {
  const int rank = K + 1;
  const int A = groups_for(rank, NV);
  const double shmax = shift_abs_max();
  double G = -INF;
  size_t used = 0;
  int full = 0;
  NEXC = 0;
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MP;
    double Fu = -INF; /* every key >= Fu is gathered */
    if (A) {
      float g = group_floor(row, SH32, NV, A, rank);
      Fu = (double)g - 1e-6 * (1.0 + dabs((double)g) + shmax);
    }
    survivor_mask(row, SH32, NV, lower32(Fu, shmax), MASK);
    int L = gather_mask(row);
    double v = kplus1_value(K, L);
    if (!(L > K && v >= Fu)) { /* the floor was not below the (k+1)-th key: whole row */
      full++;
      Fu = -INF;
      L = gather_full(row);
      v = kplus1_value(K, L);
    }
    if (want_route) route_list(K, i, row, L);
    double p = truncP && v < 0 ? 0 : v;
    PRAW[i] = v;
    P[i] = p;
    if (want_cand) {
      /* C_i = keys >= f = p_i - D. The gathered keys hold every key >= Fu; below that, gather again
       * with the lower floor (the row is in L1 now). Everything not gathered is < the floor <= f. */
      double f = v - D;
      if (f < Fu) {
        survivor_mask(row, SH32, NV, lower32(f, shmax), MASK);
        L = gather_mask(row);
      }
      int cnt = 0;
      for (int a = 0; a < L; a++) cnt += KV[a] >= f;
      if (used + cnt > CAND_CAP) { /* storage full: keep nothing, recomputed in full by every step */
        RCNT[i] = -1;
        EXC[NEXC++] = i;
        continue;
      }
      int32_t *rj = RJ + used;
      float *rs = RS + used;
      ROFF[i] = (int32_t)used;
      used += cnt;
      int c = 0;
      for (int a = 0; a < L; a++) {
        int j = IDS[a];
        rj[c] = j;
        rs[c] = row[j];
        c += KV[a] >= f;
      }
      RCNT[i] = cnt;
      FLO[i] = f;
      double g = f - p;
      G = g > G ? g : G;
    }
  }
  TUNE[TUNE_ROW_FULL] += full;
  TUNE[TUNE_CANDIDATES] = (double)used;
  TUNE[TUNE_EXCEPTIONS] = NEXC;
  /* The exception rows' scores, transposed (column j at EXT + j*NEXC), for contiguous column scans. */
  arena_top = arena_mark;
  ST = 0;
  EXT = NEXC ? take((size_t)MP * NEXC * 4) : 0;
  if (EXT)
    for (int e = 0; e < NEXC; e++) {
      const float *row = S + (size_t)EXC[e] * MP;
      for (int j = 0; j < M; j++) EXT[(size_t)j * NEXC + e] = row[j];
    }
  return G;
}

/* ---------------------------------------------------------------- column lists (step 2) */

static void build_columns(void) {
  for (int j = 0; j <= M; j++) CSTART[j] = 0;
  for (int i = 0; i < N; i++) {
    int cnt = RCNT[i];
    const int32_t *rj = RJ + ROFF[i];
    for (int a = 0; a < cnt; a++) CSTART[rj[a] + 1]++;
  }
  for (int j = 0; j < M; j++) CSTART[j + 1] += CSTART[j];
  for (int j = 0; j < M; j++) CFILL[j] = CSTART[j];
  for (int i = 0; i < N; i++) {
    int cnt = RCNT[i];
    const int32_t *rj = RJ + ROFF[i];
    const float *rs = RS + ROFF[i];
    for (int a = 0; a < cnt; a++) {
      int e = CFILL[rj[a]]++;
      CI[e] = i;
      CS[e] = rs[a];
    }
  }
}

/* ---------------------------------------------------------------- column step */

/* S transposed into t (column j at t + j*N), in blocks of 64 rows so both sides stay in cache. */
static void transpose_scores(float *t) {
  for (int i0 = 0; i0 < N; i0 += 64) {
    int i1 = i0 + 64 < N ? i0 + 64 : N;
    for (int j = 0; j < M; j++)
      for (int i = i0; i < i1; i++) t[(size_t)j * N + i] = S[(size_t)i * MP + j];
  }
}

/* max |p_i| (finite), for the rounding slack of the column bound. */
static double p_abs_max(void) {
  double mx = 0;
  for (int i = 0; i < N; i++) mx = dabs(P[i]) > mx ? dabs(P[i]) : mx;
  return mx;
}

/*
 * q_j = (c+1)-th largest over i of (s_ij - p_i), truncated at 0 if truncQ (Algorithm 1, line "q").
 * G: every key outside column j's list is < Q0_j + G (G = +inf: no bound, every column in full).
 */
static void column_step(int truncQ, double G) {
  if (R > N) { /* the capacity cannot bind: the reference's -inf -> 0 */
    for (int j = 0; j < M; j++) Q[j] = 0;
    return;
  }
  const double scale = 1.0 + p_abs_max();
  int full = 0;
  for (int j = 0; j < M; j++) {
    double v;
    double B = -INF; /* G = -inf: every key is listed */
    if (G > -INF) {
      B = Q0[j] + G;
      B += EPS * (scale + dabs(Q0[j]) + dabs(B) + dabs(G));
    }
    int done = 0;
    if (B < INF) {
      int cnt = 0;
      for (int e = CSTART[j]; e < CSTART[j + 1]; e++) {
        double key = (double)CS[e] - P[CI[e]];
        COLA[cnt] = key;
        cnt += key >= B;
      }
      if (EXT) {
        const float *ext = EXT + (size_t)j * NEXC;
        for (int e = 0; e < NEXC; e++) {
          double key = (double)ext[e] - P[EXC[e]];
          COLA[cnt] = key;
          cnt += key >= B;
        }
      } else {
        for (int e = 0; e < NEXC; e++) {
          int i = EXC[e];
          double key = (double)S[(size_t)i * MP + j] - P[i];
          COLA[cnt] = key;
          cnt += key >= B;
        }
      }
      if (cnt >= R) {
        v = select_rank(COLA, cnt, R, COLB);
        done = 1;
      } else if (truncQ && B <= 0) { /* the (c+1)-th largest is < B <= 0 */
        Q[j] = 0;
        continue;
      }
    }
    if (!done) {
      full++;
      /* A column read with stride MP costs a cache line per key: transpose once per call instead. */
      if (!ST) {
        ST = take((size_t)MP * N * 4);
        if (ST) transpose_scores(ST);
      }
      if (ST) {
        const float *col = ST + (size_t)j * N;
        for (int i = 0; i < N; i++) COLA[i] = (double)col[i] - P[i];
      } else {
        for (int i = 0; i < N; i++) COLA[i] = (double)S[(size_t)i * MP + j] - P[i];
      }
      v = select_rank(COLA, N, R, COLB);
    }
    Q[j] = truncQ && v < 0 ? 0 : v;
  }
  TUNE[TUNE_COL_FULL] += full;
}

/* ---------------------------------------------------------------- sparse steps (step 3) */

/* max_j (Q0_j - Q_j): the most any key rose since the candidates were built; and the q scale. */
static double key_rise(double *qscale) {
  double d = -INF, qs = 0;
  for (int j = 0; j < M; j++) {
    double x = Q0[j] - Q[j];
    d = x > d ? x : d;
    qs = dabs(Q[j]) > qs ? dabs(Q[j]) : qs;
    qs = dabs(Q0[j]) > qs ? dabs(Q0[j]) : qs;
  }
  *qscale = qs;
  return d;
}

/* Candidate keys of row i (current SH) that are >= floor into KV/IDS (branch-free); returns their count. */
static inline int gather_candidates(int i, double floor) {
  int cnt = RCNT[i], c = 0;
  const int32_t *rj = RJ + ROFF[i];
  const float *rs = RS + ROFF[i];
  for (int a = 0; a < cnt; a++) {
    int j = rj[a];
    double key = (double)rs[a] + SH[j];
    IDS[c] = j;
    KV[c] = key;
    c += key >= floor;
  }
  return c;
}

/* max_j |Q_j - QP_j|: how far any key moved since the last row step (QP), then QP = Q when asked. */
static double step_move(int update) {
  double d = 0;
  for (int j = 0; j < M; j++) {
    double x = dabs(Q[j] - QP[j]);
    d = x > d ? x : d;
    if (update) QP[j] = Q[j];
  }
  return d;
}

/* Row step on the candidates (Algorithm 1, line "p"); returns G for the column step. */
ALWAYS double sparse_row_step_k(int K, int truncP) {
  double qscale;
  const double rise = key_rise(&qscale);
  /* Keys moved by at most mv since the last row step, so the new (k+1)-th largest is >= PRAW_i - mv:
   * only candidates above that floor enter the network (the reference's floor, select.ts). */
  const double mv = step_move(1);
  double G = -INF;
  int full = 0;
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MP;
    double f = FLO[i];
    double v;
    if (RCNT[i] < 0) { /* exception row */
      v = kplus1_value(K, gather_full(row));
      P[i] = truncP && v < 0 ? 0 : v;
      PRAW[i] = v;
      continue;
    }
    double pr = PRAW[i];
    double floor = pr - mv - EPS * (1.0 + dabs(pr) + qscale);
    int L = gather_candidates(i, floor);
    v = L > K ? kplus1_value(K, L) : -INF;
    if (!(v >= floor)) { /* floor too high (cannot happen but for rounding): all candidates */
      L = gather_candidates(i, -INF);
      v = L > K ? kplus1_value(K, L) : -INF;
    }
    double bound = f + rise;
    if (!(L > K && v >= bound + EPS * (1.0 + dabs(bound) + qscale))) {
      full++;
      v = kplus1_value(K, gather_full(row));
    }
    double p = truncP && v < 0 ? 0 : v;
    PRAW[i] = v;
    P[i] = p;
    double g = f - p;
    G = g > G ? g : G;
  }
  TUNE[TUNE_ROW_FULL] += full;
  return G;
}

/* Final routing on the candidates: top-k of s_ij - q_j (ties by the rule in rows.h). */
ALWAYS void sparse_route_k(int K) {
  double qscale;
  const double rise = key_rise(&qscale);
  /* The k-th largest key is >= the (k+1)-th >= PRAW_i - (move since the last row step). */
  const double mv = step_move(0);
  for (int j = 0; j < MP; j++) LOADS[j] = 0;
  int full = 0;
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MP;
    double pr = PRAW[i];
    double floor = pr - mv - EPS * (1.0 + dabs(pr) + qscale);
    int L = RCNT[i] >= 0 ? gather_candidates(i, floor) : 0;
    if (L >= K) {
      v128_t B[MAXSLOTS / 2 + 1], I[MAXSLOTS / 2 + 1];
      const int NB = (K + 2) / 2;
      net64id_clear(B, I, NB);
      for (int a = 0; a < L; a++) net64id_insert(B, I, NB, KV[a], IDS[a]);
      double bound = FLO[i] + rise;
      double kth = net64_slot(B, K - 1);
      if (kth >= floor && kth >= bound + EPS * (1.0 + dabs(bound) + qscale)) {
        int ids[MAXSLOTS];
        ids_from_network(K, B, I, L, ids);
        write_route(K, i, row, ids);
        continue;
      }
    }
    full++;
    route_list(K, i, row, gather_full(row));
  }
  TUNE[TUNE_ROUTE_FULL] += full;
}

/* ---------------------------------------------------------------- specialisation on k */

/* Calls fn with k as a constant for the common k (clang then unrolls the networks), else the global. */
#define SPECIALISE(fn, ...)                \
  switch (K) {                             \
    case 1: return fn(1, ##__VA_ARGS__);   \
    case 2: return fn(2, ##__VA_ARGS__);   \
    case 3: return fn(3, ##__VA_ARGS__);   \
    case 4: return fn(4, ##__VA_ARGS__);   \
    case 6: return fn(6, ##__VA_ARGS__);   \
    case 8: return fn(8, ##__VA_ARGS__);   \
    default: return fn(K, ##__VA_ARGS__);  \
  }

void topk_plain(void) { SPECIALISE(topk_plain_k) }
static double full_pass(int want_route, int want_cand, double D, int truncP) { SPECIALISE(full_pass_k, want_route, want_cand, D, truncP) }
static double sparse_row_step(int truncP) { SPECIALISE(sparse_row_step_k, truncP) }
static void sparse_route(void) { SPECIALISE(sparse_route_k) }

/* ---------------------------------------------------------------- margin D */

/* A first margin when no call has run yet: half the median gap between a row's largest and (k+1)-th
 * key over up to 64 sampled rows (the scale on which q moves from a cold start). */
static double estimate_margin(void) {
  double gaps[64];
  int rows = N < 64 ? N : 64;
  for (int r = 0; r < rows; r++) {
    const float *row = S + (size_t)((long long)r * N / rows) * MP;
    int L = gather_full(row);
    double top = -INF;
    for (int a = 0; a < L; a++) top = KV[a] > top ? KV[a] : top;
    double g = top - kplus1_value(K, L);
    int p = r;
    while (p > 0 && gaps[p - 1] > g) {
      gaps[p] = gaps[p - 1];
      p--;
    }
    gaps[p] = g;
  }
  return 0.5 * gaps[rows / 2];
}

/* ---------------------------------------------------------------- exported drivers */

/* Routing only: top-k of s_ij + SH_j (SH written by the caller). */
void route_shifted(void) {
  for (int j = 0; j < MP; j++) LOADS[j] = 0;
  for (int j = 0; j < M; j++) SH32[j] = (float)SH[j];
  full_pass(1, 0, 0, 0);
}

/*
 * T dual iterations of Algorithm 1 from the q in Q (warm start), updating Q, and the routing: before
 * the iterations with the incoming q (flags & 4: route-then-update, Quantile) or after them with the
 * final q (update-then-route). flags & 1: truncate p; flags & 2: truncate q.
 */
void dual_route(int T, int flags) {
  const int truncP = flags & 1, truncQ = flags & 2, routeFirst = (flags & 4) != 0;
  for (int x = 8; x < 16; x++) TUNE[x] = 0;
  for (int j = 0; j < MP; j++) LOADS[j] = 0;
  set_shift_from_q();
  if (T == 0) {
    full_pass(1, 0, 0, 0);
    return;
  }
  double D = TUNE[TUNE_MARGIN];
  if (!(D > 0)) D = estimate_margin();
  for (int j = 0; j < M; j++) Q0[j] = QP[j] = Q[j];
  TIC(a);
  double G = full_pass(routeFirst, 1, D, truncP);
  TOC(a, 0);
  TIC(b);
  build_columns();
  TOC(b, 1);
  TIC(c);
  column_step(truncQ, G);
  TOC(c, 2);
  double moved = 0;
  for (int t = 1; t <= T; t++) {
    double qscale;
    double rise = key_rise(&qscale);
    double fall = -INF;
    for (int j = 0; j < M; j++) fall = Q[j] - Q0[j] > fall ? Q[j] - Q0[j] : fall;
    moved = rise > moved ? rise : moved;
    moved = fall > moved ? fall : moved;
    if (t == T) break;
    set_shift_from_q();
    TIC(d);
    G = sparse_row_step(truncP);
    TOC(d, 3);
    TIC(e);
    column_step(truncQ, G);
    TOC(e, 4);
  }
  if (!routeFirst) {
    set_shift_from_q();
    TIC(f);
    sparse_route();
    TOC(f, 5);
  }
  /* Next call's margin: a row's check holds when D >= rise + fall of the keys, a column's when
   * D >= about the same; q moves similarly from call to call, so 2.5x this call's largest move, decaying
   * by at most half a call. */
  double next = 2.5 * moved;
  if (next < 0.5 * D) next = 0.5 * D;
  /* Too many exception rows: D is wider than the candidate storage allows (a cold start moves q far). */
  if (NEXC * 16 > N && next > 0.5 * D) next = 0.5 * D;
  if (!(next > 1e-300)) next = 1e-300;
  TUNE[TUNE_MARGIN] = next;
}

/* Read-bandwidth probe for the benchmark: sum of the scores (f32x4, four accumulators). */
float sum_scores(void) {
  v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
  size_t len = (size_t)N * MP, x = 0;
  for (; x + 16 <= len; x += 16) {
    a0 = wasm_f32x4_add(a0, wasm_v128_load(S + x));
    a1 = wasm_f32x4_add(a1, wasm_v128_load(S + x + 4));
    a2 = wasm_f32x4_add(a2, wasm_v128_load(S + x + 8));
    a3 = wasm_f32x4_add(a3, wasm_v128_load(S + x + 12));
  }
  v128_t a = wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3));
  float r = wasm_f32x4_extract_lane(a, 0) + wasm_f32x4_extract_lane(a, 1) + wasm_f32x4_extract_lane(a, 2) + wasm_f32x4_extract_lane(a, 3);
  for (; x < len; x++) r += S[x];
  return r;
}
