/**
 * Mean next-token cross-entropy from logits [N, V] and integer targets, fused:
 *
 *   loss = mean_i ( logsumexp_j logits_ij - logits_i,y_i ),     d loss / d logits = (softmax - onehot) / N
 *
 * One kernel computes the loss and the gradient together (the exponentials are taken once), reading the
 * logits and writing the gradient in place in the backend's memory (wasm heap or cpu arrays): no copy of
 * the N x V matrices. tfjs's logSoftmax + gather + their gradients took two passes of exp over the
 * logits plus a scatter into a zero N*V tensor: the largest cost of a small-d, V = 4096 model.
 */
import * as tf from '@tensorflow/tfjs';
import { expNonPositive } from './fastMath.ts';

/** Name of the fused kernel (registered by backend.ts): inputs logits [N, V], targets [N]; outputs [loss [1], grad [N, V]]. */
export const CROSS_ENTROPY_KERNEL = 'MoeBalanceSoftmaxCrossEntropy';

/**
 * Writes (softmax(z) - onehot(y)) / N into g (both N x V, row-major) and returns the summed loss
 * (not yet divided by N). Throws on non-finite logits or an out-of-range target.
 */
export function softmaxCrossEntropyInto(z: Float32Array, y: Int32Array, N: number, V: number, g: Float32Array): number {
  let total = 0;
  for (let i = 0; i < N; i++) {
    const o = i * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (z[o + j] > max) max = z[o + j];
    if (!Number.isFinite(max)) throw new Error(`crossEntropy: logits of row ${i} are not finite (NaN or Infinity)`);
    let sum = 0;
    for (let j = 0; j < V; j++) {
      const e = expNonPositive(z[o + j] - max);
      g[o + j] = e;
      sum += e;
    }
    const target = y[i];
    if (!(target >= 0 && target < V)) throw new Error(`crossEntropy: target ${target} at row ${i} is not in [0, ${V})`);
    total += max + Math.log(sum) - z[o + target];
    const scale = 1 / (sum * N);
    for (let j = 0; j < V; j++) g[o + j] *= scale;
    g[o + target] -= 1 / N;
  }
  return total;
}

export function crossEntropy(logits: tf.Tensor2D, targets: Int32Array): tf.Scalar {
  const [N, V] = logits.shape;
  if (targets.length !== N) throw new Error(`crossEntropy: ${targets.length} targets for ${N} rows`);
  const f = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    let loss: tf.Tensor;
    let grad: tf.Tensor;
    if (tf.getKernel(CROSS_ENTROPY_KERNEL, tf.getBackend())) {
      [loss, grad] = tf.engine().runKernel(CROSS_ENTROPY_KERNEL, { logits: x, targets: tf.tensor1d(targets, 'int32') }, {}) as tf.Tensor[];
    } else {
      // Backends without the kernel (tensorflow): the same math over copies.
      const g = new Float32Array(N * V);
      const total = softmaxCrossEntropyInto(x.dataSync() as Float32Array, targets, N, V, g);
      loss = tf.tensor1d([total / N]);
      grad = tf.tensor2d(g, [N, V]);
    }
    save([grad]);
    return {
      value: tf.reshape(loss, []),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        // The loss is usually the last node (dy = 1): skip a multiply over N x V.
        const d = dy as tf.Tensor;
        return [d.dataSync()[0] === 1 ? tf.clone(saved[0]) : tf.mul(saved[0], d)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(logits) as tf.Scalar;
}

/**
 * The tied output head and its loss in one op: logits = h . embᵀ, loss = crossEntropy(logits, targets).
 * The gradient is written by the kernel both as G [N, V] and as Gᵀ [V, N], so that both backward products
 * are plain matmuls whose right-hand operand is small (XNNPACK packs the right operand on every call;
 * packing the N x V gradient as hᵀ . G does was the slowest product of the step):
 *   d h = G . emb      [N, V] x [V, d]        d emb = Gᵀ . h      [V, N] x [N, d]
 */
export function tiedHeadLoss(h: tf.Tensor2D, emb: tf.Tensor2D, targets: Int32Array): tf.Scalar {
  const N = h.shape[0];
  if (targets.length !== N) throw new Error(`tiedHeadLoss: ${targets.length} targets for ${N} rows`);
  if (!tf.getKernel(CROSS_ENTROPY_KERNEL, tf.getBackend())) {
    return crossEntropy(tf.matMul(h, emb, false, true), targets);
  }
  const f = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [hh, e] = args as tf.Tensor2D[];
    const save = args[2] as tf.GradSaveFunc;
    const logits = tf.matMul(hh, tf.transpose(e)); // [N, V]
    const [loss, grad, gradT] = tf.engine().runKernel(
      CROSS_ENTROPY_KERNEL,
      { logits, targets: tf.tensor1d(targets, 'int32') },
      { transposed: true },
    ) as tf.Tensor[];
    save([hh, e, grad, gradT]);
    return {
      value: tf.reshape(loss, []),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [hs, es, g, gT] = saved as tf.Tensor2D[];
        const d = (dy as tf.Tensor).dataSync()[0];
        const dh = tf.matMul(g, es); // [N, d]
        const de = tf.matMul(gT, hs); // [V, d]
        return d === 1 ? [dh, de] : [tf.mul(dh, d), tf.mul(de, d)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(h, emb) as tf.Scalar;
}
