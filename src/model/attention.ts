/**
 * The core of causal attention, O = softmax(Q Kᵀ / sqrt(hd) + mask) V for Q, K, V [B, H, T, hd], as one
 * op with a hand-written gradient (P = the softmax, S = its input, G = B*H heads):
 *
 *   dP = dO Vᵀ    dV = Pᵀ dO    dS = P ⊙ (dP − rowsum(dP ⊙ P)) / sqrt(hd)    dQ = dS K    dK = dSᵀ Q
 *
 * On wasm a batched matmul never takes XNNPACK's fast path, so every product is done per head as a plain
 * 2-D matmul of blocks cut by one split; the operands that must be transposed (Kᵀ, Vᵀ, Pᵀ, dSᵀ) are
 * transposed once for all heads. Compared with differentiating the per-head products one by one, this
 * runs about half as many kernels (no per-head transposes, no saved copies of every block).
 *
 * On wasm, `causalAttentionRows` does the same on the token-major rows [B*T, H*hd] the projections
 * produce, as two WebAssembly SIMD kernels (forward, gradient: wasm/c/model.c attn_fwd / attn_bwd, the
 * formulas above) that skip the masked half of every product and need no transposes, splits or concats:
 * 2 kernels per layer and direction instead of ~130 tfjs ops. Elsewhere it transposes to [B, H, T, hd]
 * and calls attentionCore (the reference the kernels are tested against).
 */
import * as tf from '@tensorflow/tfjs';

/** Names of the fused kernels (registered by model/kernels.ts on wasm when the SIMD module runs). */
export const ATTENTION_KERNEL = 'MoeBalanceCausalAttention';
export const ATTENTION_GRAD_KERNEL = 'MoeBalanceCausalAttentionGrad';

/** One plain 2-D product per head, stacked: a_g [r, c] x b_g [c, s] -> [G*r, s]. */
function perHead(a: tf.Tensor[], b: tf.Tensor[]): tf.Tensor2D {
  return tf.concat(
    a.map((ag, g) => tf.matMul(ag as tf.Tensor2D, b[g] as tf.Tensor2D)),
    0,
  ) as tf.Tensor2D;
}

/** [G, r, c] (any leading shape) cut into G blocks [r, c]. */
function blocks(x: tf.Tensor, G: number, r: number, c: number): tf.Tensor[] {
  return tf.split(tf.reshape(x, [G * r, c]), G, 0);
}

export function attentionCore(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D): tf.Tensor4D {
  const [B, H, T, hd] = q.shape;
  const G = B * H;
  const scale = 1 / Math.sqrt(hd);
  const f = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [qq, kk, vv] = args as tf.Tensor4D[];
    const save = args[3] as tf.GradSaveFunc;
    const kT = tf.transpose(kk, [0, 1, 3, 2]); // [B, H, hd, T]
    const s = perHead(blocks(qq, G, T, hd), blocks(kT, G, hd, T)); // [G*T, T]
    const p = tf.softmax(tf.add(tf.mul(tf.reshape(s, [G, T, T]), scale), mask)); // [G, T, T]
    const o = perHead(blocks(p, G, T, T), blocks(vv, G, T, hd)); // [G*T, hd]
    save([qq, kk, vv, p]);
    return {
      value: tf.reshape(o, [B, H, T, hd]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [qs, ks, vs, ps] = saved;
        const dO = blocks(dy as tf.Tensor, G, T, hd);
        const dP = tf.reshape(perHead(dO, blocks(tf.transpose(vs, [0, 1, 3, 2]), G, hd, T)), [G, T, T]);
        const dV = perHead(blocks(tf.transpose(ps, [0, 2, 1]), G, T, T), dO); // [G*T, hd]
        const dS = tf.mul(tf.mul(ps, tf.sub(dP, tf.sum(tf.mul(dP, ps), -1, true))), scale); // [G, T, T]
        const dQ = perHead(blocks(dS, G, T, T), blocks(ks, G, T, hd));
        const dK = perHead(blocks(tf.transpose(dS, [0, 2, 1]), G, T, T), blocks(qs, G, T, hd));
        return [dQ, dK, dV].map((t) => tf.reshape(t, [B, H, T, hd]));
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(q, k, v) as tf.Tensor4D;
}

/**
 * Causal attention on rows: q, k, v [B*T, H*hd] (row b*T + t, head h at columns h*hd ..) -> o in the same
 * layout, softmax(q kᵀ / sqrt(hd) + causal mask) v per (sequence, head). `mask` is the additive causal
 * mask [T, T] used when the fused kernels are not registered.
 */
export function causalAttentionRows(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, B: number, T: number, H: number, mask: tf.Tensor2D): tf.Tensor2D {
  const [N, d] = q.shape;
  const hd = d / H;
  const backend = tf.getBackend();
  if (hd % 4 !== 0 || !tf.getKernel(ATTENTION_KERNEL, backend) || !tf.getKernel(ATTENTION_GRAD_KERNEL, backend)) {
    const heads = (x: tf.Tensor) => tf.transpose(tf.reshape(x, [B, T, H, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
    const o = attentionCore(heads(q), heads(k), heads(v), mask); // [B, H, T, hd]
    return tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [N, d]) as tf.Tensor2D;
  }
  const attrs = { B, T, H };
  const f = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [qq, kk, vv] = args as tf.Tensor2D[];
    const save = args[3] as tf.GradSaveFunc;
    const [o, p] = tf.engine().runKernel(ATTENTION_KERNEL, { q: qq, k: kk, v: vv }, attrs) as tf.Tensor[];
    save([qq, kk, vv, p]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [qs, ks, vs, ps] = saved;
        return tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { q: qs, k: ks, v: vs, p: ps, dy: dy as tf.Tensor }, attrs) as tf.Tensor[];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(q, k, v) as tf.Tensor2D;
}
