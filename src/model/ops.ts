/**
 * The differentiable operations the model is built from, each with a gradient written so that wasm takes
 * its fast paths: XNNPACK (wasm's fast matmul) is used only for plain 2-D products with neither operand
 * transposed, and tfjs's matMul gradient uses transposeA/B, so `matMul2d` has a custom gradient that
 * transposes explicitly (`matMulConst` for a constant right operand). `gatherRows` / `scatterAddRows` are
 * the MoE dispatch and combine, each the other's gradient (the scatter-add kernel is in model/kernels.ts).
 */
import * as tf from '@tensorflow/tfjs';

/**
 * tf.customGrad over tensor inputs, typed plainly. The forward pass runs inside a tidy, so whatever the
 * gradient needs (inputs, fixed ids) must go through `save`: `keep` lists those extra tensors, and the
 * backward function receives the saved inputs and saved extras.
 */
function withGrad(
  forward: (xs: tf.Tensor[], keep: tf.Tensor[]) => tf.Tensor,
  backward: (dy: tf.Tensor, xs: tf.Tensor[], keep: tf.Tensor[]) => tf.Tensor[],
  keep: tf.Tensor[] = [],
) {
  const f = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const xs = args.slice(0, -1) as tf.Tensor[];
    save([...xs, ...keep]);
    return {
      value: forward(xs, keep),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        backward(dy as tf.Tensor, saved.slice(0, xs.length), saved.slice(xs.length)),
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return (...xs: tf.Tensor[]): tf.Tensor => f(...xs);
}

/**
 * a [M, K] x b [K, N] as a plain 2-D product, with a gradient made of plain products of explicit
 * transposes so that every product takes XNNPACK's fast path on wasm: dA = dy . bᵀ, and
 * dB = aᵀ . dy computed as (dyᵀ . a)ᵀ, which was 1.14-2.2x faster for every weight shape of moe16
 * (M = 256 or 2048 rows; the transposes are wasm/c/model.c's, the product's packed operand is a).
 */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return withGrad(
    ([x, y]) => tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D),
    (dy, [x, y]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(y as tf.Tensor2D)),
      tf.transpose(tf.matMul(tf.transpose(dy as tf.Tensor2D), x as tf.Tensor2D)),
    ],
  )(a, b) as tf.Tensor2D;
}

/** a [M, K] x c [K, N] for a constant c (no gradient to c); cT = cᵀ is given so dA = dy . cT is plain. */
export function matMulConst(a: tf.Tensor2D, c: tf.Tensor2D, cT: tf.Tensor2D): tf.Tensor2D {
  return withGrad(
    ([x], [cc]) => tf.matMul(x as tf.Tensor2D, cc as tf.Tensor2D),
    (dy, _xs, [, ct]) => [tf.matMul(dy as tf.Tensor2D, ct as tf.Tensor2D)],
    [c, cT],
  )(a) as tf.Tensor2D;
}

/** Rows of x [R, ...] at ids (int32, computed outside the gradient); gradient: scatterAddRows(dy, ids). */
export function gatherRows(x: tf.Tensor, ids: tf.Tensor1D): tf.Tensor {
  const rows = x.shape[0];
  return withGrad(
    ([xx], [i]) => tf.gather(xx, i as tf.Tensor1D),
    (dy, _xs, [i]) => [scatterAddRows(dy, i as tf.Tensor1D, rows)],
    [ids],
  )(x);
}

/** out [rows, ...] with out[ids[r]] += src[r]; gradient: gatherRows(dy, ids). The combine of an MoE layer. */
export function scatterAddRows(src: tf.Tensor, ids: tf.Tensor1D, rows: number): tf.Tensor {
  return withGrad(
    ([s], [i]) => tf.unsortedSegmentSum(s, i as tf.Tensor1D, rows),
    (dy, _xs, [i]) => [gatherRows(dy, i as tf.Tensor1D)],
    [ids],
  )(src);
}
