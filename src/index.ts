/**
 * moe-balance public API. Balancers work on Float32Array scores (n tokens x m experts, row-major).
 * Nothing here imports a Node-only module, so the same code runs in a browser; file helpers are in
 * moe-balance/node (src/node.ts), the TensorFlow.js MoE layer in moe-balance/tfjs (src/tfjs.ts).
 *
 *     import { createBalancer, maxVio } from 'moe-balance';
 *     const bip = createBalancer('bip', { iters: 4 });
 *     const { experts, weights, loads } = bip.route(scores, n, m, k);
 */
export type { AuxLossResult, Balancer, BalancerState, MethodName, RouteCallOptions, RouteResult } from './routing/types.ts';
export { InputError } from './routing/errors.ts';
export {
  METHODS,
  METHOD_NAMES,
  getMethod,
  resolveOptions,
  parseMethodSpec,
  parseMethodList,
  specLabel,
  type MethodEntry,
  type MethodSpec,
} from './routing/registry.ts';
export { createBalancer, createBalancerAsync, SYNC_METHODS } from './routing/factory.ts';
export type { OptionDecl } from './routing/options.ts';
export type { BipOptions } from './routing/bip.ts';
export type { LossFreeOptions } from './routing/lossFree.ts';
export type { QuantileOptions } from './routing/quantile.ts';
export type { AuxLossOptions } from './routing/auxLoss.ts';
export type { SinkhornOptions } from './routing/sinkhorn.ts';
export type { ExpertChoiceOptions } from './routing/expertChoice.ts';
export type { CapacityOptions } from './routing/capacityFactor.ts';
export type { GroupOptions } from './routing/groupLimited.ts';
export type { OnlineOptions } from './routing/online.ts';
export { TopKBalancer, topk, type TopKOptions } from './routing/topk.ts';
export { initKernels } from './routing/wasm/instance.ts';
export type { KernelChoice } from './routing/wasm/choice.ts';
export { BipBalancer, type BipOrder } from './routing/bip.ts';
export { OnlineBalancer, routeOnline, ONLINE_DEFAULT_RATE, type OnlineScale } from './routing/online.ts';
export { LossFreeBalancer, lossFreeUpdate, type LossFreeUpdate } from './routing/lossFree.ts';
export { QuantileBalancer, quantileHistogram, mergeHistograms, betaFromHistogram, type QuantileHistogram } from './routing/quantile.ts';
export { AuxLossBalancer, auxLoss, type AuxLossForm } from './routing/auxLoss.ts';
export { OptimalBalancer, createOptimalBalancer, loadSolver, solveOptimal, OPTIMAL_MAX_VARIABLES, type OptimalResult, type Solver } from './routing/optimal.ts';
export { SinkhornBalancer, sinkhorn, sinkhornPlan, type SinkhornPlan } from './routing/sinkhorn.ts';
export { ExpertChoiceBalancer, expertChoice } from './routing/expertChoice.ts';
export { CapacityBalancer, dropOverCapacity, expertCapacity, type DropPolicy } from './routing/capacityFactor.ts';
export { GroupLimitedBalancer, chooseGroups, GROUP_METHODS } from './routing/groupLimited.ts';
export { ExactBalancer, checkCertificate, solveExact, ExactInfeasibleError, CERTIFICATE_TOL, type Certificate, type ExactOptions, type ExactRouteResult, type ExactStats } from './routing/exact.ts';
export { GroupExactBalancer, solveGroupExact, groupScoreMatrix, type GroupExactResult } from './routing/exactGroups.ts';
export { routerZLoss } from './routing/zLoss.ts';
export { pairStart, pairEnd, pairTokens, expertsPerToken, unroutedShare } from './routing/ragged.ts';
export { dualIterations, DualWorkspace } from './routing/dual.ts';
export { capacity } from './routing/assign.ts';
export { kthLargest } from './routing/select.ts';
export {
  expertLoads,
  maxVio,
  minVio,
  avgMaxVio,
  supMaxVio,
  scoreSum,
  retention,
  epStepTime,
  droppedTokens,
  groupLoads,
  groupMaxVio,
  BalanceAccumulator,
  type BalanceTotals,
} from './routing/metrics.ts';
export { applyGate, GATES, type Gate } from './routing/gate.ts';
export { Rng } from './util/rng.ts';
export { createShardedBalancer, routeSharded, evenShardSizes, SHARDED_METHODS, type ShardedBalancer } from './routing/sharded.ts';
export { shardedColumnSelect, shardedKthLargest, type ShardedSelectOptions, type ShardedSelectResult, type ShardValues } from './routing/shardedSelect.ts';
export {
  runShards,
  runProgram,
  mergeCollective,
  allReduceSum,
  allReduceMax,
  allGather,
  type Collective,
  type CollectiveOp,
  type CollectiveResult,
  type CommStats,
  type ShardProgram,
  type Transport,
} from './routing/collective.ts';
export { parseNpy, encodeNpy, NpyError, formatShape, type NpyArray, type NpyData, type NpyDtype } from './io/npyFormat.ts';
