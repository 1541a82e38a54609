/**
 * What the three WebAssembly modules (routing kernels, model kernels, optimizer kernels) share in
 * loading: their bytes are stored as base64 in generated TypeScript files (no file system access, so
 * the package also runs in a browser), the model and optimizer modules import the memory they work on,
 * and an environment variable can turn each off in favour of its TypeScript path.
 */

/** The bytes of a module stored as base64 (the generated kernelsWasm.ts, modelWasm.ts, optimizerWasm.ts). */
export function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let x = 0; x < bin.length; x++) bytes[x] = bin.charCodeAt(x);
  return bytes;
}

/**
 * A loader of a module that imports its memory (`env.memory`): one instance per memory, cached in a
 * WeakMap held by the returned function (the cache ends with the memory), null where it cannot
 * instantiate (no WebAssembly SIMD, a shared/unshared mismatch, a browser main thread refusing a
 * synchronous compile).
 */
export function instancesOnMemory<T>(b64: string): (memory: WebAssembly.Memory) => T | null {
  const instances = new WeakMap<WebAssembly.Memory, T | null>();
  return (memory) => {
    let k = instances.get(memory);
    if (k === undefined) {
      try {
        const module = new WebAssembly.Module(base64Bytes(b64) as BufferSource);
        k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as T;
      } catch {
        k = null;
      }
      instances.set(memory, k);
    }
    return k;
  };
}

/** False when the environment variable `name` is 'typescript' (benchmarks and reference runs). */
export function kernelsWanted(name: string): boolean {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.[name] !== 'typescript';
}
