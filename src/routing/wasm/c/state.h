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
static int CAP, CAPS; /* column buffer: compacted when it holds CAP keys; CAPS = CAP + 1 slots */
static int ROW0;      /* the routing's tie rule counts rows from this token index (a shard's first; else 0) */

static float *S;                    /* [N*MP] scores, row-major, padded with -inf */
static double *SH;                  /* [MP] shift: key_ij = s_ij + sh_j (-q for BIP/Quantile, +b for Loss-Free) */
static float *SH32;                 /* [MP] f32 copy of SH for the prefilters (padding 0) */
static float *U32;                  /* [MP] f32 of -min(q_j, thr_j): the row pass's prefilter shift */
static float *ZERO32;               /* [MP] zeros */
static double *Q, *QIN, *QROW, *QOLD; /* [MP] q (in/out), at the call's start, at the last row pass, before the last column step */
static double *VR;                  /* [MP] last column value before truncation (-inf: known only to be < 0) */
static double *THR, *LOWER;         /* [MP] column thresholds thr_j, proven lower bounds of the next column value */
static int32_t *CNT;                /* [MP] keys held in column j's buffer */
static double *BUF;                 /* [MP*CAPS] column buffers: keys s_ij - p_i >= thr_j */
static double *PRAW, *P;            /* [N] (k+1)-th largest key, p (truncated if asked) */
static int32_t *EXPERTS;            /* [N*K] */
static float *WEIGHTS;              /* [N*K] */
static int32_t *LOADS;              /* [MP] */
static double *COLA, *COLB;         /* [N+4] column keys and selection scratch */
static double *KV;                  /* [MP] keys of one row's gathered experts */
static int32_t *IDS;                /* [MP] their ids */
static uint64_t *MASK;              /* [MP/64+1] survivor bits of one row */

/* Tuning in and statistics out (speed only, never the result): TUNE_* in kernels.c; [TUNE_H0 + j]
 * per expert. The balancer keeps its copy between calls (kernels.ts KernelTuning). */
#define TUNE_READY 0          /* 1 once a dual call has run: the slots below hold its adaptations */
#define TUNE_PHI 0            /* + t (1..7): row floor guess of pass t, as a fraction of the proven bound */
#define TUNE_PHI_ROUTE 8      /* the same for the final routing */
#define TUNE_PSI 8            /* + t (1..7): column threshold guess of iteration t, same */
#define TUNE_ROW_RETRY 16     /* statistics of the last call: rows whose guessed floor failed */
#define TUNE_ROW_FULL 17      /* rows computed in full */
#define TUNE_COL_FULL 18      /* columns recomputed from the scores */
#define TUNE_COMPACTIONS 19   /* column buffer compactions */
#define TUNE_ROUTE_RETRY 20   /* final routing: guessed floor failed */
#define TUNE_ROUTE_FULL 21    /* final routing: rows in full */
#define TUNE_TIES 22          /* rows routed by the scalar tie rule */
#define TUNE_SURVIVORS 23     /* experts looked at per row and pass */
#define TUNE_H0 32            /* + j: how far q_j fell in the first iteration of recent calls */
#define TUNE_FIXED 32
static double *TUNE; /* [TUNE_FIXED + MP] */
/* Offsets of the buffers the TypeScript side reads and writes. */
int32_t TABLE[16];

static int setup_buffers(void) {
  arena_reset();
  size_t n = (size_t)N, mp = (size_t)MP;
  S = take(n * mp * 4);
  SH = take(mp * 8);
  SH32 = take(mp * 4);
  U32 = take(mp * 4);
  ZERO32 = take(mp * 4);
  Q = take(mp * 8);
  QIN = take(mp * 8);
  QROW = take(mp * 8);
  QOLD = take(mp * 8);
  VR = take(mp * 8);
  THR = take(mp * 8);
  LOWER = take(mp * 8);
  CNT = take(mp * 4);
  BUF = take(mp * (size_t)CAPS * 8);
  PRAW = take(n * 8);
  P = take(n * 8);
  EXPERTS = take(n * K * 4);
  WEIGHTS = take(n * K * 4);
  LOADS = take(mp * 4);
  COLA = take((n + 4) * 8);
  COLB = take((n + 4) * 8);
  KV = take(mp * 8);
  IDS = take(mp * 4);
  TUNE = take((TUNE_FIXED + mp) * 8);
  MASK = take((mp / 64 + 2) * 8);
  if (!MASK) return 0;
  for (int j = 0; j < MP; j++) {
    ZERO32[j] = 0;
    SH[j] = 0;
    SH32[j] = 0;
    U32[j] = 0;
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
