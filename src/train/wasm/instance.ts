/**
 * Loading the data-parallel optimizer's kernels (optimizerWasm.ts, built from c/optimizer.c by
 * scripts/build-optimizer-wasm.sh) onto a worker group's shared WebAssembly memory: the module imports it,
 * so its functions take byte offsets in it and work in place. One instance per memory and thread, kept in
 * a WeakMap (a cache that ends with the memory). Where WebAssembly SIMD or shared memory is missing, or
 * with MOE_BALANCE_OPTIMIZER_KERNELS=typescript, ShardedAdamW runs its TypeScript loops instead.
 */
import { OPTIMIZER_WASM_BASE64 } from './optimizerWasm.ts';

/** The exports of c/optimizer.c; pointers are byte offsets in the imported memory. */
export interface OptimizerKernels {
  reduce2(a: number, b: number, sa: number, sb: number, out: number, n: number): number;
  adamw(w: number, g: number, m: number, v: number, n: number, b1: number, c1: number, b2: number, c2: number, scale: number, inv2: number, eps: number, keep: number, a: number): void;
}

const instances = new WeakMap<WebAssembly.Memory, OptimizerKernels | null>();

function wasmBytes(): Uint8Array {
  const bin = atob(OPTIMIZER_WASM_BASE64);
  const bytes = new Uint8Array(bin.length);
  for (let x = 0; x < bin.length; x++) bytes[x] = bin.charCodeAt(x);
  return bytes;
}

/** True unless MOE_BALANCE_OPTIMIZER_KERNELS=typescript. */
export function optimizerKernelsWanted(): boolean {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.MOE_BALANCE_OPTIMIZER_KERNELS !== 'typescript';
}

/** The kernels working on the shared `memory`, or null where they cannot run here. */
export function optimizerKernelsOn(memory: WebAssembly.Memory): OptimizerKernels | null {
  let k = instances.get(memory);
  if (k === undefined) {
    try {
      const module = new WebAssembly.Module(wasmBytes() as BufferSource);
      k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as OptimizerKernels;
    } catch {
      k = null;
    }
    instances.set(memory, k);
  }
  return k;
}

/**
 * A shared WebAssembly memory of at least `bytes` bytes (never grown, so views of its buffer stay valid),
 * or null where one cannot be made (no shared memory here, or more than wasm32's 4 GiB).
 */
export function sharedWasmMemory(bytes: number): WebAssembly.Memory | null {
  const pages = Math.ceil(bytes / 65536);
  if (pages > 65536) return null;
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch {
    return null;
  }
}
