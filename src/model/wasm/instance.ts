/**
 * Loading the model kernels (modelWasm.ts, built from c/model.c by scripts/build-model-wasm.sh) onto
 * TensorFlow.js's wasm memory: the module imports that memory, so its functions take tensors' heap
 * offsets and work in place. One instance per memory (a cache that ends with the backend;
 * util/wasmModule.ts). Where WebAssembly SIMD is missing or a synchronous compile is refused,
 * or with MOE_BALANCE_MODEL_KERNELS=typescript (benchmarks, reference runs), the kernels of
 * model/kernels.ts use their TypeScript loops instead.
 */
import * as tf from '@tensorflow/tfjs';
import { base64Bytes, instancesOnMemory, kernelsWanted } from '../../util/wasmModule.ts';
import { MODEL_WASM_BASE64 } from './modelWasm.ts';

/** The exports of c/model.c; pointers are byte offsets in the imported memory. */
export interface ModelKernels {
  ce_rows(z: number, y: number, N: number, V: number, g: number, stats: number): number;
  transpose(g: number, N: number, V: number, gt: number): void;
  swiglu(gu: number, n: number, h: number, a: number): void;
  swiglu_grad(gu: number, da: number, n: number, h: number, dgu: number): void;
  attn_fwd(qkv: number, cos: number, sin: number, B: number, T: number, H: number, hd: number, scale: number, o: number, p: number, scr: number): void;
  segment_sum(x: number, ids: number, rows: number, inner: number, segments: number, out: number): void;
  rms_fwd(x: number, w: number, N: number, d: number, eps: number, y: number, rstd: number): void;
  rms_bwd(x: number, w: number, rstd: number, dy: number, N: number, d: number, dx: number, dw: number): void;
  attn_bwd(qkv: number, cos: number, sin: number, p: number, dout: number, B: number, T: number, H: number, hd: number, scale: number, dqkv: number, scr: number): void;
}

/** True unless MOE_BALANCE_MODEL_KERNELS=typescript. */
export function modelKernelsWanted(): boolean {
  return kernelsWanted('MOE_BALANCE_MODEL_KERNELS');
}

/** False where this module cannot compile (no WebAssembly SIMD). */
export function modelKernelsValid(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(base64Bytes(MODEL_WASM_BASE64) as BufferSource);
}

/** The kernels working on `memory`, or null where they cannot run here. */
export const modelKernelsOn = instancesOnMemory<ModelKernels>(MODEL_WASM_BASE64);

/**
 * The kernels on the current backend's memory, or null (not wasm, or they cannot be instantiated here:
 * a browser's main thread refuses to compile this module synchronously). The fused attention and
 * RMSNorm, which have no TypeScript loop behind them, are used only when this is not null.
 */
export function modelKernelsOnBackend(): ModelKernels | null {
  if (tf.getBackend() !== 'wasm') return null;
  const memory = (tf.backend() as unknown as { wasm?: { asm?: { memory?: WebAssembly.Memory } } }).wasm?.asm?.memory;
  return memory ? modelKernelsOn(memory) : null;
}
