/**
 * The dense building blocks of the decoder (RMSNorm: rmsNorm.ts): rotary position embedding, causal multi-head
 * attention and the SwiGLU feed-forward. Every 2-D product goes through matMul2d (fast on wasm).
 */
import * as tf from '@tensorflow/tfjs';
import { attentionCore, fusedAttention, fusedAttentionAvailable } from './attention.ts';
import { matMul2d, matMulConst } from './ops.ts';
import { swigluActivation } from './swiglu.ts';

/**
 * SwiGLU: (silu(x w1) * (x w3)) w2, x [N, d] -> [N, d]. The gate and up projections are stored as one
 * matrix w13 = [w1 | w3] [d, 2h] and run as one product (one transpose of x in the backward pass instead
 * of two, and a larger, faster matmul).
 */
export function swiglu(x: tf.Tensor2D, w13: tf.Tensor, w2: tf.Tensor): tf.Tensor2D {
  const gu = matMul2d(x, w13 as tf.Tensor2D); // [N, 2h]
  return matMul2d(swigluActivation(gu), w2 as tf.Tensor2D); // silu(g) * u [N, h], then [N, d]
}

/** Constant tensors of the attention layer, built once per model (kept outside any tidy). */
export interface AttnConsts {
  /** cos and sin of the rotary angles, [1, T, 1, hd] (rotate-half layout: frequencies repeated twice). */
  cos: tf.Tensor;
  sin: tf.Tensor;
  /** rotate_half as a matrix: x . R = concat(-x2, x1), [hd, hd]. A product avoids slicing the last axis. */
  rot: tf.Tensor2D;
  /** Its transpose, for the backward pass. */
  rotT: tf.Tensor2D;
  /** Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above. */
  mask: tf.Tensor2D;
  /** Attention by attention.ts's fused kernels (wasm) or per-head 2-D matmuls, rather than batched matmuls (the test reference). */
  perHead: boolean;
}

export function makeAttnConsts(seqLen: number, headDim: number, theta: number, perHead = true): AttnConsts {
  const T = seqLen;
  const hd = headDim;
  const half = hd / 2;
  const cos = new Float32Array(T * hd);
  const sin = new Float32Array(T * hd);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < half; j++) {
      const a = t / Math.pow(theta, (2 * j) / hd);
      cos[t * hd + j] = cos[t * hd + j + half] = Math.cos(a);
      sin[t * hd + j] = sin[t * hd + j + half] = Math.sin(a);
    }
  }
  const rot = new Float32Array(hd * hd);
  for (let j = 0; j < half; j++) {
    rot[(j + half) * hd + j] = -1; // out[j] = -x[j + half]
    rot[j * hd + j + half] = 1; // out[j + half] = x[j]
  }
  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e9;
  return {
    cos: tf.tensor(cos, [1, T, 1, hd]),
    sin: tf.tensor(sin, [1, T, 1, hd]),
    rot: tf.tensor2d(rot, [hd, hd]),
    rotT: tf.tensor2d(Float32Array.from({ length: hd * hd }, (_, a) => rot[(a % hd) * hd + Math.floor(a / hd)]), [hd, hd]),
    mask: tf.tensor2d(mask, [T, T]),
    perHead,
  };
}

export function disposeAttnConsts(c: AttnConsts): void {
  tf.dispose([c.cos, c.sin, c.rot, c.rotT, c.mask]);
}

/** Rotary embedding of q or k given as [N, d] with N = B*T; returns the same rows [N, d] (heads in columns). */
function rope(x: tf.Tensor2D, B: number, T: number, H: number, c: AttnConsts): tf.Tensor2D {
  const [N, d] = x.shape;
  const hd = d / H;
  const x4 = tf.reshape(x, [B, T, H, hd]);
  const rotated = tf.reshape(matMulConst(tf.reshape(x, [B * T * H, hd]), c.rot, c.rotT), [B, T, H, hd]);
  return tf.reshape(tf.add(tf.mul(x4, c.cos), tf.mul(rotated, c.sin)), [N, d]) as tf.Tensor2D;
}

/** softmax(q kᵀ / sqrt(hd) + mask) v per head for q, k, v [N, d] (heads in columns) -> [N, d]. */
function scaledDotAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, B: number, T: number, H: number, c: AttnConsts): tf.Tensor2D {
  const [N, d] = q.shape;
  const hd = d / H;
  const heads = (x: tf.Tensor) => tf.transpose(tf.reshape(x, [B, T, H, hd]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, H, T, hd]
  const o = c.perHead
    ? attentionCore(heads(q), heads(k), heads(v), c.mask)
    : // Reference form (batched matmuls; slow on wasm), kept for tests.
      tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(heads(q), heads(k), false, true), 1 / Math.sqrt(hd)), c.mask)), heads(v));
  return tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [N, d]) as tf.Tensor2D;
}

/** Causal multi-head self-attention with rotary positions: x [N, d] -> [N, d]. */
export function attention(
  x: tf.Tensor2D,
  w: { wqkv: tf.Tensor; wo: tf.Tensor },
  B: number,
  T: number,
  H: number,
  c: AttnConsts,
): tf.Tensor2D {
  const d = x.shape[1];
  // q, k and v as one product with wqkv = [wq | wk | wv]: one transpose of x in the backward pass, not three.
  const qkv = matMul2d(x, w.wqkv as tf.Tensor2D); // [N, 3d]
  if (c.perHead && fusedAttentionAvailable(d / H)) return matMul2d(fusedAttention(qkv, c.cos, c.sin, B, T, H), w.wo as tf.Tensor2D);
  const [q2, k2, v2] = tf.split(qkv, [d, d, d], 1); // [N, d] each
  const q = rope(q2 as tf.Tensor2D, B, T, H, c);
  const k = rope(k2 as tf.Tensor2D, B, T, H, c);
  const o = scaledDotAttention(q, k, v2 as tf.Tensor2D, B, T, H, c); // [N, d]
  return matMul2d(o, w.wo as tf.Tensor2D);
}
