/*
 * Shape and buffers of one call, laid out by setup(n, m, k, c). Rows are padded to MP = 4*ceil(m/4)
 * floats with -inf, so every row is a whole number of f32x4 vectors and the padding never enters a
 * top-k (every real key is finite and k < m).
 */
#ifndef MOE_STATE_H
#define MOE_STATE_H
#include <stdint.h>
#include "memory.h"

static int N, M, MP, NV, K, C, R;
static size_t CAND_CAP; /* candidates kept per call, all rows together */
static size_t arena_mark; /* end of the per-shape buffers; per-call blocks follow */

static float *S;                    /* [N*MP] scores, row-major, padded with -inf */
static double *SH;                  /* [MP] shift: key_ij = s_ij + sh_j (-q for BIP/Quantile, +b for Loss-Free) */
static float *SH32;                 /* [MP] f32 copy of SH for the prefilters (padding 0) */
static float *ZERO32;               /* [MP] zeros */
static double *Q, *Q0, *QP;         /* [MP] dual variable q (in/out), its value when the candidates were built, at the last row step */
static double *PRAW, *P, *FLO;      /* [N] (k+1)-th largest key, p (truncated if asked), candidate floor f_i */
static int32_t *EXPERTS;            /* [N*K] */
static float *WEIGHTS;              /* [N*K] */
static int32_t *LOADS;              /* [MP] */
static int32_t *RCNT;               /* [N] candidates of row i (-1: an exception row, no candidates kept) */
static int32_t *ROFF;               /* [N] where row i's candidates start in RJ/RS */
static int32_t *EXC;                /* [N] exception rows: recomputed in full by every step */
static int NEXC;
static float *EXT;                  /* [MP*NEXC] the exception rows' scores, transposed (per-call block) */
static float *ST;                   /* [MP*N] all scores transposed, made on a call's first full column (per-call block) */
static int32_t *RJ;                 /* [CAND_CAP+MP] candidate expert ids, rows one after another */
static float *RS;                   /* [CAND_CAP+MP] their scores */
static int32_t *CSTART, *CFILL;     /* [MP+1] column lists: start offsets, fill cursor */
static int32_t *CI;                 /* [CAND_CAP] column lists: rows */
static float *CS;                   /* [CAND_CAP] column lists: scores */
static double *COLA, *COLB;         /* [N+4] column keys and selection scratch */
static double *KV;                  /* [MP] keys of one row's gathered experts */
static int32_t *IDS;                /* [MP] their ids */
static uint64_t *MASK;              /* [MP/64+1] survivor bits of one row */

/* Tuning in and statistics out (speed only, never the result): see TUNE_* in kernels.c. */
double TUNE[16];
/* Offsets of the buffers the TypeScript side reads and writes. */
int32_t TABLE[16];

static int setup_buffers(void) {
  arena_reset();
  /* + MP: the branch-free candidate writer stores every gathered key before it keeps or drops it */
  size_t n = (size_t)N, mp = (size_t)MP, cand = CAND_CAP + mp + 8;
  S = take(n * mp * 4);
  SH = take(mp * 8);
  SH32 = take(mp * 4);
  ZERO32 = take(mp * 4);
  Q = take(mp * 8);
  Q0 = take(mp * 8);
  QP = take(mp * 8);
  PRAW = take(n * 8);
  P = take(n * 8);
  FLO = take(n * 8);
  EXPERTS = take(n * K * 4);
  WEIGHTS = take(n * K * 4);
  LOADS = take(mp * 4);
  RCNT = take(n * 4);
  ROFF = take(n * 4);
  EXC = take(n * 4);
  RJ = take(cand * 4);
  RS = take(cand * 4);
  CSTART = take((mp + 1) * 4);
  CFILL = take((mp + 1) * 4);
  CI = take(cand * 4);
  CS = take(cand * 4);
  COLA = take((n + 4) * 8);
  COLB = take((n + 4) * 8);
  KV = take(mp * 8);
  IDS = take(mp * 4);
  MASK = take((mp / 64 + 2) * 8);
  if (!MASK) return 0;
  arena_mark = arena_top;
  for (int j = 0; j < MP; j++) {
    ZERO32[j] = 0;
    SH[j] = 0;
    SH32[j] = 0;
    Q[j] = 0;
  }
  TABLE[0] = (int32_t)(size_t)S;
  TABLE[1] = (int32_t)(size_t)SH;
  TABLE[2] = (int32_t)(size_t)Q;
  TABLE[3] = (int32_t)(size_t)EXPERTS;
  TABLE[4] = (int32_t)(size_t)WEIGHTS;
  TABLE[5] = (int32_t)(size_t)LOADS;
  TABLE[6] = (int32_t)(size_t)TUNE;
  return 1;
}

#endif
