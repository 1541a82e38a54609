/**
 * TensorFlow.js backend set-up: select and initialise a backend with the replacement kernels of
 * model/kernels.ts, and read a tensor's storage without a copy.
 *
 *   await setBackend('wasm');   // or 'cpu', or 'tensorflow' when @tensorflow/tfjs-node is installed
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installKernels, type CpuLike, type WasmLike } from './kernels.ts';

export type BackendName = 'wasm' | 'cpu' | 'tensorflow';
export const BACKEND_NAMES: readonly BackendName[] = ['wasm', 'cpu', 'tensorflow'];

/**
 * The storage of a float32 tensor as a typed array, without a copy: a view of the wasm heap, or the cpu
 * backend's own array; null on other backends. Read only: never write into it (wasm's XNNPACK matmul
 * caches packed matrices per tensor and would not see the change). A wasm view is invalidated by the next
 * allocation on the heap, so take it, use it, drop it.
 */
export function storageView(t: tf.Tensor): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const name = tf.getBackend();
  if (name === 'wasm') return (tf.backend() as unknown as WasmLike).typedArrayFromHeap(t) as Float32Array;
  if (name === 'cpu') return (tf.backend() as unknown as CpuLike).readSync(t.dataId) as Float32Array;
  return null;
}

/** A backend that cannot be used here (not installed, failed to start). */
export class BackendError extends Error {
  override name = 'BackendError';
}

/** Selects and initialises a backend, with the replacement kernels of model/kernels.ts. Throws a clear error when unavailable. */
export async function setBackend(name: BackendName): Promise<void> {
  if (name === 'tensorflow') {
    try {
      const mod = '@tensorflow/tfjs-node';
      await import(mod);
    } catch {
      throw new BackendError("backend 'tensorflow' needs @tensorflow/tfjs-node, which is not installed (use wasm or cpu)");
    }
  } else if (!BACKEND_NAMES.includes(name)) {
    throw new BackendError(`unknown backend '${String(name)}' (expected ${BACKEND_NAMES.join(', ')})`);
  }
  installKernels(name);
  // Production mode: no debug checks, and no console banner from the cpu backend on Node.
  tf.enableProdMode();
  const ok = await tf.setBackend(name);
  if (!ok) throw new BackendError(`backend '${name}' failed to initialise`);
  await tf.ready();
}
