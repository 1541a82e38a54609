/**
 * The replacement kernels that make training on TensorFlow.js's wasm backend fast and possible
 * (measured facts in docs/tfjs-wasm-notes.md), registered by `installKernels` (model/backend.ts calls it):
 * - `UnsortedSegmentSum` is missing on wasm (so the gradient of `gather` fails) and unusably slow on cpu:
 *   both get a row scatter-add (on wasm in SIMD).
 * - wasm `GatherV2`, `Slice` and `SplitV` copy their whole input out of the heap on every call: replaced,
 *   for the shapes the model uses (row gather on axis 0, rank <= 4), by kernels that read heap views.
 * - wasm `Identity` (tfjs's clone, used by every customGrad save) copies: replaced by a shared reference.
 * - The fused softmax cross-entropy of loss.ts and the SwiGLU activation of swiglu.ts are registered as
 *   kernels on wasm and cpu; on wasm they run in WebAssembly SIMD on the backend's heap in place
 *   (wasm/c/model.c, 3-6x faster than the TypeScript loops, which remain the cpu path and the reference).
 * - wasm only, in SIMD: the fused attention (attention.ts), RMSNorm (rmsNorm.ts) and 2-D `Transpose`
 *   (wasm's own took ~1.5 ms for 2048 x 128 here); absent or passed through with
 *   MOE_BALANCE_MODEL_KERNELS=typescript, which gives the tfjs-op model bit for bit.
 * Every replacement is checked against a plain-JS or tfjs reference in test/model.test.ts and
 * test/model-wasm.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { CROSS_ENTROPY_KERNEL, softmaxCrossEntropyInto } from './loss.ts';
import { SWIGLU_GRAD_KERNEL, SWIGLU_KERNEL, swigluGradInto, swigluInto } from './swiglu.ts';
import { modelKernelsOn, modelKernelsValid, modelKernelsWanted, type ModelKernels } from './wasm/instance.ts';
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNEL } from './attention.ts';
import { RMS_NORM_GRAD_KERNEL, RMS_NORM_KERNEL } from './rmsNorm.ts';

type TypedArray = Float32Array | Int32Array | Uint8Array;
type KernelArgs = { inputs: Record<string, tf.TensorInfo>; attrs?: Record<string, unknown>; backend: unknown };
type KernelFn = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/** A tensor's elements as (array, base index): on wasm the whole heap, so copies are one memmove. */
interface Mem {
  arr: TypedArray;
  base: number;
}

/** What a kernel needs from a backend: views of inputs and a fresh output with a writable view. */
interface Io {
  /** Allocate first, then take input views: a wasm allocation may grow (and detach) the heap. */
  alloc(shape: number[], dtype: tf.DataType): { info: tf.TensorInfo; view: TypedArray };
  view(t: tf.TensorInfo): TypedArray;
  /** The tensor's storage for copy() (take it after the last allocation). */
  mem(t: tf.TensorInfo): Mem;
  /** On wasm: the SIMD model kernels (wasm/c/model.c) and tensors' byte offsets in their memory. */
  simd: { kernels: ModelKernels; ptr(t: tf.TensorInfo): number; malloc(bytes: number): number; free(p: number): void; memory: WebAssembly.Memory } | null;
}

/** Copies len elements src[s0..] -> dst[d0..]: copyWithin inside one heap (no allocation), else set(). */
function copy(dst: Mem, d0: number, src: Mem, s0: number, len: number): void {
  const a = src.base + s0;
  const d = dst.base + d0;
  if (len < 16) {
    // Short runs (combine weights are rows of one element): a loop beats a native call.
    const da = dst.arr;
    const sa = src.arr;
    for (let c = 0; c < len; c++) da[d + c] = sa[a + c];
  } else if (dst.arr === src.arr) dst.arr.copyWithin(d, a, a + len);
  else dst.arr.set(src.arr.subarray(a, a + len), d);
}

export interface WasmLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): TypedArray;
  dataIdMap: { get(dataId: unknown): { memoryOffset: number } };
  wasm: { HEAP32: Int32Array; asm: { memory: WebAssembly.Memory }; _malloc(bytes: number): number; _free(p: number): void };
}
export interface CpuLike {
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: TypedArray): tf.TensorInfo;
  readSync(dataId: unknown): TypedArray;
}

function ioFor(backendName: string, backend: unknown, simd = false): Io {
  if (backendName === 'wasm') {
    const b = backend as WasmLike;
    const kernels = simd ? modelKernelsOn(b.wasm.asm.memory) : null;
    return {
      simd: kernels && {
        kernels,
        ptr: (t) => b.dataIdMap.get(t.dataId).memoryOffset,
        malloc: (bytes) => b.wasm._malloc(bytes),
        free: (p) => b.wasm._free(p),
        memory: b.wasm.asm.memory,
      },
      alloc(shape, dtype) {
        const info = b.makeOutput(shape, dtype);
        return { info, view: b.typedArrayFromHeap(info) };
      },
      view: (t) => b.typedArrayFromHeap(t),
      mem(t) {
        // 4-byte elements: one Int32Array over the heap copies float32 and int32 bits alike.
        if (t.dtype === 'bool') return { arr: b.typedArrayFromHeap(t), base: 0 };
        return { arr: b.wasm.HEAP32, base: b.dataIdMap.get(t.dataId).memoryOffset / 4 };
      },
    };
  }
  const b = backend as CpuLike;
  return {
    alloc(shape, dtype) {
      const size = shape.reduce((a, c) => a * c, 1);
      const view = dtype === 'int32' ? new Int32Array(size) : dtype === 'bool' ? new Uint8Array(size) : new Float32Array(size);
      return { info: b.makeTensorInfo(shape, dtype, view), view };
    },
    view: (t) => b.readSync(t.dataId),
    mem: (t) => ({ arr: b.readSync(t.dataId), base: 0 }),
    simd: null,
  };
}

const size = (shape: number[]): number => shape.reduce((a, c) => a * c, 1);

/** out[ids[r]] += x[r] over rows: the gradient of a row gather (in SIMD on wasm for float32 rows of 4k). */
function segmentSumKernel(backendName: string, simd: boolean): KernelFn {
  return ({ inputs, attrs, backend }) => {
    const { x, segmentIds } = inputs;
    const numSegments = attrs!.numSegments as number;
    const nIds = size(segmentIds.shape);
    const inner = size(x.shape) / Math.max(nIds, 1);
    const io = ioFor(backendName, backend, simd);
    const out = io.alloc([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
    if (io.simd && x.dtype === 'float32' && segmentIds.dtype === 'int32' && inner % 4 === 0) {
      io.simd.kernels.segment_sum(io.simd.ptr(x), io.simd.ptr(segmentIds), nIds, inner, numSegments, io.simd.ptr(out.info));
      return out.info;
    }
    out.view.fill(0);
    const xv = io.view(x);
    const idv = io.view(segmentIds);
    const ov = out.view;
    for (let r = 0; r < nIds; r++) {
      const s = idv[r];
      if (s < 0 || s >= numSegments) continue; // TF semantics: out-of-range ids are dropped
      const src = r * inner;
      const dst = s * inner;
      for (let c = 0; c < inner; c++) ov[dst + c] += xv[src + c];
    }
    return out.info;
  };
}

/** Row gather (axis 0, no batch dims) by typed-array copies; anything else goes to the original kernel. */
function gatherKernel(backendName: string, original: KernelFn): KernelFn {
  return (args) => {
    const { inputs, attrs, backend } = args;
    const { x, indices } = inputs;
    const axis = attrs!.axis as number;
    const batchDims = (attrs!.batchDims as number) ?? 0;
    if (axis !== 0 || batchDims !== 0 || x.dtype === 'string' || indices.dtype !== 'int32') return original(args);
    const nIdx = size(indices.shape);
    const rows = x.shape[0];
    const inner = rows === 0 ? 0 : size(x.shape) / rows;
    const io = ioFor(backendName, backend);
    const out = io.alloc([...indices.shape, ...x.shape.slice(1)], x.dtype);
    const idv = io.view(indices);
    const xm = io.mem(x);
    const om = io.mem(out.info);
    for (let r = 0; r < nIdx; r++) {
      const i = idv[r];
      if (i < 0 || i >= rows) throw new Error(`GatherV2: the index value ${i} is not in [0, ${rows - 1}]`);
      copy(om, r * inner, xm, i * inner, inner);
    }
    return out.info;
  };
}

/** Copies x[begin : begin + sz] (rank <= 4) into a new output, in contiguous runs. */
function sliceOut(io: Io, x: tf.TensorInfo, begin: number[], sz: number[]): tf.TensorInfo {
  const out = io.alloc(sz, x.dtype);
  const xm = io.mem(x);
  const om = io.mem(out.info);
  // Pad to rank 4, then merge the trailing axes taken whole into one contiguous run.
  const pad = 4 - x.shape.length;
  const shp = [...Array(pad).fill(1), ...x.shape];
  const b = [...Array(pad).fill(0), ...begin];
  const s = [...Array(pad).fill(1), ...sz];
  const st2 = shp[3];
  const st1 = shp[2] * st2;
  const st0 = shp[1] * st1;
  if (s[3] === shp[3] && s[2] === shp[2] && s[1] === shp[1]) {
    copy(om, 0, xm, b[0] * st0, s[0] * st0); // whole rows of axis 0: one run
    return out.info;
  }
  let o = 0;
  for (let i = b[0]; i < b[0] + s[0]; i++) {
    for (let j = b[1]; j < b[1] + s[1]; j++) {
      if (s[3] === shp[3] && s[2] === shp[2]) {
        copy(om, o, xm, i * st0 + j * st1, st1);
        o += st1;
        continue;
      }
      for (let k = b[2]; k < b[2] + s[2]; k++) {
        copy(om, o, xm, i * st0 + j * st1 + k * st2 + b[3], s[3]);
        o += s[3];
      }
    }
  }
  return out.info;
}

/** Slice without copying the input out of the heap (wasm's own kernel does that on every call). */
function sliceKernel(original: KernelFn): KernelFn {
  return (args) => {
    const { inputs, attrs, backend } = args;
    const { x } = inputs;
    if (x.dtype === 'string' || x.shape.length > 4 || x.shape.length === 0) return original(args);
    const [begin, sz] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs!.begin as number[], attrs!.size as number[]);
    return sliceOut(ioFor('wasm', backend), x, begin, sz);
  };
}

/** SplitV by the slice above (wasm's SplitV calls its own copying Slice directly, not the registry). */
function splitKernel(original: KernelFn): KernelFn {
  return (args) => {
    const { inputs, attrs, backend } = args;
    const { x } = inputs;
    const axis = tf.util.parseAxisParam(attrs!.axis as number, x.shape)[0];
    const spec = attrs!.numOrSizeSplits as number[] | number;
    const sizes = Array.isArray(spec) ? spec : new Array<number>(spec).fill(x.shape[axis] / spec);
    if (sizes.includes(-1) || x.dtype === 'string' || x.shape.length > 4) return original(args);
    const io = ioFor('wasm', backend);
    const begin = new Array(x.shape.length).fill(0);
    return sizes.map((s) => {
      const sz = [...x.shape];
      sz[axis] = s;
      const out = sliceOut(io, x, [...begin], sz);
      begin[axis] += s;
      return out;
    });
  };
}

/** Concat as contiguous runs (wasm's own concat copies through a new subarray per run). */
function concatKernel(original: KernelFn): KernelFn {
  return (args) => {
    const xs = Object.values(args.inputs);
    const x0 = xs[0];
    if (!x0 || x0.dtype === 'string' || x0.dtype === 'bool' || xs.some((t) => t.dtype !== x0.dtype)) return original(args);
    const axis = tf.util.parseAxisParam(args.attrs!.axis as number, x0.shape)[0];
    const outShape = [...x0.shape];
    outShape[axis] = xs.reduce((a, t) => a + t.shape[axis], 0);
    const io = ioFor('wasm', args.backend);
    const out = io.alloc(outShape, x0.dtype);
    const om = io.mem(out.info);
    const outer = size(x0.shape.slice(0, axis));
    const inners = xs.map((t) => size(t.shape.slice(axis)));
    const rowLen = inners.reduce((a, c) => a + c, 0);
    const mems = xs.map((t) => io.mem(t));
    for (let r = 0; r < outer; r++) {
      let o = r * rowLen;
      for (let i = 0; i < xs.length; i++) {
        if (inners[i] > 0) copy(om, o, mems[i], r * inners[i], inners[i]);
        o += inners[i];
      }
    }
    return out.info;
  };
}

/**
 * Identity without a copy (tfjs's clone, used by every customGrad save(), copies on wasm): share the data
 * and count the reference, as wasm's own Reshape does. Safe because tensors are immutable.
 */
function identityKernel(original: KernelFn): KernelFn {
  return (args) => {
    const { x } = args.inputs;
    if (x.dtype === 'string') return original(args);
    (args.backend as { incRef(dataId: unknown): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/**
 * Outputs [loss (mean, shape [1]), gradient G = (softmax - onehot) / N [N, V]], and with attr
 * `transposed`, also Gᵀ [V, N] (written in cache-friendly blocks of 16 rows). `simd`: use the
 * WebAssembly SIMD kernels of wasm/c/model.c where they run (else the TypeScript loops).
 */
function crossEntropyKernel(backendName: string, simd: boolean): KernelFn {
  return ({ inputs, attrs, backend }) => {
    const { logits, targets } = inputs;
    const [N, V] = logits.shape;
    const io = ioFor(backendName, backend, simd);
    const grad = io.alloc([N, V], 'float32');
    const gradT = attrs?.transposed ? io.alloc([V, N], 'float32') : null;
    const loss = io.alloc([1], 'float32');
    if (io.simd) {
      (io.view(loss.info) as Float32Array)[0] = crossEntropySimd(io, logits, targets, grad.info, N, V) / N;
      if (gradT) io.simd.kernels.transpose(io.simd.ptr(grad.info), N, V, io.simd.ptr(gradT.info));
      return gradT ? [loss.info, grad.info, gradT.info] : [loss.info, grad.info];
    }
    // Views after the allocations (a wasm allocation may move the heap).
    const g = io.view(grad.info) as Float32Array;
    const total = softmaxCrossEntropyInto(io.view(logits) as Float32Array, io.view(targets) as Int32Array, N, V, g);
    (io.view(loss.info) as Float32Array)[0] = total / N;
    if (!gradT) return [loss.info, grad.info];
    const gt = io.view(gradT.info) as Float32Array;
    const BLOCK = 16;
    for (let i0 = 0; i0 < N; i0 += BLOCK) {
      const i1 = Math.min(N, i0 + BLOCK);
      for (let j = 0; j < V; j++) {
        const dst = j * N;
        for (let i = i0; i < i1; i++) gt[dst + i] = g[i * V + j];
      }
    }
    return [loss.info, grad.info, gradT.info];
  };
}

/**
 * softmaxCrossEntropyInto by ce_rows: the gradient into `grad`, and the summed loss from the per-row max
 * and exponential sum it leaves in a scratch block of the heap (same errors as the TypeScript loop).
 */
function crossEntropySimd(io: Io, logits: tf.TensorInfo, targets: tf.TensorInfo, grad: tf.TensorInfo, N: number, V: number): number {
  const { kernels, ptr, malloc, free, memory } = io.simd!;
  const stats = malloc(16 * N);
  try {
    const bad = kernels.ce_rows(ptr(logits), ptr(targets), N, V, ptr(grad), stats);
    const z = io.view(logits) as Float32Array;
    const y = io.view(targets) as Int32Array;
    if (bad >= 0) {
      if (!(y[bad] >= 0 && y[bad] < V) && z.subarray(bad * V, bad * V + V).every(Number.isFinite)) {
        throw new Error(`crossEntropy: target ${y[bad]} at row ${bad} is not in [0, ${V})`);
      }
      throw new Error(`crossEntropy: logits of row ${bad} are not finite (NaN or Infinity)`);
    }
    const st = new Float64Array(memory.buffer, stats, 2 * N);
    let total = 0;
    for (let i = 0; i < N; i++) total += st[2 * i] + Math.log(st[2 * i + 1]) - z[i * V + y[i]];
    return total;
  } finally {
    free(stats);
  }
}

function swigluKernel(backendName: string, simd: boolean): KernelFn {
  return ({ inputs, backend }) => {
    const { gu } = inputs;
    const [n, h2] = gu.shape;
    const io = ioFor(backendName, backend, simd);
    const out = io.alloc([n, h2 / 2], 'float32');
    if (io.simd) {
      io.simd.kernels.swiglu(io.simd.ptr(gu), n, h2 / 2, io.simd.ptr(out.info));
      return out.info;
    }
    swigluInto(io.view(gu) as Float32Array, n, h2 / 2, io.view(out.info) as Float32Array);
    return out.info;
  };
}

function swigluGradKernel(backendName: string, simd: boolean): KernelFn {
  return ({ inputs, backend }) => {
    const { gu, da } = inputs;
    const [n, h2] = gu.shape;
    const io = ioFor(backendName, backend, simd);
    const out = io.alloc([n, h2], 'float32');
    if (io.simd) {
      io.simd.kernels.swiglu_grad(io.simd.ptr(gu), io.simd.ptr(da), n, h2 / 2, io.simd.ptr(out.info));
      return out.info;
    }
    swigluGradInto(io.view(gu) as Float32Array, io.view(da) as Float32Array, n, h2 / 2, io.view(out.info) as Float32Array);
    return out.info;
  };
}

/** The SIMD model kernels on this backend's heap; the attention kernels have no TypeScript loop to fall back on. */
function simdOf(backend: unknown, what: string): NonNullable<Io['simd']> {
  const simd = ioFor('wasm', backend, true).simd;
  if (!simd) throw new Error(`${what}: the WebAssembly model kernels could not be instantiated here`);
  return simd;
}

/**
 * Causal attention with rotary positions from the fused projection (attention.ts fusedAttention): inputs
 * qkv [B*T, 3d], cos and sin ([T, hd] values), attrs B, T, H; outputs o [B*T, d] and the softmax
 * p [B*H, T, T] for the gradient.
 */
function attentionKernel(): KernelFn {
  return ({ inputs, attrs, backend }) => {
    const { qkv, cos, sin } = inputs;
    const { B, T, H } = attrs as { B: number; T: number; H: number };
    const [N, d3] = qkv.shape;
    const hd = d3 / 3 / H;
    const io = ioFor('wasm', backend);
    const o = io.alloc([N, d3 / 3], 'float32');
    const p = io.alloc([B * H, T, T], 'float32');
    const { kernels, ptr, malloc, free } = simdOf(backend, 'attention');
    const scr = malloc(4 * 2 * T * hd);
    try {
      kernels.attn_fwd(ptr(qkv), ptr(cos), ptr(sin), B, T, H, hd, 1 / Math.sqrt(hd), ptr(o.info), ptr(p.info), scr);
    } finally {
      free(scr);
    }
    return [o.info, p.info];
  };
}

/** Its gradient: inputs qkv, cos, sin, p and dy [B*T, d]; output dqkv [B*T, 3d]. */
function attentionGradKernel(): KernelFn {
  return ({ inputs, attrs, backend }) => {
    const { qkv, cos, sin, p, dy } = inputs;
    const { B, T, H } = attrs as { B: number; T: number; H: number };
    const [N, d3] = qkv.shape;
    const hd = d3 / 3 / H;
    const out = ioFor('wasm', backend).alloc([N, d3], 'float32');
    const { kernels, ptr, malloc, free } = simdOf(backend, 'attention gradient');
    const scr = malloc(4 * (3 * T * hd + T * T));
    try {
      kernels.attn_bwd(ptr(qkv), ptr(cos), ptr(sin), ptr(p), ptr(dy), B, T, H, hd, 1 / Math.sqrt(hd), ptr(out.info), scr);
    } finally {
      free(scr);
    }
    return out.info;
  };
}

/** RMSNorm (rmsNorm.ts): inputs x [N, d], w [d], attr eps; outputs y [N, d] and r = rsqrt(mean x² + eps) [N]. */
function rmsNormKernel(): KernelFn {
  return ({ inputs, attrs, backend }) => {
    const { x, w } = inputs;
    const [N, d] = x.shape;
    const io = ioFor('wasm', backend);
    const y = io.alloc([N, d], 'float32');
    const rstd = io.alloc([N], 'float32');
    const { kernels, ptr } = simdOf(backend, 'rmsNorm');
    kernels.rms_fwd(ptr(x), ptr(w), N, d, attrs!.eps as number, ptr(y.info), ptr(rstd.info));
    return [y.info, rstd.info];
  };
}

/** Its gradient: inputs x, w, rstd, dy; outputs dx [N, d] and dw [d]. */
function rmsNormGradKernel(): KernelFn {
  return ({ inputs, backend }) => {
    const { x, w, rstd, dy } = inputs;
    const [N, d] = x.shape;
    const io = ioFor('wasm', backend);
    const dx = io.alloc([N, d], 'float32');
    const dw = io.alloc([d], 'float32');
    const { kernels, ptr } = simdOf(backend, 'rmsNorm gradient');
    kernels.rms_bwd(ptr(x), ptr(w), ptr(rstd), ptr(dy), N, d, ptr(dx.info), ptr(dw.info));
    return [dx.info, dw.info];
  };
}

/** 2-D float32 transposes by wasm/c/model.c's 4 x 4 SIMD blocks (matMul2d's gradients); the rest: wasm's own. */
function transposeKernel(original: KernelFn, simd: boolean): KernelFn {
  return (args) => {
    const { x } = args.inputs;
    const perm = args.attrs!.perm as number[];
    if (!simd || x.shape.length !== 2 || perm[0] !== 1 || x.dtype !== 'float32') return original(args);
    const [r, c] = x.shape;
    const io = ioFor('wasm', args.backend, true);
    if (!io.simd) return original(args);
    const out = io.alloc([c, r], x.dtype);
    io.simd.kernels.transpose(io.simd.ptr(x), r, c, io.simd.ptr(out.info));
    return out.info;
  };
}

function replaceKernel(kernelName: string, backendName: string, make: (original: KernelFn | undefined) => KernelFn, variant = false): void {
  const existing = tf.getKernel(kernelName, backendName);
  // Idempotent without module state: our kernels carry a marker property (and which variant they are).
  const mark = (existing?.kernelFunc as { moeBalance?: boolean | string } | undefined)?.moeBalance;
  if (mark === `v${variant}`) return;
  const fn = make(mark ? undefined : (existing?.kernelFunc as KernelFn | undefined));
  (fn as { moeBalance?: boolean | string }).moeBalance = `v${variant}`;
  if (existing) tf.unregisterKernel(kernelName, backendName);
  // Keep the original's set-up (wasm kernels bind their C functions in it, at backend initialisation):
  // a wrapper that falls back on the original needs it.
  tf.registerKernel({ kernelName, backendName, kernelFunc: fn as unknown as tf.KernelFunc, setupFunc: existing?.setupFunc, disposeFunc: existing?.disposeFunc });
}

/**
 * Registers the replacement kernels for a backend (safe to call more than once). `simd`: on wasm, run
 * the cross-entropy and SwiGLU kernels in WebAssembly SIMD (wasm/c/model.c) where it can; default: yes
 * unless MOE_BALANCE_MODEL_KERNELS=typescript. A second call with a different choice re-registers.
 */
export function installKernels(backendName: string, simd = modelKernelsWanted()): void {
  if (backendName !== 'wasm' && backendName !== 'cpu') return;
  // The attention and RMSNorm kernels exist only in SIMD: registered when wanted and compilable, else
  // absent (the model then takes its tfjs ops: attention.ts, rmsNorm.ts).
  const fused = backendName === 'wasm' && simd && modelKernelsValid();
  const simdOnly = [
    [ATTENTION_KERNEL, attentionKernel],
    [ATTENTION_GRAD_KERNEL, attentionGradKernel],
    [RMS_NORM_KERNEL, rmsNormKernel],
    [RMS_NORM_GRAD_KERNEL, rmsNormGradKernel],
  ] as const;
  for (const [name, make] of simdOnly) {
    if (fused) replaceKernel(name, backendName, make);
    else if (tf.getKernel(name, backendName)) tf.unregisterKernel(name, backendName);
  }
  if (backendName === 'wasm') {
    // Wraps wasm's own Transpose, kept as `original` across re-registrations with another choice.
    const existing = tf.getKernel('Transpose', backendName)?.kernelFunc as (KernelFn & { original?: KernelFn }) | undefined;
    const original = existing?.original ?? existing;
    if (original) replaceKernel('Transpose', backendName, () => Object.assign(transposeKernel(original, fused), { original }), fused);
  }
  replaceKernel('UnsortedSegmentSum', backendName, () => segmentSumKernel(backendName, simd), simd);
  replaceKernel('GatherV2', backendName, (orig) => gatherKernel(backendName, orig!));
  replaceKernel(CROSS_ENTROPY_KERNEL, backendName, () => crossEntropyKernel(backendName, simd), simd);
  replaceKernel(SWIGLU_KERNEL, backendName, () => swigluKernel(backendName, simd), simd);
  replaceKernel(SWIGLU_GRAD_KERNEL, backendName, () => swigluGradKernel(backendName, simd), simd);
  if (backendName === 'wasm') {
    replaceKernel('Slice', backendName, (orig) => sliceKernel(orig!));
    replaceKernel('SplitV', backendName, (orig) => splitKernel(orig!));
    replaceKernel('Identity', backendName, (orig) => identityKernel(orig!));
    replaceKernel('Concat', backendName, (orig) => concatKernel(orig!));
  }
}
