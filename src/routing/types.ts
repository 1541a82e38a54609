/**
 * Types shared by every balancer. Vocabulary (used the same way in code, logs and docs):
 * - `scores`: the n x m router scores after the gate (softmax or sigmoid), row-major Float32Array,
 *   `scores[i * m + j]` is token i's score for expert j. Selection is made on scores (plus a bias).
 * - `experts`: for each token its k chosen expert ids, Int32Array of n * k, token i at [i*k, i*k + k).
 * - `weights`: the k combine weights of each token, the ORIGINAL scores of the chosen experts,
 *   renormalised to sum 1 when k > 1 (a bias never enters the weights).
 * - `loads`: tokens routed to each expert in the batch (Int32Array of m), summing to n * k.
 * - `capacity`: c = k * n / m, the balanced load (ceil'd where an integer is needed).
 * - ragged routing: Expert Choice and capacity dropping give a token 0 or more experts (not exactly k);
 *   such a result carries `offsets` (see RouteResult) and every consumer reads pairs through them.
 */

/** A method's name as the registry (registry.ts) lists it: topk, bip, lossfree, quantile, auxloss, optimal, ... */
export type MethodName = string;

/** What one `route` call returns. */
export interface RouteResult {
  n: number;
  m: number;
  k: number;
  /**
   * n * k expert ids; token i's ids at [i*k, i*k + k), in decreasing order of the selection key.
   * Ragged (when `offsets` is set): token i's ids at [offsets[i], offsets[i+1]), any number 0..m.
   */
  experts: Int32Array;
  /**
   * One combine weight per id: the original scores of the chosen experts, renormalised over the token's
   * k choices when k > 1. With dropping, a kept pair keeps its pre-drop weight (Switch/Megatron: the
   * dropped share is lost, not redistributed); Expert Choice uses the raw score (Zhou et al. 2022).
   */
  weights: Float32Array;
  /** m loads (the tokens each expert processes), summing to experts.length (n * k when not ragged). */
  loads: Int32Array;
  /**
   * Only for ragged routings (Expert Choice, capacity dropping): n + 1 offsets into experts/weights,
   * offsets[0] = 0, offsets[n] = experts.length. Absent: exactly k ids per token at [i*k, i*k + k).
   */
  offsets?: Int32Array;
  /** With a capacity factor: the (token, expert) pairs dropped over capacity (residual only). */
  dropped?: number;
  /**
   * With a capacity factor: the n * k ids chosen before dropping. The trainer renormalises the gate over
   * these (so kept pairs have their pre-drop weight in the graph too).
   */
  preDrop?: Int32Array;
}

/** Extra outputs of the auxiliary-loss method (§4 of algorithms.md). */
export interface AuxLossResult extends RouteResult {
  /** alpha * sum_j f_j * P_j (global) or its mean over sequences (sequence form). */
  auxLoss: number;
  /** d auxLoss / d scores, n * m, treating f (a count of selections) as a constant. */
  auxGrad: Float32Array;
}

/** Per-call options. */
export interface RouteCallOptions {
  /**
   * Whether the call may change the balancer's state (default true). Evaluation passes false:
   * it routes with the current state and leaves it untouched.
   */
  update?: boolean;
}

/** JSON-serialisable balancer state: { q } for bip, { b } for lossfree, { beta } for quantile, {} otherwise. */
export type BalancerState = Record<string, number[]>;

/** A balancer for one MoE layer: owns its state (q, b or beta) and carries it from call to call. */
export interface Balancer {
  readonly method: MethodName;
  route(scores: Float32Array, n: number, m: number, k: number, opts?: RouteCallOptions): RouteResult;
  /** A copy of the state, as plain arrays (JSON-safe). */
  getState(): BalancerState;
  /** Restores a state written by getState(); throws if keys or sizes do not fit. */
  setState(state: BalancerState): void;
  /** Back to the initial state (zeros). */
  reset(): void;
}
