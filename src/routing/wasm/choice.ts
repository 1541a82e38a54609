/**
 * Which implementation of the hot loops a balancer uses: the WebAssembly SIMD kernels ('wasm') or the
 * TypeScript reference ('typescript'); both give bit-identical results (test/wasm-equality.test.ts).
 * 'auto' (the default) means 'wasm' where it can run (WebAssembly SIMD present, k + 1 <= 32) and
 * 'typescript' elsewhere; the environment variable MOE_BALANCE_KERNELS=typescript (or =wasm) overrides
 * 'auto', so that a whole test suite can run on either path.
 */
import { InputError } from '../errors.ts';
import { validateRouteInput, validateRouteShape } from '../validate.ts';
import { kernelsUnavailableReason, loadKernelsSync } from './instance.ts';
import { MAX_K, type RoutingKernels } from './kernels.ts';

export type KernelChoice = 'auto' | 'wasm' | 'typescript';

export const KERNEL_CHOICES: readonly KernelChoice[] = ['auto', 'wasm', 'typescript'];

function fromEnvironment(): KernelChoice {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  const v = proc?.env?.MOE_BALANCE_KERNELS;
  return v === 'typescript' || v === 'wasm' ? v : 'auto';
}

/** The kernels to use for a call with k experts per token, or null for the TypeScript path. */
export function kernelsFor(choice: KernelChoice, k: number): RoutingKernels | null {
  const c = choice === 'auto' ? fromEnvironment() : choice;
  if (c === 'typescript' || k > MAX_K) return null;
  const kernels = loadKernelsSync();
  if (kernels === null && c === 'wasm') {
    throw new InputError(`kernels 'wasm' requested but unavailable: ${kernelsUnavailableReason() ?? 'await initKernels() first'}`);
  }
  return kernels;
}

/**
 * Checks a call's input and picks its kernels. With the wasm kernels the finiteness scan happens in
 * SIMD while they load the scores (same InputError); on the TypeScript path it happens here.
 */
export function checkedKernels(choice: KernelChoice, scores: Float32Array, n: number, m: number, k: number): RoutingKernels | null {
  validateRouteShape(scores, n, m, k);
  const kernels = kernelsFor(choice, k);
  if (kernels === null) validateRouteInput(scores, n, m, k);
  return kernels;
}
