/**
 * The SwiGLU activation on the fused gate|up product, as two kernels (forward and gradient):
 *
 *   gu = [g | u]  [n, 2h]        a = silu(g) * u = g σ(g) u  [n, h]
 *   d g = d a · u · σ(g) (1 + g (1 − σ(g)))        d u = d a · g σ(g)
 *
 * One pass over typed arrays each way instead of a column split, a sigmoid and two products (and, in
 * the backward pass, about eight kernels and a column concat) per expert.
 */
import * as tf from '@tensorflow/tfjs';
import { sigmoid } from './fastMath.ts';

export const SWIGLU_KERNEL = 'MoeBalanceSwiGLU';
export const SWIGLU_GRAD_KERNEL = 'MoeBalanceSwiGLUGrad';

/** a[i, j] = silu(gu[i, j]) * gu[i, h + j]. */
export function swigluInto(gu: Float32Array, n: number, h: number, a: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const r = i * 2 * h;
    const o = i * h;
    for (let j = 0; j < h; j++) {
      const g = gu[r + j];
      a[o + j] = g * sigmoid(g) * gu[r + h + j];
    }
  }
}

/** dgu [n, 2h] from gu and da [n, h]. */
export function swigluGradInto(gu: Float32Array, da: Float32Array, n: number, h: number, dgu: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const r = i * 2 * h;
    const o = i * h;
    for (let j = 0; j < h; j++) {
      const g = gu[r + j];
      const u = gu[r + h + j];
      const s = sigmoid(g);
      const d = da[o + j];
      dgu[r + j] = d * u * s * (1 + g * (1 - s));
      dgu[r + h + j] = d * g * s;
    }
  }
}

/** silu(g) * u for gu = [g | u] [n, 2h] -> [n, h], differentiable. */
export function swigluActivation(gu: tf.Tensor2D): tf.Tensor2D {
  const backend = tf.getBackend();
  if (!tf.getKernel(SWIGLU_KERNEL, backend) || !tf.getKernel(SWIGLU_GRAD_KERNEL, backend)) {
    const h = gu.shape[1] / 2;
    const [g, u] = tf.split(gu, [h, h], 1);
    return tf.mul(tf.mul(g, tf.sigmoid(g)), u) as tf.Tensor2D;
  }
  const f = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    save([x]);
    return {
      value: tf.engine().runKernel(SWIGLU_KERNEL, { gu: x }, {}) as tf.Tensor,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [
        tf.engine().runKernel(SWIGLU_GRAD_KERNEL, { gu: saved[0], da: dy as tf.Tensor }, {}) as tf.Tensor,
      ],
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(gu) as tf.Tensor2D;
}
