/*
 * Model kernels in WebAssembly SIMD, run directly on TensorFlow.js's wasm heap: the module imports the
 * backend's memory, so every pointer below is a tensor's byte offset in that heap (no copies). The
 * module has no data segment and its functions use no shadow stack (scripts/build-model-wasm.sh checks
 * both), so instantiating it writes nothing into the heap it shares.
 *
 * Each kernel is the SIMD form of a TypeScript reference that stays the cpu backend's path and the test
 * reference (test/model-wasm.test.ts):
 *   ce_rows        src/model/loss.ts  softmaxCrossEntropyInto (and kernels.ts's transposed gradient)
 *   swiglu         src/model/swiglu.ts swigluInto
 *   swiglu_grad    src/model/swiglu.ts swigluGradInto
 *   attn_fwd, attn_bwd   layers.ts's rope + attention.ts attentionCore (the batched tfjs form in the tests)
 */
#include <wasm_simd128.h>

typedef v128_t f4;

#define SPLAT(x) wasm_f32x4_splat(x)

/*
 * e^(x + dx) for x <= 0 and a tiny correction dx, four lanes: x = k ln2 + r with k = round(x log2 e),
 * |r| <= ln2/2 (ln2 split in a high and a low part so that r is exact; dx joins r), e^r by Cephes expf's
 * polynomial (relative error < 2e-7 on that range), times 2^k built in the exponent bits. Below -87
 * (e^x under float32's smallest normal) gives 0.
 */
static inline f4 exp_nonpos_dx(f4 x, f4 dx) {
  const f4 lo = SPLAT(-87.0f);
  f4 under = wasm_f32x4_lt(x, lo);
  x = wasm_f32x4_max(x, lo);
  f4 k = wasm_f32x4_nearest(wasm_f32x4_mul(x, SPLAT(1.44269504088896341f)));
  f4 r = wasm_f32x4_sub(x, wasm_f32x4_mul(k, SPLAT(0.693359375f)));
  r = wasm_f32x4_add(r, wasm_f32x4_add(wasm_f32x4_mul(k, SPLAT(2.12194440e-4f)), dx));
  f4 p = SPLAT(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), SPLAT(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), SPLAT(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), SPLAT(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), SPLAT(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), SPLAT(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), wasm_f32x4_add(r, SPLAT(1.0f)));
  f4 pow2 = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(k), wasm_i32x4_splat(127)), 23);
  return wasm_v128_andnot(wasm_f32x4_mul(p, pow2), under);
}

static inline f4 exp_nonpos(f4 x) { return exp_nonpos_dx(x, SPLAT(0.0f)); }

/*
 * e^(a - b) for a <= b with a - b exact (a float32 difference loses up to half an ulp of the result's
 * magnitude, ~1e-6 relative in e^(a - b) at a - b ~ -14; the TypeScript loop subtracts in double): the
 * rounded difference s and its error by Knuth's two-sum.
 */
static inline f4 exp_diff(f4 a, f4 b) {
  f4 nb = wasm_f32x4_neg(b);
  f4 s = wasm_f32x4_add(a, nb);
  f4 bb = wasm_f32x4_sub(s, a);
  f4 err = wasm_f32x4_add(wasm_f32x4_sub(a, wasm_f32x4_sub(s, bb)), wasm_f32x4_sub(nb, bb));
  return exp_nonpos_dx(s, err);
}


/* The logistic sigmoid 1 / (1 + e^-g) through exp_nonpos on either side of 0 (as fastMath.ts). */
static inline f4 sigmoid4(f4 g) {
  f4 e = exp_nonpos(wasm_f32x4_neg(wasm_f32x4_abs(g)));
  f4 one = SPLAT(1.0f);
  f4 den = wasm_f32x4_add(one, e);
  return wasm_v128_bitselect(wasm_f32x4_div(one, den), wasm_f32x4_div(e, den), wasm_f32x4_ge(g, SPLAT(0.0f)));
}

/* acc (two float64 lanes) += the four lanes of e, in double precision like the TypeScript sum. */
static inline void sum_f64(f4 e, v128_t *acc) {
  *acc = wasm_f64x2_add(*acc, wasm_f64x2_promote_low_f32x4(e));
  *acc = wasm_f64x2_add(*acc, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(e, e, 2, 3, 2, 3)));
}

/*
 * Softmax cross-entropy of rows [r0, r1) of z [N, V]: writes g = (softmax(z) - onehot(y)) / N and, per
 * row, stats[2i] = max_j z_ij, stats[2i+1] = sum_j e^(z_ij - max) (the caller adds max + log(sum) - z_iy
 * to the loss). Returns -1 when every row is fine, else the first bad row (non-finite logits or a target
 * outside [0, V)), so that the caller can name it.
 */
int ce_rows(const float *z, const int *y, int N, int V, float *g, double *stats) {
  const float invN = 1.0f / (float)N;
  for (int i = 0; i < N; i++) {
    const float *zi = z + (long)i * V;
    float *gi = g + (long)i * V;
    int j = 0;
    f4 m4 = SPLAT(-__builtin_inff());
    for (; j + 4 <= V; j += 4) m4 = wasm_f32x4_max(m4, wasm_v128_load(zi + j));
    float max = wasm_f32x4_extract_lane(m4, 0);
    for (int l = 1; l < 4; l++) {
      float v = l == 1 ? wasm_f32x4_extract_lane(m4, 1) : l == 2 ? wasm_f32x4_extract_lane(m4, 2) : wasm_f32x4_extract_lane(m4, 3);
      max = (v > max || v != v) ? v : max;
    }
    for (; j < V; j++) max = (zi[j] > max || zi[j] != zi[j]) ? zi[j] : max;
    int target = y[i];
    if (!(max - max == 0.0f) || target < 0 || target >= V) return i;
    f4 mx = SPLAT(max);
    v128_t acc = wasm_f64x2_splat(0.0);
    for (j = 0; j + 4 <= V; j += 4) {
      f4 e = exp_diff(wasm_v128_load(zi + j), mx);
      wasm_v128_store(gi + j, e);
      sum_f64(e, &acc);
    }
    double sum = wasm_f64x2_extract_lane(acc, 0) + wasm_f64x2_extract_lane(acc, 1);
    for (; j < V; j++) {
      gi[j] = wasm_f32x4_extract_lane(exp_diff(SPLAT(zi[j]), mx), 0);
      sum += gi[j];
    }
    stats[2 * i] = max;
    stats[2 * i + 1] = sum;
    const float scale = (float)(1.0 / (sum * N));
    f4 s4 = SPLAT(scale);
    for (j = 0; j + 4 <= V; j += 4) wasm_v128_store(gi + j, wasm_f32x4_mul(wasm_v128_load(gi + j), s4));
    for (; j < V; j++) gi[j] *= scale;
    gi[target] -= invN;
  }
  return -1;
}

/*
 * gt [V, N] = transpose of g [N, V], by 4 x 4 SIMD blocks in tiles of 128 rows x 16 columns (a tile
 * writes 16 runs of 512 bytes; bands of 16 whole rows made each store of a 2048 x 4096 transpose touch
 * another page: 47 ms there, 32 ms tiled; 32 x 32 tiles: 42 ms).
 */
void transpose(const float *g, int N, int V, float *gt) {
  if (N % 4 != 0 || V % 4 != 0) {
    for (int i = 0; i < N; i++)
      for (int j = 0; j < V; j++) gt[(long)j * N + i] = g[(long)i * V + j];
    return;
  }
  for (int i0 = 0; i0 < N; i0 += 128) {
    const int i1 = i0 + 128 < N ? i0 + 128 : N;
    for (int j0 = 0; j0 < V; j0 += 16) {
      const int j1 = j0 + 16 < V ? j0 + 16 : V;
      for (int i = i0; i < i1; i += 4) {
        for (int j = j0; j < j1; j += 4) {
          f4 a = wasm_v128_load(g + (long)i * V + j);
          f4 b = wasm_v128_load(g + (long)(i + 1) * V + j);
          f4 c = wasm_v128_load(g + (long)(i + 2) * V + j);
          f4 d = wasm_v128_load(g + (long)(i + 3) * V + j);
          f4 ab0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5);
          f4 ab1 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
          f4 cd0 = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5);
          f4 cd1 = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);
          wasm_v128_store(gt + (long)j * N + i, wasm_i32x4_shuffle(ab0, cd0, 0, 1, 4, 5));
          wasm_v128_store(gt + (long)(j + 1) * N + i, wasm_i32x4_shuffle(ab0, cd0, 2, 3, 6, 7));
          wasm_v128_store(gt + (long)(j + 2) * N + i, wasm_i32x4_shuffle(ab1, cd1, 0, 1, 4, 5));
          wasm_v128_store(gt + (long)(j + 3) * N + i, wasm_i32x4_shuffle(ab1, cd1, 2, 3, 6, 7));
        }
      }
    }
  }
}

/* a [n, h] = silu(g) * u for gu = [g | u] [n, 2h]. */
void swiglu(const float *gu, int n, int h, float *a) {
  for (int i = 0; i < n; i++) {
    const float *g = gu + (long)i * 2 * h;
    const float *u = g + h;
    float *o = a + (long)i * h;
    int j = 0;
    for (; j + 4 <= h; j += 4) {
      f4 gv = wasm_v128_load(g + j);
      wasm_v128_store(o + j, wasm_f32x4_mul(wasm_f32x4_mul(gv, sigmoid4(gv)), wasm_v128_load(u + j)));
    }
    for (; j < h; j++) o[j] = g[j] * wasm_f32x4_extract_lane(sigmoid4(SPLAT(g[j])), 0) * u[j];
  }
}

/* dgu [n, 2h] from gu and da [n, h]: dg = da u s (1 + g (1 - s)), du = da g s, s = sigmoid(g). */
void swiglu_grad(const float *gu, const float *da, int n, int h, float *dgu) {
  const f4 one = SPLAT(1.0f);
  for (int i = 0; i < n; i++) {
    const float *g = gu + (long)i * 2 * h;
    const float *u = g + h;
    const float *d = da + (long)i * h;
    float *dg = dgu + (long)i * 2 * h;
    float *du = dg + h;
    int j = 0;
    for (; j + 4 <= h; j += 4) {
      f4 gv = wasm_v128_load(g + j);
      f4 uv = wasm_v128_load(u + j);
      f4 dv = wasm_v128_load(d + j);
      f4 s = sigmoid4(gv);
      f4 ds = wasm_f32x4_mul(dv, s);
      wasm_v128_store(dg + j, wasm_f32x4_mul(wasm_f32x4_mul(ds, uv), wasm_f32x4_add(one, wasm_f32x4_mul(gv, wasm_f32x4_sub(one, s)))));
      wasm_v128_store(du + j, wasm_f32x4_mul(ds, gv));
    }
    for (; j < h; j++) {
      float s = wasm_f32x4_extract_lane(sigmoid4(SPLAT(g[j])), 0);
      dg[j] = d[j] * s * u[j] * (1 + g[j] * (1 - s));
      du[j] = d[j] * s * g[j];
    }
  }
}

/*
 * Causal attention per (sequence, head), O = softmax(Q Kᵀ scale + causal mask) V, read straight from the
 * fused q|k|v projection in its token-major layout, so no splits or transposes around the kernel. The
 * entries j > i of the mask are skipped, not computed and masked (half the products).
 */

/* out[j] = scale * (a . rows[j]) for j < n, rows[j] = base + j*stride, length hd; four rows at a time. */
static inline void dots(const float *a, const float *base, int stride, int n, int hd, float scale, float *out) {
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *r0 = base + (long)j * stride;
    const float *r1 = r0 + stride;
    const float *r2 = r1 + stride;
    const float *r3 = r2 + stride;
    f4 a0 = SPLAT(0.0f), a1 = SPLAT(0.0f), a2 = SPLAT(0.0f), a3 = SPLAT(0.0f);
    for (int c = 0; c < hd; c += 4) {
      f4 x = wasm_v128_load(a + c);
      a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(x, wasm_v128_load(r0 + c)));
      a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(x, wasm_v128_load(r1 + c)));
      a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(x, wasm_v128_load(r2 + c)));
      a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(x, wasm_v128_load(r3 + c)));
    }
    /* Lane sums of a0..a3 as one vector: a 4 x 4 transpose folded into adds. */
    f4 t0 = wasm_f32x4_add(wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7));
    f4 t1 = wasm_f32x4_add(wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5), wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7));
    f4 s = wasm_f32x4_add(wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5), wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7));
    wasm_v128_store(out + j, wasm_f32x4_mul(s, SPLAT(scale)));
  }
  for (; j < n; j++) {
    const float *r = base + (long)j * stride;
    f4 acc = SPLAT(0.0f);
    for (int c = 0; c < hd; c += 4) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(a + c), wasm_v128_load(r + c)));
    f4 t = wasm_f32x4_add(acc, wasm_i32x4_shuffle(acc, acc, 2, 3, 0, 1));
    t = wasm_f32x4_add(t, wasm_i32x4_shuffle(t, t, 1, 0, 3, 2));
    out[j] = wasm_f32x4_extract_lane(t, 0) * scale;
  }
}

/*
 * out[c] = sum_{j < n} w[j*ws] * rows[j][c] for c < hd (out overwritten), rows[j] = base + j*stride; 16
 * columns at a time in registers. ws = 1: a row of weights; ws = T: a column (the transposed products).
 */
static inline void combine(const float *w, int ws, const float *base, int stride, int n, int hd, float *out) {
  int c = 0;
  for (; c + 16 <= hd; c += 16) {
    f4 a0 = SPLAT(0.0f), a1 = SPLAT(0.0f), a2 = SPLAT(0.0f), a3 = SPLAT(0.0f);
    const float *r = base + c;
    for (int j = 0; j < n; j++, r += stride) {
      f4 x = wasm_v128_load32_splat(w + (long)j * ws);
      a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(x, wasm_v128_load(r)));
      a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(x, wasm_v128_load(r + 4)));
      a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(x, wasm_v128_load(r + 8)));
      a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(x, wasm_v128_load(r + 12)));
    }
    wasm_v128_store(out + c, a0);
    wasm_v128_store(out + c + 4, a1);
    wasm_v128_store(out + c + 8, a2);
    wasm_v128_store(out + c + 12, a3);
  }
  for (; c < hd; c += 4) {
    f4 a0 = SPLAT(0.0f);
    const float *r = base + c;
    for (int j = 0; j < n; j++, r += stride) a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load32_splat(w + (long)j * ws), wasm_v128_load(r)));
    wasm_v128_store(out + c, a0);
  }
}

/*
 * Rotary embedding (rotate-half layout, layers.ts makeAttnConsts) of T rows x (row t at x + t*ld, hd
 * values) into out [T, hd], with cos and sin [T, hd]; c < hd/2:
 *   y_c = x_c cos_c - x_(c+hd/2) sin_c        y_(c+hd/2) = x_(c+hd/2) cos_(c+hd/2) + x_c sin_(c+hd/2)
 */
static void rope_rows(const float *x, int ld, const float *cs, const float *sn, int T, int hd, float *out) {
  const int half = hd / 2;
  for (int t = 0; t < T; t++) {
    const float *xr = x + (long)t * ld;
    const float *co = cs + (long)t * hd;
    const float *si = sn + (long)t * hd;
    float *y = out + (long)t * hd;
    for (int c = 0; c < half; c += 4) {
      f4 x1 = wasm_v128_load(xr + c);
      f4 x2 = wasm_v128_load(xr + c + half);
      wasm_v128_store(y + c, wasm_f32x4_sub(wasm_f32x4_mul(x1, wasm_v128_load(co + c)), wasm_f32x4_mul(x2, wasm_v128_load(si + c))));
      wasm_v128_store(y + c + half, wasm_f32x4_add(wasm_f32x4_mul(x2, wasm_v128_load(co + c + half)), wasm_f32x4_mul(x1, wasm_v128_load(si + c + half))));
    }
  }
}

/* Its gradient: dx (row t at dx + t*ld) from dy [T, hd]: dx_c = dy_c cos_c + dy_(c+h) sin_(c+h), dx_(c+h) = dy_(c+h) cos_(c+h) - dy_c sin_c. */
static void rope_rows_grad(const float *dy, const float *cs, const float *sn, int T, int hd, float *dx, int ld) {
  const int half = hd / 2;
  for (int t = 0; t < T; t++) {
    const float *g = dy + (long)t * hd;
    const float *co = cs + (long)t * hd;
    const float *si = sn + (long)t * hd;
    float *o = dx + (long)t * ld;
    for (int c = 0; c < half; c += 4) {
      f4 g1 = wasm_v128_load(g + c);
      f4 g2 = wasm_v128_load(g + c + half);
      wasm_v128_store(o + c, wasm_f32x4_add(wasm_f32x4_mul(g1, wasm_v128_load(co + c)), wasm_f32x4_mul(g2, wasm_v128_load(si + c + half))));
      wasm_v128_store(o + c + half, wasm_f32x4_sub(wasm_f32x4_mul(g2, wasm_v128_load(co + c + half)), wasm_f32x4_mul(g1, wasm_v128_load(si + c))));
    }
  }
}

/*
 * Forward, from the fused projection qkv [B*T, 3d] (row b*T + t = [q | k | v], head h at columns
 * h*hd of each part, d = H*hd), rotary positions applied to q and k here: o [B*T, d] and p [B*H, T, T]
 * (the softmax, zero above the diagonal; the gradient reads it). scr: 2*T*hd floats. hd % 8 == 0.
 *   p_ij = softmax_j(scale rope(q)_i . rope(k)_j), j <= i        o_i = sum_j p_ij v_j
 */
void attn_fwd(const float *qkv, const float *cs, const float *sn, int B, int T, int H, int hd, float scale, float *o, float *p, float *scr) {
  const int d = H * hd;
  const int ld = 3 * d;
  float *qr = scr;
  float *kr = scr + (long)T * hd;
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < H; h++) {
      const float *x = qkv + (long)b * T * ld + (long)h * hd;
      const float *v = x + 2 * d;
      float *ob = o + (long)b * T * d + (long)h * hd;
      float *ph = p + ((long)b * H + h) * T * T;
      rope_rows(x, ld, cs, sn, T, hd, qr);
      rope_rows(x + d, ld, cs, sn, T, hd, kr);
      for (int i = 0; i < T; i++) {
        float *pi = ph + (long)i * T;
        const int n = i + 1;
        dots(qr + (long)i * hd, kr, hd, n, hd, scale, pi);
        float max = pi[0];
        for (int j = 1; j < n; j++) max = pi[j] > max ? pi[j] : max;
        f4 mx = SPLAT(max);
        f4 acc = SPLAT(0.0f);
        int j = 0;
        for (; j + 4 <= n; j += 4) {
          f4 e = exp_diff(wasm_v128_load(pi + j), mx);
          wasm_v128_store(pi + j, e);
          acc = wasm_f32x4_add(acc, e);
        }
        float sum = wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1) + wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3);
        for (; j < n; j++) {
          pi[j] = wasm_f32x4_extract_lane(exp_diff(SPLAT(pi[j]), mx), 0);
          sum += pi[j];
        }
        const float inv = 1.0f / sum;
        for (j = 0; j < n; j++) pi[j] *= inv;
        for (; j < T; j++) pi[j] = 0.0f;
        combine(pi, 1, v, ld, n, hd, ob + (long)i * d);
      }
    }
  }
}

/*
 * Backward, from p and dO [B*T, d], into dqkv [B*T, 3d] (scr: 3*T*hd + T*T floats); per head, the rows
 * of ds first, then the transposed products column by column (sums in registers, no read-modify-write):
 *   dp_ij = dO_i . v_j    ds_ij = p_ij (dp_ij - sum_l dp_il p_il) scale        (j <= i)
 *   dq_i = sum_{j<=i} ds_ij k_j    dk_j = sum_{i>=j} ds_ij q_i    dv_j = sum_{i>=j} p_ij dO_i
 * (q, k rotated; then rope's gradient into the q and k columns).
 */
void attn_bwd(const float *qkv, const float *cs, const float *sn, const float *p, const float *dout, int B, int T, int H, int hd, float scale,
              float *dqkv, float *scr) {
  const int d = H * hd;
  const int ld = 3 * d;
  const long th = (long)T * hd;
  float *qr = scr, *kr = scr + th, *dr = scr + 2 * th, *ds = scr + 3 * th;
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < H; h++) {
      const float *x = qkv + (long)b * T * ld + (long)h * hd;
      const float *v = x + 2 * d;
      float *dx = dqkv + (long)b * T * ld + (long)h * hd;
      const float *dob = dout + (long)b * T * d + (long)h * hd;
      const float *ph = p + ((long)b * H + h) * T * T;
      rope_rows(x, ld, cs, sn, T, hd, qr);
      rope_rows(x + d, ld, cs, sn, T, hd, kr);
      for (int i = 0; i < T; i++) {
        const float *pi = ph + (long)i * T;
        float *dsi = ds + (long)i * T;
        const int n = i + 1;
        dots(dob + (long)i * d, v, ld, n, hd, 1.0f, dsi);
        f4 acc = SPLAT(0.0f);
        int j = 0;
        for (; j + 4 <= n; j += 4) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(dsi + j), wasm_v128_load(pi + j)));
        float r = wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1) + wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3);
        for (; j < n; j++) r += dsi[j] * pi[j];
        for (j = 0; j < n; j++) dsi[j] = pi[j] * (dsi[j] - r) * scale;
        combine(dsi, 1, kr, hd, n, hd, dr + (long)i * hd);
      }
      rope_rows_grad(dr, cs, sn, T, hd, dx, ld);
      for (int j = 0; j < T; j++) {
        combine(ds + (long)j * T + j, T, qr + (long)j * hd, hd, T - j, hd, dr + (long)j * hd);
        combine(ph + (long)j * T + j, T, dob + (long)j * d, d, T - j, hd, dx + 2 * d + (long)j * ld);
      }
      rope_rows_grad(dr, cs, sn, T, hd, dx + d, ld);
    }
  }
}

/*
 * RMSNorm of rows x [N, d] with scale w [d] (layers.ts rmsNorm), and its gradient; d % 4 == 0:
 *   r_i = 1 / sqrt(mean_c x_ic^2 + eps)      y_ic = x_ic r_i w_c
 *   dw_c = sum_i dy_ic x_ic r_i              dx_ic = r_i (g_ic - x_ic r_i^2 mean_c(g_ic x_ic)),  g = dy w
 */
void rms_fwd(const float *x, const float *w, int N, int d, float eps, float *y, float *rstd) {
  for (int i = 0; i < N; i++) {
    const float *xi = x + (long)i * d;
    float *yi = y + (long)i * d;
    f4 acc = SPLAT(0.0f);
    for (int c = 0; c < d; c += 4) {
      f4 v = wasm_v128_load(xi + c);
      acc = wasm_f32x4_add(acc, wasm_f32x4_mul(v, v));
    }
    float ss = wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1) + wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3);
    float r = 1.0f / wasm_f32x4_extract_lane(wasm_f32x4_sqrt(SPLAT(ss / (float)d + eps)), 0);
    rstd[i] = r;
    f4 r4 = SPLAT(r);
    for (int c = 0; c < d; c += 4) wasm_v128_store(yi + c, wasm_f32x4_mul(wasm_f32x4_mul(wasm_v128_load(xi + c), r4), wasm_v128_load(w + c)));
  }
}

void rms_bwd(const float *x, const float *w, const float *rstd, const float *dy, int N, int d, float *dx, float *dw) {
  for (int c = 0; c < d; c += 4) wasm_v128_store(dw + c, SPLAT(0.0f));
  for (int i = 0; i < N; i++) {
    const float *xi = x + (long)i * d;
    const float *gi = dy + (long)i * d;
    float *oi = dx + (long)i * d;
    const float r = rstd[i];
    f4 r4 = SPLAT(r);
    f4 acc = SPLAT(0.0f);
    for (int c = 0; c < d; c += 4) {
      f4 xv = wasm_v128_load(xi + c);
      f4 gv = wasm_v128_load(gi + c);
      acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_mul(gv, wasm_v128_load(w + c)), xv));
      wasm_v128_store(dw + c, wasm_f32x4_add(wasm_v128_load(dw + c), wasm_f32x4_mul(gv, wasm_f32x4_mul(xv, r4))));
    }
    float m = (wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1) + wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3)) / (float)d;
    f4 k = SPLAT(m * r * r);
    for (int c = 0; c < d; c += 4) {
      f4 xv = wasm_v128_load(xi + c);
      f4 g = wasm_f32x4_mul(wasm_v128_load(gi + c), wasm_v128_load(w + c));
      wasm_v128_store(oi + c, wasm_f32x4_mul(r4, wasm_f32x4_sub(g, wasm_f32x4_mul(xv, k))));
    }
  }
}

/*
 * out [segments, inner] = 0, then out[ids[r]] += x[r] for r < rows (ids outside [0, segments) dropped,
 * as TensorFlow does): kernels.ts's UnsortedSegmentSum, the MoE combine. inner % 4 == 0.
 */
void segment_sum(const float *x, const int *ids, int rows, int inner, int segments, float *out) {
  for (long a = 0; a < (long)segments * inner; a += 4) wasm_v128_store(out + a, SPLAT(0.0f));
  for (int r = 0; r < rows; r++) {
    const int s = ids[r];
    if (s < 0 || s >= segments) continue;
    const float *src = x + (long)r * inner;
    float *dst = out + (long)s * inner;
    for (int c = 0; c < inner; c += 4) wasm_v128_store(dst + c, wasm_f32x4_add(wasm_v128_load(dst + c), wasm_v128_load(src + c)));
  }
}
