/**
 * RMSNorm, y = x * rsqrt(mean(x², -1) + eps) * w for x [N, d] and w [d], with its gradient
 * (r_i = rsqrt(mean_c x_ic² + eps), g = dy ⊙ w):
 *
 *   dw_c = Σ_i dy_ic x_ic r_i          dx_ic = r_i (g_ic − x_ic r_i² mean_c(g_ic x_ic))
 *
 * On wasm, two WebAssembly SIMD kernels (wasm/c/model.c rms_fwd / rms_bwd) instead of six tfjs ops
 * forward and about ten backward; elsewhere (or d % 4 != 0) the tfjs ops, which the tests compare with.
 */
import * as tf from '@tensorflow/tfjs';
import { modelKernelsOnBackend } from './wasm/instance.ts';

/** Names of the fused kernels (registered by model/kernels.ts on wasm when the SIMD module runs). */
export const RMS_NORM_KERNEL = 'MoeBalanceRmsNorm';
export const RMS_NORM_GRAD_KERNEL = 'MoeBalanceRmsNormGrad';

/** x [N, d] * rsqrt(mean(x², -1) + eps) * w. */
export function rmsNorm(x: tf.Tensor2D, w: tf.Tensor, eps: number): tf.Tensor2D {
  const backend = tf.getBackend();
  if (x.shape[1] % 4 !== 0 || !tf.getKernel(RMS_NORM_KERNEL, backend) || !tf.getKernel(RMS_NORM_GRAD_KERNEL, backend) || !modelKernelsOnBackend()) {
    const ms = tf.mean(tf.square(x), -1, true); // [N, 1]
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), w);
  }
  const attrs = { eps };
  const f = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xx, ww] = args as tf.Tensor[];
    const save = args[2] as tf.GradSaveFunc;
    const [y, rstd] = tf.engine().runKernel(RMS_NORM_KERNEL, { x: xx, w: ww }, attrs) as tf.Tensor[];
    save([xx, ww, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ws, rs] = saved;
        const [dx, dw] = tf.engine().runKernel(RMS_NORM_GRAD_KERNEL, { x: xs, w: ws, rstd: rs, dy: dy as tf.Tensor }, {}) as tf.Tensor[];
        return [dx, tf.reshape(dw, ws.shape)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(x, w) as tf.Tensor2D;
}
