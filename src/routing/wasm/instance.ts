/**
 * Loading the routing kernels (kernelsWasm.ts, built from c/ by scripts/build-wasm.sh).
 *
 * Node compiles a module this small synchronously without complaint, so the balancers load the kernels
 * on first use. A browser's main thread refuses synchronous compilation above 4 KB: there, await
 * `initKernels()` once before routing (until it resolves the balancers use the TypeScript path, which
 * gives identical results). Where WebAssembly SIMD is missing, compilation fails and the TypeScript path
 * is used for good. The only module-level state is this cache of the one compiled instance.
 */
import { base64Bytes } from '../../util/wasmModule.ts';
import { KERNELS_WASM_BASE64 } from './kernelsWasm.ts';
import { RoutingKernels, type KernelExports } from './kernels.ts';

type Cache = { state: 'ready'; kernels: RoutingKernels } | { state: 'unavailable'; reason: string };

let cache: Cache | null = null;

const wasmBytes = () => base64Bytes(KERNELS_WASM_BASE64);

function ready(instance: WebAssembly.Instance): Cache {
  return { state: 'ready', kernels: new RoutingKernels(instance.exports as unknown as KernelExports) };
}

/**
 * The kernels, compiled synchronously on first use; null where WebAssembly SIMD is unavailable or
 * synchronous compilation is refused (a browser's main thread before `initKernels()` resolved).
 */
export function loadKernelsSync(): RoutingKernels | null {
  if (cache === null) {
    if (typeof WebAssembly !== 'object') {
      cache = { state: 'unavailable', reason: 'no WebAssembly in this environment' };
    } else {
      try {
        cache = ready(new WebAssembly.Instance(new WebAssembly.Module(wasmBytes() as BufferSource), {}));
      } catch (e) {
        // RangeError: a browser's main thread refusing a synchronous compile; initKernels() can still load.
        if (e instanceof RangeError) return null;
        cache = { state: 'unavailable', reason: `WebAssembly SIMD kernels failed to compile: ${(e as Error).message}` };
      }
    }
  }
  return cache.state === 'ready' ? cache.kernels : null;
}

/**
 * Compiles the kernels asynchronously (what a browser needs); resolves true when they are ready, false
 * when this environment cannot run them (the TypeScript path is then used, with identical results).
 */
export async function initKernels(): Promise<boolean> {
  if (cache === null && typeof WebAssembly === 'object') {
    try {
      const { instance } = await WebAssembly.instantiate(wasmBytes() as BufferSource, {});
      cache = ready(instance);
    } catch (e) {
      cache = { state: 'unavailable', reason: `WebAssembly SIMD kernels failed to compile: ${(e as Error).message}` };
    }
  }
  return loadKernelsSync() !== null;
}

/** Why the kernels are unavailable, or null when they are loaded or not yet tried. */
export function kernelsUnavailableReason(): string | null {
  return cache?.state === 'unavailable' ? cache.reason : null;
}
