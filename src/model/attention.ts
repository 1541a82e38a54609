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
 * On wasm, `fusedAttention` does the same, with the rotary embedding of q and k, straight from the fused
 * q|k|v projection in its token-major layout, as two WebAssembly SIMD kernels (forward, gradient:
 * wasm/c/model.c attn_fwd / attn_bwd, the formulas above) that skip the masked half of every product
 * and need no splits, transposes or concats: 2 kernels per layer and direction instead of ~150 tfjs ops.
 * Where they are absent, layers.ts splits, rotates, transposes and calls attentionCore (the per-head
 * path; the tests check both against batched matmuls).
 */
import * as tf from '@tensorflow/tfjs';
import { modelKernelsOnBackend } from './wasm/instance.ts';

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

/** True when the fused kernels are registered and can run on this backend, and take this head size (a multiple of 8). */
export function fusedAttentionAvailable(hd: number): boolean {
  const backend = tf.getBackend();
  return (
    hd % 8 === 0 &&
    tf.getKernel(ATTENTION_KERNEL, backend) !== undefined &&
    tf.getKernel(ATTENTION_GRAD_KERNEL, backend) !== undefined &&
    modelKernelsOnBackend() !== null
  );
}

/**
 * Causal self-attention from the fused projection qkv [B*T, 3d] = [q | k | v] (row b*T + t, head h at
 * columns h*hd of each part), with the rotary embedding (cos, sin [T, hd] in any shape of that size;
 * layers.ts makeAttnConsts) applied to q and k inside: o [B*T, d] = per (sequence, head)
 * softmax(rope(q) rope(k)ᵀ / sqrt(hd) + causal mask) v. Needs fusedAttentionAvailable(hd).
 */
export function fusedAttention(qkv: tf.Tensor2D, cos: tf.Tensor, sin: tf.Tensor, B: number, T: number, H: number): tf.Tensor2D {
  const attrs = { B, T, H };
  const f = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const [o, p] = tf.engine().runKernel(ATTENTION_KERNEL, { qkv: x, cos, sin }, attrs) as tf.Tensor[];
    save([x, p]);
    return {
      value: o,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [
        tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { qkv: saved[0], cos, sin, p: saved[1], dy: dy as tf.Tensor }, attrs) as tf.Tensor,
      ],
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(qkv) as tf.Tensor2D;
}
