/*
 * The data-parallel optimizer's two loops in WebAssembly SIMD, on the group's shared memory (the module
 * imports it: every pointer is a byte offset in the memory that holds the gradient slots and the master
 * parameters and moments, src/train/workerGroup.ts). No data segment, no shadow stack
 * (scripts/build-optimizer-wasm.sh checks both): instantiating it writes nothing into that memory.
 *
 * Both compute in float64, two lanes at a time, with exactly the operations and order of their TypeScript
 * references (src/train/optimizer.ts adamWUpdate, src/train/shardedOptimizer.ts reduceRange), and round to
 * float32 on store as a Float32Array store does: the results are the references' to the last bit
 * (test/optimizer-wasm.test.ts). No fused multiply-add exists in wasm's base SIMD, so none is introduced.
 */
#include <wasm_simd128.h>

typedef v128_t d2;

/* Two float32 at p as float64 lanes; the two float64 lanes stored as float32 at p (round to nearest even). */
static inline d2 load2(const float *p) { return wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(p)); }
static inline void store2(float *p, d2 x) { wasm_v128_store64_lane(p, wasm_f32x4_demote_f64x2_zero(x), 0); }

/*
 * out_i = float32(a_i sa + b_i sb) for i < n (out may be a or b: each element is read before it is
 * written); returns Σ_i out_i² summed in index order (the sum decides the clipping, so its order is the
 * reference's: one lane after the other).
 */
double reduce2(const float *a, const float *b, double sa, double sb, float *out, int n) {
  const d2 va = wasm_f64x2_splat(sa), vb = wasm_f64x2_splat(sb);
  double sq = 0;
  int i = 0;
  for (; i + 2 <= n; i += 2) {
    d2 x = wasm_f64x2_add(wasm_f64x2_mul(load2(a + i), va), wasm_f64x2_mul(load2(b + i), vb));
    store2(out + i, x);
    d2 f = wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(x)); /* Math.fround */
    d2 f2 = wasm_f64x2_mul(f, f);
    sq += wasm_f64x2_extract_lane(f2, 0);
    sq += wasm_f64x2_extract_lane(f2, 1);
  }
  for (; i < n; i++) {
    float x = (float)((double)a[i] * sa + (double)b[i] * sb);
    out[i] = x;
    sq += (double)x * (double)x;
  }
  return sq;
}

/*
 * AdamW on n elements (optimizer.ts adamWUpdate, line for line):
 *   g' = g scale;  m = b1 m + c1 g';  v = b2 v + (c2 g') g';  w = w keep − (a m) / (sqrt(v inv2) + eps)
 * with m and v used unrounded for w, as in the reference.
 */
void adamw(float *w, const float *g, float *m, float *v, int n, double b1, double c1, double b2, double c2, double scale, double inv2, double eps, double keep, double a) {
  const d2 B1 = wasm_f64x2_splat(b1), C1 = wasm_f64x2_splat(c1), B2 = wasm_f64x2_splat(b2), C2 = wasm_f64x2_splat(c2);
  const d2 S = wasm_f64x2_splat(scale), I2 = wasm_f64x2_splat(inv2), E = wasm_f64x2_splat(eps), K = wasm_f64x2_splat(keep), A = wasm_f64x2_splat(a);
  int i = 0;
  for (; i + 2 <= n; i += 2) {
    d2 gi = wasm_f64x2_mul(load2(g + i), S);
    d2 mi = wasm_f64x2_add(wasm_f64x2_mul(B1, load2(m + i)), wasm_f64x2_mul(C1, gi));
    d2 vi = wasm_f64x2_add(wasm_f64x2_mul(B2, load2(v + i)), wasm_f64x2_mul(wasm_f64x2_mul(C2, gi), gi));
    store2(m + i, mi);
    store2(v + i, vi);
    d2 den = wasm_f64x2_add(wasm_f64x2_sqrt(wasm_f64x2_mul(vi, I2)), E);
    store2(w + i, wasm_f64x2_sub(wasm_f64x2_mul(load2(w + i), K), wasm_f64x2_div(wasm_f64x2_mul(A, mi), den)));
  }
  for (; i < n; i++) {
    double gi = (double)g[i] * scale;
    double mi = b1 * (double)m[i] + c1 * gi;
    double vi = b2 * (double)v[i] + c2 * gi * gi;
    m[i] = (float)mi;
    v[i] = (float)vi;
    w[i] = (float)((double)w[i] * keep - (a * mi) / (__builtin_sqrt(vi * inv2) + eps));
  }
}
