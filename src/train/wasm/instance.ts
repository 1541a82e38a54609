/**
 * Loading the data-parallel optimizer's kernels (optimizerWasm.ts, built from c/optimizer.c by
 * scripts/build-optimizer-wasm.sh) onto a worker group's shared WebAssembly memory: the module imports it,
 * so its functions take byte offsets in it and work in place. One instance per memory and thread
 * (util/wasmModule.ts). Where WebAssembly SIMD or shared memory is missing, or
 * with MOE_BALANCE_OPTIMIZER_KERNELS=typescript, ShardedAdamW runs its TypeScript loops instead.
 */
import { instancesOnMemory, kernelsWanted } from '../../util/wasmModule.ts';
import { OPTIMIZER_WASM_BASE64 } from './optimizerWasm.ts';

/** The exports of c/optimizer.c; pointers are byte offsets in the imported memory. */
export interface OptimizerKernels {
  reduce2(a: number, b: number, sa: number, sb: number, out: number, n: number): number;
  adamw(w: number, g: number, m: number, v: number, n: number, b1: number, c1: number, b2: number, c2: number, scale: number, inv2: number, eps: number, keep: number, a: number): void;
}

/** True unless MOE_BALANCE_OPTIMIZER_KERNELS=typescript. */
export function optimizerKernelsWanted(): boolean {
  return kernelsWanted('MOE_BALANCE_OPTIMIZER_KERNELS');
}

/** The kernels working on the shared `memory`, or null where they cannot run here. */
export const optimizerKernelsOn = instancesOnMemory<OptimizerKernels>(OPTIMIZER_WASM_BASE64);

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
