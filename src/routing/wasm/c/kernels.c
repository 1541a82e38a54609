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
 * Design (why T = 4 costs about five passes over the scores, and each pass little more than a read):
 *  1. Each dual iteration is one fused pass over the rows (row_pass) that reads each row once: it
 *     computes p_i and, in the same pass, feeds the column step. Per row, an f32 SIMD prefilter (mask of
 *     s_ij - u_j >= F_i, u_j = min(q_j, thr_j), F_i a floor of p_i with a slack for f32 rounding) picks
 *     the experts worth looking at (about k + 2 of m); their exact f64 keys go through a branch-free
 *     f64x2 network (networks.h) for the (k+1)-th largest, and their column keys s_ij - p_i into the
 *     column buffers (columns.h). Every expert outside the mask has s_ij - q_j < F_i <= p_i and
 *     s_ij - p_i < thr_j, so it can change neither.
 *  2. The floor F_i: in the first pass an f32 group floor (a lower bound of the (k+1)-th largest from
 *     4A lane maxima, networks.h); later a guess p_i(previous) - phi * delta, where delta = max_j |q_j
 *     moved since the previous pass| makes p_i(previous) - delta a proven floor (a key moves by at most
 *     delta). The guess is verified (the (k+1)-th largest found must reach it), then retried with the
 *     proven floor, then the row is done in full; phi adapts per iteration to keep retries near 0.5%.
 *  3. The column thresholds thr_j: in the first pass q_j(carried) minus twice how far q_j recently fell
 *     there; later VR_j - min(delta, 2|last move of q_j| + psi * delta). A column that collects fewer
 *     than c+1 keys above thr_j is recomputed from the scores (columns.h), and psi grows.
 *  4. Column selection without quickselect's branches: SIMD counting against sorted sample pivots
 *     (select.h), on buffers that keep only c+1 keys.
 *  5. Final routing: one more pass with the floor guess (k-th largest >= (k+1)-th >= p_i - delta),
 *     an id-carrying f64x2 network, the scalar tie rule only on rows with tied keys (rows.h).
 *  6. A shard of a sharded call (shard.h; src/routing/sharded.ts) runs the row pass without column
 *     buffers, its part of the distributed column step (shardedSelect.ts's ladder counts) and the
 *     routing of its rows with ties by their global token index.
 *  So a wrong guess costs time, never exactness. Drivers are compiled once per common (m, k) and k
 *  ("specialisation on (m, k)" below), each as its own function, so that the networks unroll into
 *  registers and V8 optimises only the shape in use.
 *
 * Measured (README, "npm run bench: routing speed"; 1 December 2026, 18:34 UTC, idle 2 cores, CPU
 * time): at (16384, 64, 4) top-k 3.0 ms, BIP T = 4 10.7 ms, numpy 14.4 and 64 ms: 4.8x and 6.0x numpy,
 * BIP T = 4 3.6x our top-k and 4.7x the read floor; the targets (8x, 8x, 3x, 4x) are not met
 * there (an earlier, loaded run had BIP T = 4 at 2.94x our top-k); at (65536, 256, 8) BIP T = 4 is 9.1x
 * numpy and 2.7x the read floor. Where the time goes: the copy into wasm memory (0.45 ms), then each of
 * the T + 1 passes over the rows costs about one top-k call (the ~k + 2 survivors a row, not the read),
 * the first 1.7x that, the column steps ~0.1x each.
 */
#include "networks.h"
#include "select.h"
#include "state.h"
#include "rows.h"
#include "columns.h"

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
  CAP = 2 * R + 64; /* a compaction keeps R, so at least R + 64 pushes between compactions */
  if (CAP > n + 1) CAP = n + 1;
  CAPS = CAP + 1; /* the branch-free push stores before it counts */
  return setup_buffers();
}

/*
 * After the TypeScript side copied n*m scores to S contiguously: spreads the rows to the padded stride
 * MP (in place, last row first) and fills the padding with -inf.
 */
void prepare_scores(void) {
  if (MP == M) return;
  for (int i = N - 1; i >= 0; i--) {
    for (int j = M - 1; j >= 0; j--) S[(size_t)i * MP + j] = S[(size_t)i * M + j];
    for (int j = M; j < MP; j++) S[(size_t)i * MP + j] = -INFF;
  }
}

/*
 * The balancers' input check (validate.ts validateRouteInput): the flat index of the first score that is
 * NaN or +-inf, or negative when k > 1; -1 when there is none. Each driver makes it in its first pass
 * over the rows (group_floor's check) where it can, else here in one SIMD pass first, and returns its
 * result before any output is written.
 */
static v128_t negative_refused(void) { return K > 1 ? wasm_i32x4_splat(-1) : wasm_i32x4_splat(0); }

/* First bad score of row i (flat index), or -1. */
static int bad_in_row(int i) {
  const float *row = S + (size_t)i * MP;
  for (int j = 0; j < M; j++)
    if (!(row[j] - row[j] == 0) || (K > 1 && row[j] < 0)) return i * M + j;
  return -1;
}

/* The fused check's verdict on row i: group_floor's `bad` is only a hint, confirmed here on the row
 * (first bad score's flat index, or -1). */
static inline int confirmed_bad(v128_t bad, int i) { return wasm_v128_any_true(bad) ? bad_in_row(i) : -1; }

/* The check as its own pass (shapes whose first pass cannot make it). The padding is not checked. */
static int check_scores(void) {
  const v128_t neg = negative_refused();
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MP;
    v128_t bad = wasm_i32x4_splat(0);
    int v = 0;
    for (; (v + 1) * 4 <= M; v++) bad = wasm_v128_or(bad, bad_lanes(wasm_v128_load(row + 4 * v), neg));
    int any = wasm_v128_any_true(bad);
    for (int j = 4 * v; j < M; j++) any |= !(row[j] - row[j] == 0) || (K > 1 && row[j] < 0);
    if (any) return bad_in_row(i);
  }
  return -1;
}

/* ---------------------------------------------------------------- plain top-k */

/* Top-k of the scores per token (no shift): ids best first, ties to the lower id; weights; loads. */
ALWAYS int topk_plain_k(int K, int Mx) {
  const int NVx = (Mx + 3) >> 2, MPx = 4 * NVx;
  const int A = groups_for(K, NVx);
  const int fused = A && Mx == MPx;
  const v128_t neg = negative_refused();
  if (!fused) {
    int bad = check_scores();
    if (bad >= 0) return bad;
  }
  for (int j = 0; j < MP; j++) LOADS[j] = 0;
  const int NB = (K + 3) / 4;
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MPx;
    /* The group floor is an exact lower bound of the k-th largest score (no arithmetic on s). */
    float F = -INFF;
    if (fused) {
      v128_t bad;
      F = group_floor(row, ZERO32, NVx, A, K, 1, neg, &bad);
      int at = confirmed_bad(bad, i);
      if (at >= 0) return at;
    } else if (A) {
      F = group_floor(row, ZERO32, NVx, A, K, 0, neg, 0);
    }
    survivor_mask(row, ZERO32, NVx, F, MASK);
    v128_t B[MAXSLOTS / 4 + 1], I[MAXSLOTS / 4 + 1];
    for (int b = 0; b < NB; b++) {
      B[b] = wasm_f32x4_splat(-INFF);
      I[b] = wasm_i32x4_splat(-1);
    }
    /* Equal scores: the first inserted stays ahead, so insert in token i's rotated order (the tie rule, rows.h). */
    FOR_EACH_SURVIVOR_FROM(Mx, i % Mx, j, net32id_insert(B, I, NB, row[j], j));
    int ids[MAXSLOTS + 4];
    for (int b = 0; b < NB; b++) wasm_v128_store(ids + 4 * b, I[b]);
    write_route(K, i, row, ids);
  }
  return -1;
}

/* ---------------------------------------------------------------- routing only */

/* Max |SH_j| (the f32 prefilter's slack scale). */
ALWAYS double max_abs(const double *a) {
  double mx = 0;
  for (int j = 0; j < M; j++) mx = dabs(a[j]) > mx ? dabs(a[j]) : mx;
  return mx;
}

/* Top-k of s_ij + SH_j for every row from an f32 group floor (an exact lower bound, or the whole row). */
ALWAYS int route_rows_k(int K, int Mx) {
  const int NVx = (Mx + 3) >> 2, MPx = 4 * NVx;
  const int A = groups_for(K + 1, NVx);
  const int fused = A && Mx == MPx;
  const v128_t neg = negative_refused();
  if (!fused) {
    int bad = check_scores();
    if (bad >= 0) return bad;
  }
  const double shmax = max_abs(SH);
  for (int j = 0; j < MP; j++) LOADS[j] = 0;
  for (int j = 0; j < M; j++) SH32[j] = (float)SH[j];
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MPx;
    double F = -INF;
    if (A) {
      v128_t bad;
      float g = group_floor(row, SH32, NVx, A, K + 1, fused, neg, &bad);
      int at = fused ? confirmed_bad(bad, i) : -1;
      if (at >= 0) return at;
      F = (double)g - 1e-6 * (1.0 + dabs((double)g) + shmax);
    }
    survivor_mask(row, SH32, NVx, lower32(F, shmax), MASK);
    /* The id network's slot K holds the (k+1)-th largest of the mask, which must reach F (every expert
     * outside the mask is below F): then its top k is exact, from one network. */
    int L = gather_mask(Mx, row);
    if (L > K && route_list_if(K, Mx, i, row, L, K, F)) continue;
    route_list(K, i, row, gather_full(Mx, row));
  }
  return -1;
}

/* A floor guess's factor after a pass with `retries` failed rows: doubled above 1% of the rows, shrunk
 * below 0.2%, within [1/512, 1]. */
static void adapt(double *phi, int retries) {
  double rate = (double)retries / N;
  if (rate > 0.01) *phi = *phi * 2 > 1 ? 1 : *phi * 2;
  else if (rate < 0.002) *phi = *phi * 0.85 < 1.0 / 512 ? 1.0 / 512 : *phi * 0.85;
}

/* ---------------------------------------------------------------- the fused row pass */

/* Experts of MASK into KV/IDS with keys s_ij + SH_j, through a value network: the (K+1)-th largest. */
ALWAYS double gather_kplus1(int K, int Mx, const float *row, int *Lout) {
  v128_t B[MAXSLOTS / 2 + 1];
  const int NB = (K + 2) / 2;
  net64_clear(B, NB);
  int L = 0;
  FOR_EACH_SURVIVOR(Mx, j, {
    double key = (double)row[j] + SH[j];
    IDS[L] = j;
    KV[L] = key;
    L++;
    net64_insert(B, NB, key);
  });
  *Lout = L;
  return net64_slot(B, K);
}

/*
 * One dual iteration's row step (Algorithm 1, line "p") fused with the feeding of the column buffers.
 * t: the iteration (0: floors from group maxima); rho: the floor guess, delta: the proven one (keys
 * moved by at most delta since PRAW was computed). route: also write the routing with the current q
 * (route-then-update, on the first pass). Writes PRAW, P; fills BUF/CNT.
 */
ALWAYS int row_pass_k(int K, int Mx, int t, double rho, double delta, int truncP, int route) {
  const int NVx = (Mx + 3) >> 2, MPx = 4 * NVx;
  const int A = t == 0 ? groups_for(K + 1, NVx) : 0;
  const int fused = A && Mx == MPx;
  const v128_t neg = negative_refused();
  if (t == 0 && !fused) {
    int bad = check_scores();
    if (bad >= 0) return bad;
  }
  const double qscale = max_abs(Q);
  double umax = qscale;
  for (int j = 0; j < M; j++) {
    double u = -(double)U32[j];
    if (u > -INF && dabs(u) > umax) umax = dabs(u);
  }
  int retries = 0, full = 0;
  size_t seen = 0;
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MPx;
    double f = -INF;
    if (t == 0) {
      if (A) {
        v128_t bad;
        float g = group_floor(row, SH32, NVx, A, K + 1, fused, neg, &bad);
        int at = fused ? confirmed_bad(bad, i) : -1;
        if (at >= 0) return at;
        f = (double)g - 1e-6 * (1.0 + dabs((double)g) + qscale);
      }
    } else {
      double pr = PRAW[i];
      f = pr - rho - EPS * (1.0 + dabs(pr) + qscale);
    }
    survivor_mask(row, U32, NVx, lower32(f, umax), MASK);
    int L;
    double v = gather_kplus1(K, Mx, row, &L);
    int ok = L > K && v >= f;
    if (!ok && t > 0 && rho < delta) {
      retries++;
      double pr = PRAW[i];
      f = pr - delta - EPS * (1.0 + dabs(pr) + qscale);
      survivor_mask(row, U32, NVx, lower32(f, umax), MASK);
      v = gather_kplus1(K, Mx, row, &L);
      ok = L > K && v >= f;
    }
    if (!ok) {
      full++;
      L = gather_full(Mx, row);
      v = kplus1_value(K, L);
    }
    seen += (size_t)L;
    if (route) route_list(K, i, row, L);
    double p = truncP && v < 0 ? 0 : v;
    PRAW[i] = v;
    P[i] = p;
    for (int a = 0; a < L; a++) {
      int j = IDS[a];
      push(j, (double)row[j] - p);
    }
  }
  TUNE[TUNE_ROW_RETRY] += retries;
  TUNE[TUNE_ROW_FULL] += full;
  TUNE[TUNE_SURVIVORS] += (double)seen / N;
  if (t > 0) adapt(TUNE + TUNE_PHI + (t < 7 ? t : 7), retries);
  return -1;
}

/* ---------------------------------------------------------------- final routing */

/* Top-k of s_ij - q_j for every row, floors PRAW_i - rho verified (retry PRAW_i - delta, then in full). */
ALWAYS int route_pass_k(int K, int Mx, double rho, double delta) {
  const int NVx = (Mx + 3) >> 2, MPx = 4 * NVx;
  const double qscale = max_abs(Q);
  for (int j = 0; j < MP; j++) LOADS[j] = 0;
  int retries = 0, full = 0;
  for (int i = 0; i < N; i++) {
    const float *row = S + (size_t)i * MPx;
    double pr = PRAW[i];
    double f = pr - rho - EPS * (1.0 + dabs(pr) + qscale);
    int done = 0;
    for (int attempt = 0; attempt < 2 && !done; attempt++) {
      if (attempt == 1) {
        if (!(rho < delta)) break;
        retries++;
        f = pr - delta - EPS * (1.0 + dabs(pr) + qscale);
      }
      survivor_mask(row, SH32, NVx, lower32(f, qscale), MASK);
      int L = gather_mask(Mx, row);
      /* The k-th largest of the mask must reach the floor f (a lower bound of it for the whole row). */
      done = L >= K && route_list_if(K, Mx, i, row, L, K - 1, f);
    }
    if (!done) {
      full++;
      route_list(K, i, row, gather_full(Mx, row));
    }
  }
  TUNE[TUNE_ROUTE_RETRY] += retries;
  TUNE[TUNE_ROUTE_FULL] += full;
  adapt(TUNE + TUNE_PHI_ROUTE, retries);
  return -1;
}

/* ---------------------------------------------------------------- specialisation on (m, k) */

/*
 * Each driver is compiled once per common shape with k (and m) constants, so that clang unrolls the
 * networks into registers and the loops over a row: m in {16, 64, 256} with k in {1, 2, 4, 8}, then k
 * alone in {1, 2, 3, 4, 6, 8} with m from the global, then both from the globals. Measured at (16384,
 * 64, 4) (bench/profile-routing.ts, phase timers, one run, 1 December 2026): (m, k) constant made plain
 * top-k ~15% faster, the later row passes of BIP 8-18% and its final routing 4-8%.
 *
 * Every specialisation is its own wasm function (noinline thunks, not one switch with every copy
 * inlined into it): V8 first runs a module in its baseline compiler and optimises a function only once
 * it is hot, in the background, so a dispatcher holding a dozen inlined copies took 12-17 calls of BIP
 * T = 4 at (16384, 64, 4) to become fast (40-120 ms per call meanwhile, 12-20 ms after), while a single
 * small hot function is optimised within the first calls.
 */
#define NOINLINE __attribute__((noinline))
#define FOR_MK(X) X(1, 16) X(2, 16) X(4, 16) X(8, 16) X(1, 64) X(2, 64) X(4, 64) X(8, 64) X(1, 256) X(2, 256) X(4, 256) X(8, 256)
#define FOR_K(X) X(1) X(2) X(3) X(4) X(6) X(8)

/* Thunks of driver `name` (name##_k(K, Mx, ...)) for every shape, and its dispatcher's switch body:
 * params and args are the driver's parameter list and argument list, both in parentheses. */
#define UNPAREN(...) __VA_ARGS__
#define THUNK_MK(ret, name, params, args, k, m) \
  static NOINLINE ret name##_##k##_##m(UNPAREN params) { return name##_k(k, m UNPAREN args); }
#define THUNK_K(ret, name, params, args, k) \
  static NOINLINE ret name##_##k##_m(UNPAREN params) { return name##_k(k, M UNPAREN args); }
#define THUNK_ANY(ret, name, params, args) \
  static NOINLINE ret name##_any(UNPAREN params) { return name##_k(K, M UNPAREN args); }
#define CASE_MK(name, args, k, m) \
  case (m) * 64 + (k): return name##_##k##_##m args;
#define CASE_K(name, args, k) \
  case k: return name##_##k##_m args;

/* top-k: (m, k) */
#define TOPK_MK(k, m) THUNK_MK(int, topk_plain, (void), (), k, m)
#define TOPK_K(k) THUNK_K(int, topk_plain, (void), (), k)
FOR_MK(TOPK_MK)
FOR_K(TOPK_K)
THUNK_ANY(int, topk_plain, (void), ())
/* routing only (Loss-Free, evaluation calls): (m, k) */
#define ROUTE_ROWS_MK(k, m) THUNK_MK(int, route_rows, (void), (), k, m)
#define ROUTE_ROWS_K(k) THUNK_K(int, route_rows, (void), (), k)
FOR_MK(ROUTE_ROWS_MK)
FOR_K(ROUTE_ROWS_K)
THUNK_ANY(int, route_rows, (void), ())
/* the dual passes: (m, k) */
#define ROW_PASS_PARAMS (int t, double rho, double delta, int truncP, int route)
#define ROW_PASS_ARGS (, t, rho, delta, truncP, route)
#define ROW_PASS_MK(k, m) THUNK_MK(int, row_pass, ROW_PASS_PARAMS, ROW_PASS_ARGS, k, m)
#define ROW_PASS_K(k) THUNK_K(int, row_pass, ROW_PASS_PARAMS, ROW_PASS_ARGS, k)
FOR_MK(ROW_PASS_MK)
FOR_K(ROW_PASS_K)
THUNK_ANY(int, row_pass, ROW_PASS_PARAMS, ROW_PASS_ARGS)
#define ROUTE_PASS_PARAMS (double rho, double delta)
#define ROUTE_PASS_ARGS (, rho, delta)
#define ROUTE_PASS_MK(k, m) THUNK_MK(int, route_pass, ROUTE_PASS_PARAMS, ROUTE_PASS_ARGS, k, m)
#define ROUTE_PASS_K(k) THUNK_K(int, route_pass, ROUTE_PASS_PARAMS, ROUTE_PASS_ARGS, k)
FOR_MK(ROUTE_PASS_MK)
FOR_K(ROUTE_PASS_K)
THUNK_ANY(int, route_pass, ROUTE_PASS_PARAMS, ROUTE_PASS_ARGS)

/* Top-k of the scores per token; returns the input check's result (-1: scores fine, nothing else done otherwise). */
int topk_plain(void) {
#define C_MK(k, m) CASE_MK(topk_plain, (), k, m)
#define C_K(k) CASE_K(topk_plain, (), k)
  switch (M * 64 + K) { FOR_MK(C_MK) default: break; }
  switch (K) { FOR_K(C_K) default: return topk_plain_any(); }
#undef C_MK
#undef C_K
}
static int route_rows(void) {
#define C_MK(k, m) CASE_MK(route_rows, (), k, m)
#define C_K(k) CASE_K(route_rows, (), k)
  switch (M * 64 + K) { FOR_MK(C_MK) default: break; }
  switch (K) { FOR_K(C_K) default: return route_rows_any(); }
#undef C_MK
#undef C_K
}
static int row_pass(int t, double rho, double delta, int truncP, int route) {
#define C_MK(k, m) CASE_MK(row_pass, (t, rho, delta, truncP, route), k, m)
#define C_K(k) CASE_K(row_pass, (t, rho, delta, truncP, route), k)
  switch (M * 64 + K) { FOR_MK(C_MK) default: break; }
  switch (K) { FOR_K(C_K) default: return row_pass_any(t, rho, delta, truncP, route); }
#undef C_MK
#undef C_K
}
static int route_pass(double rho, double delta) {
#define C_MK(k, m) CASE_MK(route_pass, (rho, delta), k, m)
#define C_K(k) CASE_K(route_pass, (rho, delta), k)
  switch (M * 64 + K) { FOR_MK(C_MK) default: break; }
  switch (K) { FOR_K(C_K) default: return route_pass_any(rho, delta); }
#undef C_MK
#undef C_K
}

/* ---------------------------------------------------------------- exported drivers */

/* Routing only: top-k of s_ij + SH_j (SH written by the caller); returns the input check's result. */
int route_shifted(void) { return route_rows(); }

/* max_j |Q_j - X_j|. */
static double moved_since(const double *x) {
  double d = 0;
  for (int j = 0; j < M; j++) {
    double y = dabs(Q[j] - x[j]);
    d = y > d ? y : d;
  }
  return d;
}

/* Column thresholds and the row prefilter for iteration t (step 3 of the design), and empty buffers. */
static void set_thresholds(int t, int truncQ, double delta) {
  const int first = TUNE[TUNE_READY] == 0;
  const double psi = t > 0 ? TUNE[TUNE_PSI + (t < 7 ? t : 7)] : 0;
  for (int j = 0; j < M; j++) {
    double th, lower = -INF;
    double q = Q[j];
    if (R > N) {
      th = INF; /* the capacity cannot bind: nothing to collect */
    } else if (t == 0) {
      th = first ? -INF : q - (2.0 * TUNE[TUNE_H0 + j] + 1e-9 + EPS * (1.0 + dabs(q)));
    } else if (VR[j] == -INF) {
      th = -INF; /* only known to be < 0 (truncating): collect from 0 */
    } else {
      double vr = VR[j];
      double g = 2.0 * dabs(q - QOLD[j]) + psi * delta;
      if (g > delta) g = delta;
      th = vr - g - EPS * (1.0 + dabs(vr));
      lower = vr - delta - EPS * (1.0 + dabs(vr) + delta);
    }
    if (truncQ && th < 0) th = 0;
    THR[j] = th;
    LOWER[j] = lower;
    CNT[j] = 0;
    double u = q < th ? q : th;
    SH[j] = -q;
    SH32[j] = (float)SH[j];
    U32[j] = (float)-u;
  }
}

/*
 * T dual iterations of Algorithm 1 from the q in Q (warm start), updating Q, and the routing: before
 * the iterations with the incoming q (flags & 4: route-then-update, Quantile) or after them with the
 * final q (update-then-route). flags & 1: truncate p; flags & 2: truncate q. TUNE carries the guesses'
 * adaptation from call to call (speed only). Returns the input check's result (-1: fine; else the call
 * stopped before any result, and the caller throws).
 */
int dual_route(int T, int flags) {
  const int truncP = flags & 1, truncQ = flags & 2, routeFirst = (flags & 4) != 0;
  for (int x = TUNE_ROW_RETRY; x < TUNE_FIXED; x++) TUNE[x] = 0;
  if (TUNE[TUNE_READY] == 0) {
    for (int x = 1; x <= 7; x++) {
      TUNE[TUNE_PHI + x] = 0.25;
      TUNE[TUNE_PSI + x] = 0.0625;
    }
    TUNE[TUNE_PHI_ROUTE] = 0.25;
    for (int j = 0; j < MP; j++) TUNE[TUNE_H0 + j] = 0;
  }
  for (int j = 0; j < MP; j++) LOADS[j] = 0;
  for (int j = 0; j < M; j++) SH[j] = -Q[j];
  if (T == 0) return route_rows();
  for (int j = 0; j < M; j++) QIN[j] = QOLD[j] = Q[j];
  double delta = 0;
  for (int t = 0; t < T; t++) {
    if (t > 0) delta = moved_since(QROW);
    set_thresholds(t, truncQ, delta);
    TIC(row);
    int bad = row_pass(t, t > 0 ? TUNE[TUNE_PHI + (t < 7 ? t : 7)] * delta : 0, delta, truncP, routeFirst && t == 0);
    if (bad >= 0) return bad;
    TOC(row, 2 * (t < 6 ? t : 6));
    for (int j = 0; j < M; j++) QROW[j] = QOLD[j] = Q[j];
    TIC(col);
    int fallbacks = column_select(truncQ);
    TOC(col, 2 * (t < 6 ? t : 6) + 1);
    if (t > 0) {
      double *psi = TUNE + TUNE_PSI + (t < 7 ? t : 7);
      *psi = fallbacks ? (*psi * 2 > 1 ? 1 : *psi * 2) : (*psi * 0.9 < 1.0 / 512 ? 1.0 / 512 : *psi * 0.9);
    } else {
      /* H0_j: how far q_j fell in the first iteration, an average that never lags the latest fall. */
      for (int j = 0; j < M; j++) {
        double fall = QIN[j] - Q[j];
        if (!(fall > 0)) fall = 0;
        double e = 0.8 * TUNE[TUNE_H0 + j] + 0.2 * fall;
        TUNE[TUNE_H0 + j] = fall > e ? fall : e;
      }
    }
  }
  TUNE[TUNE_READY] = 1;
  TUNE[TUNE_SURVIVORS] /= T;
  if (!routeFirst) {
    for (int j = 0; j < M; j++) {
      SH[j] = -Q[j];
      SH32[j] = (float)SH[j];
    }
    double dR = moved_since(QROW);
    TIC(route);
    route_pass(TUNE[TUNE_PHI_ROUTE] * dR, dR);
    TOC(route, 15);
  }
  return -1;
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

/* ---------------------------------------------------------------- a shard of a sharded call */

#include "shard.h"
