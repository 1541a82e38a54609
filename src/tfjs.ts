/**
 * moe-balance/tfjs: the balanced MoE layer for TensorFlow.js models (router + balancer + SwiGLU experts),
 * and the backend set-up whose kernels make it fast on wasm. See src/model/balancedMoe.ts and
 * examples/tfjs-layer.ts.
 *
 *     import { BalancedMoe, setBackend } from 'moe-balance/tfjs';
 *     await setBackend('wasm');
 *     const moe = new BalancedMoe({ dim: 64, numExperts: 8, expertHidden: 128, k: 2, method: 'bip' });
 *     const { y, route } = moe.apply(x);    // x [N, 64] -> y [N, 64]; route.loads: tokens per expert
 */
export { BalancedMoe, type ApplyOptions, type BalancedMoeOptions } from './model/balancedMoe.ts';
export { moeForward, combineExperts, type AuxSpec, type MoeOptions, type MoeOutput, type MoeParams, type ExpertParams } from './model/moe.ts';
export { setBackend, BackendError, BACKEND_NAMES, type BackendName } from './model/backend.ts';
export { installKernels } from './model/kernels.ts';
export type { Balancer, BalancerState, RouteResult } from './routing/types.ts';
