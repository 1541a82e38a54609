/**
 * Loading the model kernels (modelWasm.ts, built from c/model.c by scripts/build-model-wasm.sh) onto
 * TensorFlow.js's wasm memory: the module imports that memory, so its functions take tensors' heap
 * offsets and work in place. One instance per memory, kept in a WeakMap (the only module state: a cache
 * that ends with the backend). Where WebAssembly SIMD is missing or a synchronous compile is refused,
 * or with MOE_BALANCE_MODEL_KERNELS=typescript (benchmarks, reference runs), the kernels of
 * model/kernels.ts use their TypeScript loops instead.
 */
import * as tf from '@tensorflow/tfjs';
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

const instances = new WeakMap<WebAssembly.Memory, ModelKernels | null>();

function wasmBytes(): Uint8Array {
  const bin = atob(MODEL_WASM_BASE64);
  const bytes = new Uint8Array(bin.length);
  for (let x = 0; x < bin.length; x++) bytes[x] = bin.charCodeAt(x);
  return bytes;
}

/** True unless MOE_BALANCE_MODEL_KERNELS=typescript. */
export function modelKernelsWanted(): boolean {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.MOE_BALANCE_MODEL_KERNELS !== 'typescript';
}

/** False where this module cannot compile (no WebAssembly SIMD). */
export function modelKernelsValid(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(wasmBytes() as BufferSource);
}

/** The kernels working on `memory`, or null where they cannot run here. */
export function modelKernelsOn(memory: WebAssembly.Memory): ModelKernels | null {
  let k = instances.get(memory);
  if (k === undefined) {
    try {
      const module = new WebAssembly.Module(wasmBytes() as BufferSource);
      k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as ModelKernels;
    } catch {
      k = null;
    }
    instances.set(memory, k);
  }
  return k;
}

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
