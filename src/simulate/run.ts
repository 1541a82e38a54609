/**
 * The simulation loop: every method routes the same stream of scores, one balancer per method and
 * layer, each carrying its own state (q, b or beta) from step to step. Per step and layer it computes
 * plain top-k once (the retention baseline) and, when asked, the exact LP optimum once; both are shared
 * by all methods. Only the route() call is timed.
 */
import { createBalancer, createBalancerAsync } from '../routing/factory.ts';
import { getMethod, type MethodSpec } from '../routing/registry.ts';
import { loadSolver, solveOptimal } from '../routing/optimal.ts';
import { groupMaxVio, maxVio, minVio, scoreSum } from '../routing/metrics.ts';
import { expertsPerToken } from '../routing/ragged.ts';
import { InputError } from '../routing/errors.ts';
import type { Balancer } from '../routing/types.ts';
import { round, type StepRecord } from './record.ts';
import { checkShards, createShardSets } from './shardCheck.ts';
import type { ScoreStream } from './streams.ts';

/** Largest n·m for which `optimal: 'auto'` solves the LP (the bound). */
export const OPTIMAL_AUTO_LIMIT = 65536;

/** The simulator's default methods (specs of the registry's grammar). */
export const DEFAULT_METHODS: readonly string[] = ['topk', 'lossfree', 'quantile', 'bip-T1', 'bip-T2', 'bip-T4'];

export interface SimulateOptions {
  /** Experts per token. */
  k: number;
  methods: readonly MethodSpec[];
  /** Solve the LP optimum per step and layer: 'auto' (when n·m <= 65536, default), 'on' or 'off'. */
  optimal?: 'auto' | 'on' | 'off';
  /** Time route() (default true); off writes routingMs: null and makes the whole log deterministic. */
  timing?: boolean;
  /** Called with each record, in order (step, layer, method). */
  onRecord: (r: StepRecord) => void;
  /** Expert groups (devices) for the group MaxVio of every method; absent: only methods with their own groups option. */
  groups?: number;
  /** Called after each step with the number of steps done. */
  onStep?: (done: number) => void;
  /** W > 1: also route every batch as W shards, check it equals the single-process routing, record the bytes. */
  shards?: number;
}

/** Whether the LP optimum will be solved for this stream and option. */
export function usesOptimal(stream: Pick<ScoreStream, 'n' | 'm'>, optimal: 'auto' | 'on' | 'off' = 'auto'): boolean {
  return optimal === 'on' || (optimal === 'auto' && stream.n * stream.m <= OPTIMAL_AUTO_LIMIT);
}

/** Builds every balancer up front, so that a bad method or option fails before any work is done. */
export async function createMethodBalancers(methods: readonly MethodSpec[], layers: number): Promise<Balancer[][]> {
  const out: Balancer[][] = [];
  for (const spec of methods) {
    const perLayer: Balancer[] = [];
    for (let l = 0; l < layers; l++) {
      try {
        perLayer.push(await createBalancerAsync(spec.method, spec.options));
      } catch (err) {
        if (err instanceof Error && err.name === 'InputError') throw new InputError(`method '${spec.label}': ${err.message}`);
        throw err;
      }
    }
    out.push(perLayer);
  }
  return out;
}

export async function simulate(stream: ScoreStream, options: SimulateOptions): Promise<void> {
  const { k, methods, optimal = 'auto', timing = true, onRecord, onStep, shards = 1 } = options;
  const { n, m, layers } = stream;
  if (!Number.isInteger(k) || k < 1 || k >= m) throw new InputError(`k must be an integer in [1, m-1] = [1, ${m - 1}], got ${k}`);
  if (!Number.isInteger(shards) || shards < 1 || shards > n) throw new InputError(`shards must be an integer in [1, n] = [1, ${n}], got ${shards}`);
  if (options.groups !== undefined && (!Number.isInteger(options.groups) || options.groups < 1 || m % options.groups !== 0)) {
    throw new InputError(`groups must be an integer >= 1 dividing m=${m}, got ${options.groups}`);
  }
  const groupsOf = methods.map((s) => options.groups ?? (typeof s.options.groups === 'number' ? s.options.groups : undefined));
  const balancers = await createMethodBalancers(methods, layers);
  const shardSets = shards > 1 ? createShardSets(methods, layers, shards) : null;
  const baseline = createBalancer('topk');
  const solver = usesOptimal(stream, optimal) ? await loadSolver() : null;

  let step = 0;
  for (const batch of stream.batches()) {
    step++;
    // Warm the JIT before the first timed call: each method routes the first batch once with a
    // throwaway balancer (the real ones keep their fresh state), so step 1's routingMs is not compile time.
    if (step === 1 && timing) {
      for (const spec of methods) if (!getMethod(spec.method).asyncOnly) createBalancer(spec.method, spec.options).route(batch[0], n, m, k);
    }
    for (let layer = 0; layer < layers; layer++) {
      const scores = batch[layer];
      const topkSum = scoreSum(scores, baseline.route(scores, n, m, k));
      const optSum = solver ? solveOptimal(solver, scores, n, m, k).objective : null;
      for (let t = 0; t < methods.length; t++) {
        const balancer = balancers[t][layer];
        const t0 = performance.now();
        const result = balancer.route(scores, n, m, k);
        const ms = performance.now() - t0;
        const sum = scoreSum(scores, result);
        const record: StepRecord = {
          step,
          layer,
          method: methods[t].label,
          maxVio: round(maxVio(result.loads, n, k)),
          minVio: round(minVio(result.loads, n, k)),
          retention: round(ratio(sum, topkSum)),
          routingMs: timing ? round(ms, 3) : null,
        };
        if (optSum !== null) record.retentionOpt = round(ratio(sum, optSum));
        const set = shardSets?.[t][layer];
        if (set) {
          const cost = checkShards(set, balancer, result, scores, `--shards ${shards}: ${methods[t].label} step ${step} layer ${layer}`);
          record.shardBytes = cost.bytes;
          record.shardRounds = cost.rounds;
        }
        if (result.dropped !== undefined) {
          record.dropped = result.dropped;
          record.droppedShare = round(result.dropped / (n * k));
        }
        if (result.offsets) {
          const hist = expertsPerToken(result);
          record.unrouted = round(hist[0] / n);
          record.perToken = Array.from(hist);
        }
        const G = groupsOf[t];
        if (G !== undefined) record.groupMaxVio = round(groupMaxVio(result.loads, G, n, k));
        onRecord(record);
      }
    }
    onStep?.(step);
    // Let timers run (the progress bar redraws on a timer) between steps of this otherwise synchronous loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** a / b, with 0 / 0 = 1 (an all-zero batch: every method keeps all of nothing). */
function ratio(a: number, b: number): number {
  return b === 0 ? (a === 0 ? 1 : Infinity) : a / b;
}
