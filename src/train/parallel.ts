/**
 * Data-parallel training step (`train --workers W`): the batch's B sequences are split into W contiguous
 * shares; rank w runs forward and backward on its share with its own TensorFlow.js model, and every MoE
 * layer routes through a sharded balancer (routing/sharded.ts) whose collectives run over the group's
 * shared memory, so every token gets the experts the single-process run would give it. Then:
 *
 *   g = Σ_w (B_w / B) · g_w        (each rank's gradient of its share's mean loss, summed in rank order)
 *
 * which is the gradient of the whole batch's mean loss; the sum and the AdamW step are split over the
 * ranks by element range (shardedOptimizer.ts), on parameters and moments held once in shared memory, and
 * every rank uploads the same updated parameters. Rank 0 (the main
 * thread) keeps the run's optimizer state, balancer states, checkpoints, log and evaluation.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { storageView } from '../model/backend.ts';
import { emptyStats, type ForwardStats, type MoeTransformer } from '../model/transformer.ts';
import { runProgram, type Transport } from '../routing/collective.ts';
import { createShardedBalancer, type ShardedBalancer } from '../routing/sharded.ts';
import type { Balancer, BalancerState, MethodName, RouteCallOptions, RouteResult } from '../routing/types.ts';
import type { TrainConfig } from './config.ts';
import type { AdamWState } from './optimizer.ts';
import type { StepPhases } from './phases.ts';
import type { ShardedAdamW } from './shardedOptimizer.ts';
import type { GroupMemory, WorkerGroup } from './workerGroup.ts';

/** A sharded balancer behind the single-process Balancer interface: each route call runs its collectives. */
export class ShardedLayerBalancer implements Balancer {
  readonly method: MethodName;

  /** tokenOffset: the index of this rank's first token in the whole batch, for the tie rule (i mod m). */
  constructor(
    private readonly sharded: ShardedBalancer,
    private readonly transport: Transport,
    private readonly tokenOffset: number,
  ) {
    this.method = sharded.method;
  }

  route(scores: Float32Array, n: number, m: number, k: number, opts?: RouteCallOptions): RouteResult {
    return runProgram(this.sharded.routeShard(scores, n, m, k, opts, this.tokenOffset), this.transport);
  }

  getState(): BalancerState {
    return this.sharded.getState();
  }

  setState(state: BalancerState): void {
    this.sharded.setState(state);
  }

  reset(): void {
    this.sharded.reset();
  }
}

/** Rank w's share of the B sequences: [first, first + count). */
export function shareOf(B: number, W: number, w: number): { first: number; count: number } {
  const base = Math.floor(B / W);
  const extra = B % W;
  return { first: w * base + Math.min(w, extra), count: base + (w < extra ? 1 : 0) };
}

/** Float64 entries of a rank's statistics slot: the four loss parts, every layer's loads and experts. */
export function statsSize(cfg: TrainConfig): number {
  return LOSS_PARTS + cfg.layers * (cfg.numExperts + cfg.batchSize * cfg.seqLen * cfg.topK);
}

/** loss, lmLoss, auxLoss, zLoss. */
const LOSS_PARTS = 4;

export interface StepInput {
  /** This rank's sequences (token ids and targets), count·T each. */
  x: Int32Array;
  y: Int32Array;
  /** This rank's first sequence, the sequences in its share, and in the whole batch. */
  first: number;
  count: number;
  B: number;
  lr: number;
}

/**
 * One data-parallel step on this rank. `loss` runs forward and backward on the share (the caller binds
 * the model, routers and auxiliary-loss options). Returns the whole batch's loss parts and the routes
 * with the whole batch's loads (n = B·T), equal on every rank. Throws `onNonFinite(loss)` on every rank
 * alike when the batch loss is not finite.
 */
export function dataParallelStep(
  model: MoeTransformer,
  lossOf: (x: Int32Array, y: Int32Array, count: number, stats: ForwardStats) => tf.Scalar,
  input: StepInput,
  cfg: TrainConfig,
  optimizer: ShardedAdamW,
  group: WorkerGroup,
  onNonFinite: (loss: number) => Error,
): { loss: number; stats: ForwardStats; phases: StepPhases } {
  const stats = emptyStats();
  const scale = input.count / input.B;
  const slot = group.gradSlot();
  const varList = [...model.params.values()];
  let local = NaN;
  const wait0 = group.waitMs;
  const t0 = performance.now();
  let t1 = t0;
  let t2 = t0;
  tf.tidy(() => {
    const forward = () => {
      const loss = lossOf(input.x, input.y, input.count, stats);
      t1 = performance.now();
      return loss;
    };
    const { value, grads } = tf.variableGrads(forward, varList);
    local = value.dataSync()[0];
    t2 = performance.now();
    // This share's gradient as it is (a plain copy); the reduction weighs it by B_w / B.
    let o = 0;
    for (const p of model.params.values()) {
      const gt = grads[p.name];
      const g = gt ? (storageView(gt) ?? (gt.dataSync() as Float32Array)) : null;
      if (g) slot.set(g, o);
      else slot.fill(0, o, o + p.size);
      o += p.size;
    }
  });
  // Statistics slot: [loss, lmLoss, auxLoss, zLoss | loads, layer by layer | experts of all N tokens, layer by
  // layer]; zeros outside this rank's tokens, so that the sum over ranks is the whole batch's.
  const m = cfg.numExperts;
  const k = cfg.topK;
  const n = input.B * cfg.seqLen;
  const mine = group.statsSlot();
  mine.fill(0);
  mine[0] = local * scale;
  mine[1] = stats.lmLoss * scale;
  mine[2] = stats.auxLoss * scale;
  mine[3] = stats.zLoss * scale;
  const expertsAt = (l: number) => LOSS_PARTS + cfg.layers * m + l * n * k;
  stats.routes.forEach((r, l) => {
    for (let j = 0; j < m; j++) mine[LOSS_PARTS + l * m + j] = r.loads[j];
    mine.set(r.experts, expertsAt(l) + input.first * cfg.seqLen * k);
  });
  group.barrier();
  // Every rank sums the same slots in the same order: the same bits everywhere. The statistics slots are
  // written again only after the optimizer's barriers below, which every rank passes after this read.
  const total = new Float64Array(mine.length);
  for (let w = 0; w < group.W; w++) {
    const s = group.statsSlot(w);
    for (let x = 0; x < total.length; x++) total[x] += s[x];
  }
  const loss = total[0];
  if (!Number.isFinite(loss)) throw onNonFinite(loss);
  stats.lmLoss = total[1];
  stats.auxLoss = total[2];
  stats.zLoss = total[3];
  // The whole batch's routing (combine weights stay this rank's: nothing downstream reads them).
  stats.routes = stats.routes.map((r, l) => ({
    ...r,
    n,
    loads: Int32Array.from(total.subarray(LOSS_PARTS + l * m, LOSS_PARTS + (l + 1) * m)),
    experts: Int32Array.from(total.subarray(expertsAt(l), expertsAt(l) + n * k)),
  }));
  const t3 = performance.now();
  optimizer.step(
    input.lr,
    Array.from({ length: group.W }, (_, w) => shareOf(input.B, group.W, w).count / input.B),
  );
  const phases: StepPhases = {
    forward: t1 - t0 - stats.routingMs,
    routing: stats.routingMs,
    backward: t2 - t1,
    exchange: t3 - t2,
    optimizer: performance.now() - t3,
    waits: group.waitMs - wait0,
  };
  return { loss, stats, phases };
}

/**
 * What rank 0 sends a helper once, before the first step: the optimizer's step and the balancer states
 * (the parameters and moments are in the group's shared memory already).
 */
export interface InitMessage {
  type: 'init';
  adamT: number;
  balancers: BalancerState[];
}

/** What rank 0 sends a helper each step: its share of the batch. */
export interface StepMessage {
  type: 'step';
  step: number;
  input: StepInput;
}

/** The data the helper worker (worker.ts) is started with. */
export interface HelperData {
  cfg: TrainConfig;
  rank: number;
  mem: GroupMemory;
}

/**
 * The helper thread's entry: from the TypeScript sources, a small loader that registers tsx in the new
 * thread first; from the compiled package (dist/), the compiled worker itself.
 */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './workerEntry.mjs' : './worker.js', import.meta.url);

/**
 * Starts ranks 1..W−1 as worker threads, each with its own model, sends them rank 0's optimizer step and
 * balancer states (the parameters and moments: `adam` is already shared, shareAdamState), so a resumed run,
 * with any W, starts every rank equal, and waits until each has applied them (a helper that fails to
 * start is an error here, with its message).
 */
export async function startHelpers(cfg: TrainConfig, group: WorkerGroup, adam: AdamWState, balancers: Balancer[]): Promise<Worker[]> {
  const init: InitMessage = { type: 'init', adamT: adam.t, balancers: balancers.map((b) => b.getState()) };
  const helpers: Worker[] = [];
  for (let rank = 1; rank < group.W; rank++) {
    const data: HelperData = { cfg, rank, mem: group.mem };
    const w = new Worker(WORKER_URL, { workerData: data });
    // A helper that dies outside a step fails the group, so rank 0 stops at its next barrier.
    w.on('error', (e) => group.fail(`worker thread error: ${e.message}`));
    w.postMessage(init);
    helpers.push(w);
  }
  try {
    await Promise.all(
      helpers.map(
        (w, i) =>
          new Promise<void>((resolve, reject) => {
            w.once('message', (m: { type: string }) => (m.type === 'ready' ? resolve() : reject(new Error(`worker ${i + 1}: unexpected message`))));
            w.once('error', (e) => reject(new Error(`data-parallel worker ${i + 1} failed to start: ${e.message}`)));
            w.once('exit', (code) => reject(new Error(`data-parallel worker ${i + 1} exited with code ${code} before starting`)));
          }),
      ),
    );
  } catch (e) {
    await Promise.all(helpers.map((h) => h.terminate()));
    throw e;
  }
  return helpers;
}

/** Sends every helper its share of the batch; rank 0 then runs its own share (dataParallelStep). */
export function sendShares(helpers: Worker[], step: number, x: Int32Array, y: Int32Array, B: number, T: number, lr: number): StepInput {
  const W = helpers.length + 1;
  helpers.forEach((h, i) => {
    const { first, count } = shareOf(B, W, i + 1);
    const msg: StepMessage = { type: 'step', step, input: { x: x.slice(first * T, (first + count) * T), y: y.slice(first * T, (first + count) * T), first, count, B, lr } };
    h.postMessage(msg);
  });
  const { count } = shareOf(B, W, 0);
  return { x: x.subarray(0, count * T), y: y.subarray(0, count * T), first: 0, count, B, lr };
}

/**
 * The sharded balancers of one rank, one per layer, over the group's transport. The rank's tokens are
 * rows [first·T, (first + count)·T) of the batch's [B·T, m] scores (sequence-major), so exact ties are
 * broken by the same global token index as in one process.
 */
export function shardedLayers(
  method: string,
  options: Record<string, unknown>,
  cfg: Pick<TrainConfig, 'layers' | 'batchSize' | 'seqLen'>,
  group: Pick<WorkerGroup, 'W' | 'rank' | 'transport'>,
): Balancer[] {
  const offset = shareOf(cfg.batchSize, group.W, group.rank).first * cfg.seqLen;
  return Array.from({ length: cfg.layers }, () => new ShardedLayerBalancer(createShardedBalancer(method, options), group.transport, offset));
}
