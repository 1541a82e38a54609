/**
 * The training loop: AdamW + cosine schedule + clipping on the MoE transformer, every MoE layer routed
 * by its own balancer from the routing core. Writes OUT/config.json, OUT/log.jsonl and checkpoints
 * (see log.ts and checkpoint.ts for the formats), and resumes a stopped run exactly.
 *
 *   const summary = await train({ config: resolveConfig({ file: 'configs/tiny.json' }), outDir: 'runs/t', data });
 *
 * One step: sample a batch, forward (routing reads each layer's scores out of the graph and calls
 * balancer.route, which updates the balancer's state), backward, clip, AdamW, log. The seed fixes the
 * initial parameters and the data order, so runs with different methods see identical data and init.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BatchSampler, evalBatches, type Batch } from '../data/batches.ts';
import { setBackend, storageView } from '../model/backend.ts';
import { initParams, paramSpecs } from '../model/params.ts';
import { MoeTransformer, emptyStats, type ForwardOptions, type ForwardStats } from '../model/transformer.ts';
import { InputError } from '../routing/errors.ts';
import { createBalancer } from '../routing/factory.ts';
import { createShardedBalancer } from '../routing/sharded.ts';
import { resolveOptions } from '../routing/registry.ts';
import type { AuxLossForm } from '../routing/auxLoss.ts';
import { BalanceAccumulator, groupMaxVio, maxVio, minVio } from '../routing/metrics.ts';
import { expertsPerToken } from '../routing/ragged.ts';
import type { Balancer, RouteResult } from '../routing/types.ts';
import { hasCheckpoint, loadCheckpoint, removeCheckpoint, removeStaleTemporaries, saveCheckpoint, type RunningMetrics } from './checkpoint.ts';
import { balancerOptions, ConfigError, renameOldKeys, type TrainConfig } from './config.ts';
import { appendLogLine, truncateLog, type EvalLine, type LayerLog, type StepLine, type SummaryLine } from './log.ts';
import { adamOptions, adamWStep, initAdamWState, masterParams, type AdamWState } from './optimizer.ts';
import { dataParallelStep, sendShares, shardedLayers, startHelpers, statsSize, type StepInput } from './parallel.ts';
import type { StepPhases } from './phases.ts';
import { makeProgress } from './progress.ts';
import { learningRate } from './schedule.ts';
import { shareAdamState, ShardedAdamW } from './shardedOptimizer.ts';
import { allocGroupMemory, WorkerGroup } from './workerGroup.ts';

/** Token data for training: what loadDataset returns, minus the tokenizer. */
export interface TrainData {
  name: string;
  vocabSize: number;
  train: Int32Array;
  val: Int32Array;
}

export interface TrainOptions {
  /** The effective configuration (from resolveConfig / finalizeConfig). */
  config: TrainConfig;
  outDir: string;
  data: TrainData;
  /** Continue from OUT/checkpoint.json. */
  resume?: boolean;
  /** No progress output. */
  quiet?: boolean;
  /**
   * Data-parallel ranks (default 1): W threads each run forward and backward on 1/W of the batch, routing
   * through sharded balancers (the single-process routing) and summing gradients (parallel.ts). Not part
   * of the config: a run may be resumed with another W.
   */
  workers?: number;
  /** Stop after this step as if killed: no final evaluation, checkpoint or summary (tests). */
  stopAfterStep?: number;
  /**
   * Set `requested` (e.g. from a SIGINT handler) to stop after the current step with a checkpoint; the
   * loop yields to the event loop between steps so that such handlers can run.
   */
  stop?: { requested: boolean };
  /** Test seams: run before each step / after each logged step. */
  hooks?: {
    /** May change parameters only to provoke a failure: the optimizer keeps its own copy of them. */
    beforeStep?: (step: number, model: MoeTransformer) => void;
    afterStep?: (line: StepLine) => void;
    /** Every layer's routing of the whole batch at this step (with W workers too). */
    afterRoutes?: (step: number, routes: RouteResult[]) => void;
    /** Where the step's time went (rank 0's view with W workers). */
    afterPhases?: (step: number, phases: StepPhases) => void;
  };
}

export interface TrainResult {
  summary: SummaryLine | null;
  lastStep: number;
  /** True when opts.stop ended the run early (a checkpoint of lastStep was written). */
  interrupted: boolean;
}

/** Training stopped for a reason the user must see (divergence, incompatible resume). */
export class TrainingError extends Error {
  override name = 'TrainingError';
}

/** Config keys a resumed run may change (they do not affect the numbers of the steps). */
const RESUMABLE_CHANGES = new Set(['steps', 'evalEvery', 'checkpointEvery', 'logEvery', 'evalBatches']);

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { config: cfg, outDir, data } = opts;
  if (data.vocabSize !== cfg.vocabSize) {
    throw new ConfigError(`config key 'vocabSize' is ${cfg.vocabSize} but the data's tokenizer has ${data.vocabSize}`);
  }
  checkDataSize(data, cfg);
  await setBackend(cfg.backend);
  mkdirSync(outDir, { recursive: true });
  removeStaleTemporaries(outDir);
  const logPath = join(outDir, 'log.jsonl');

  const model = new MoeTransformer(cfg, initParams(cfg, cfg.seed));
  const specs = paramSpecs(cfg);
  const decay = new Map(specs.map((s) => [s.name, s.decay]));
  const W = opts.workers ?? 1;
  checkWorkers(W, cfg);
  const group = W > 1 ? new WorkerGroup(allocGroupMemory(W, specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0), statsSize(cfg)), 0) : null;
  const balancers: Balancer[] = group
    ? shardedLayers(cfg.method, balancerOptions(cfg), cfg, group)
    : Array.from({ length: cfg.layers }, () => createBalancer(cfg.method, balancerOptions(cfg)));
  const sampler = new BatchSampler(data.train, cfg.batchSize, cfg.seqLen, cfg.seed);
  const valBatches = evalBatches(data.val, cfg.batchSize, cfg.seqLen, cfg.evalBatches > 0 ? cfg.evalBatches : Infinity);
  let adam: AdamWState;
  let metrics: RunningMetrics;
  let startStep: number;
  try {
    if (opts.resume) {
      ({ adam, metrics, startStep } = restoreRun(outDir, cfg, model, balancers, sampler));
      truncateLog(logPath, startStep);
    } else {
      // A fresh run replaces whatever an earlier run left in OUT (its log is overwritten below, so its
      // checkpoint must go too: a later --resume must never mix two runs).
      removeCheckpoint(outDir);
      writeFileSync(logPath, '');
      adam = initAdamWState(model.params);
      metrics = { tokens: 0, wallMs: 0, balance: new BalanceAccumulator().totals() };
      startStep = 0;
    }
  } catch (e) {
    model.dispose();
    for (const p of model.params.values()) p.dispose();
    throw e;
  }
  writeFileSync(join(outDir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const balance = new BalanceAccumulator(metrics.balance);
  // With workers, the parameters and moments live once in the group's shared memory (shardedOptimizer.ts).
  if (group) adam = shareAdamState(adam, model.params, group.mem);
  const helpers = group ? await startHelpers(cfg, group, adam, balancers) : [];
  const optimizer = group ? shardedOptimizer(model, adam, cfg, decay, group) : null;

  const progress = makeProgress({ quiet: opts.quiet, every: cfg.logEvery });
  const saveCk = (step: number) =>
    saveCheckpoint(outDir, {
      step,
      config: cfg as unknown as Record<string, unknown>,
      tensors: [...model.params].map(([name, p]) => ({
        name,
        shape: p.shape,
        value: adam.w.get(name)!,
        m: adam.m.get(name)!,
        v: adam.v.get(name)!,
      })),
      adamStep: adam.t,
      balancers: balancers.map((b) => b.getState()),
      sampler: sampler.getState(),
      metrics: { ...metrics, balance: balance.totals() },
    });

  const lastStep = Math.min(cfg.steps, opts.stopAfterStep ?? Infinity);
  let lastEval: EvalLine | null = null;
  let lastCheckpoint = startStep;
  let doneStep = startStep;
  let interrupted = false;
  progress.start(cfg.steps, startStep);
  try {
    for (let step = startStep + 1; step <= lastStep; step++) {
      opts.hooks?.beforeStep?.(step, model);
      const t0 = performance.now();
      const batch = sampler.next();
      const lr = learningRate(step, cfg);
      let out: { loss: number; stats: ForwardStats; phases: StepPhases };
      try {
        out =
          group && optimizer
            ? parallelStep(model, balancers, batch, cfg, optimizer, lr, step, group, helpers)
            : trainStep(model, balancers, batch, cfg, adam, lr, decay, step);
      } catch (e) {
        if (!(e instanceof TrainingError)) throw e;
        const where = lastCheckpoint > 0 ? `the last checkpoint (step ${lastCheckpoint}, ${join(outDir, 'checkpoint.json')}) is intact` : 'no checkpoint was written yet';
        throw new TrainingError(`${e.message}; ${where}`);
      }
      const { loss, stats } = out;
      opts.hooks?.afterRoutes?.(step, stats.routes);
      opts.hooks?.afterPhases?.(step, out.phases);
      const stepMs = performance.now() - t0;
      const n = cfg.batchSize * cfg.seqLen;
      const layers = stats.routes.map((r) => layerLog(r, cfg));
      const line: StepLine = {
        step,
        loss,
        lmLoss: stats.lmLoss,
        auxLoss: stats.auxLoss,
        ...(cfg.zLoss > 0 ? { zLoss: stats.zLoss } : {}),
        lr,
        tokensPerSec: n / (stepMs / 1000),
        stepMs,
        routingMs: stats.routingMs,
        layers,
      };
      appendLogLine(logPath, line);
      layers.forEach((l, i) => balance.add(i, l.maxVio, l.loads));
      metrics.tokens += n;
      opts.hooks?.afterStep?.(line);
      progress.update({ step, loss, tokensPerSec: line.tokensPerSec, maxVio: Math.max(...layers.map((l) => l.maxVio)), lr });

      const final = step === cfg.steps;
      if ((cfg.evalEvery > 0 && step % cfg.evalEvery === 0) || final) {
        lastEval = evaluate(model, balancers, valBatches, cfg, step);
        appendLogLine(logPath, lastEval);
        progress.message(`eval step ${step}: valLoss ${lastEval.valLoss.toFixed(4)} perplexity ${lastEval.perplexity.toFixed(2)}`);
      }
      metrics.wallMs += performance.now() - t0;
      doneStep = step;
      if ((cfg.checkpointEvery > 0 && step % cfg.checkpointEvery === 0) || final) {
        saveCk(step);
        lastCheckpoint = step;
      }
      if (opts.stop) {
        await new Promise((resolve) => setImmediate(resolve));
        if (opts.stop.requested && step < lastStep) {
          if (lastCheckpoint !== step) saveCk(step);
          interrupted = true;
          break;
        }
      }
    }
  } finally {
    progress.stop();
    await Promise.all(helpers.map((h) => h.terminate()));
    model.dispose();
    for (const p of model.params.values()) p.dispose();
  }

  if (interrupted || lastStep < cfg.steps || !lastEval) return { summary: null, lastStep: doneStep, interrupted };
  const summary: SummaryLine = {
    summary: true,
    steps: cfg.steps,
    tokens: metrics.tokens,
    perplexity: lastEval.perplexity,
    valLoss: lastEval.valLoss,
    avgMaxVio: balance.avgMaxVio,
    supMaxVio: balance.supMaxVio,
    wallMs: metrics.wallMs,
    method: cfg.method,
  };
  appendLogLine(logPath, summary);
  return { summary, lastStep, interrupted: false };
}

/** Loads OUT/checkpoint.json into the model, balancers and sampler; returns the optimizer state and counters. */
function restoreRun(
  outDir: string,
  cfg: TrainConfig,
  model: MoeTransformer,
  balancers: Balancer[],
  sampler: BatchSampler,
): { adam: AdamWState; metrics: RunningMetrics; startStep: number } {
  if (!hasCheckpoint(outDir)) throw new TrainingError(`--resume: no checkpoint in ${outDir}`);
  const ck = loadCheckpoint(outDir);
  // A checkpoint written before a key was renamed holds it under its old name.
  for (const [key, v] of Object.entries(renameOldKeys(ck.config, 'checkpoint'))) {
    const now = (cfg as unknown as Record<string, unknown>)[key];
    if (!RESUMABLE_CHANGES.has(key) && JSON.stringify(now) !== JSON.stringify(v)) {
      throw new ConfigError(`--resume: config key '${key}' is ${JSON.stringify(now)} but the checkpoint was made with ${JSON.stringify(v)}`);
    }
  }
  if (ck.step >= cfg.steps) {
    throw new TrainingError(`--resume: the run in ${outDir} is already at step ${ck.step} of ${cfg.steps}; raise --steps to continue it`);
  }
  restoreParams(model, ck.tensors);
  ck.balancers.forEach((s, i) => balancers[i].setState(s));
  sampler.setState(ck.sampler);
  return {
    adam: {
      t: ck.adamStep,
      m: new Map(ck.tensors.map((t) => [t.name, t.m])),
      v: new Map(ck.tensors.map((t) => [t.name, t.v])),
      w: masterParams(model.params),
    },
    metrics: { ...ck.metrics },
    startStep: ck.step,
  };
}

function checkDataSize(data: TrainData, cfg: TrainConfig): void {
  if (data.train.length < cfg.seqLen + 2) {
    throw new ConfigError(`training split of '${data.name}' has ${data.train.length} tokens: too few for seqLen=${cfg.seqLen}`);
  }
  const windows = Math.floor((data.val.length - 1) / cfg.seqLen);
  if (windows < cfg.batchSize) {
    throw new ConfigError(
      `validation split of '${data.name}' has ${data.val.length} tokens: one evaluation batch needs batchSize*seqLen+1=${cfg.batchSize * cfg.seqLen + 1}`,
    );
  }
}

function restoreParams(model: MoeTransformer, tensors: { name: string; shape: number[]; value: Float32Array }[]): void {
  if (tensors.length !== model.params.size) throw new TrainingError(`checkpoint has ${tensors.length} tensors, model has ${model.params.size}`);
  for (const t of tensors) {
    const p = model.params.get(t.name);
    if (!p || JSON.stringify(p.shape) !== JSON.stringify(t.shape)) throw new TrainingError(`checkpoint tensor ${t.name} does not fit the model`);
    tf.tidy(() => p.assign(tf.tensor(t.value, t.shape)));
  }
}

function forwardOptions(balancers: Balancer[], cfg: TrainConfig, update: boolean, withAux: boolean): ForwardOptions {
  return {
    routers: balancers.map((b) => (s: Float32Array, n: number, m: number, k: number) => b.route(s, n, m, k, { update })),
    aux: withAux && cfg.method === 'auxloss' ? auxOptions(cfg) : undefined,
    zLoss: withAux && cfg.zLoss > 0 ? cfg.zLoss : undefined,
  };
}

/** The auxiliary loss's weight and form, as the registry resolves the configured auxloss options. */
function auxOptions(cfg: TrainConfig): { alpha: number; form: AuxLossForm } {
  const o = resolveOptions('auxloss', balancerOptions(cfg));
  return { alpha: o.alpha as number, form: o.form as AuxLossForm };
}

/** One layer's entry of a step line: loads and MaxVio, plus dropped / unrouted / group MaxVio where they apply. */
function layerLog(r: RouteResult, cfg: TrainConfig): LayerLog {
  const out: LayerLog = { loads: Array.from(r.loads), maxVio: maxVio(r.loads, r.n, r.k), minVio: minVio(r.loads, r.n, r.k) };
  if (r.dropped !== undefined) out.dropped = r.dropped;
  if (r.offsets) out.unrouted = expertsPerToken(r)[0] / r.n;
  if (cfg.groups !== null) out.groupMaxVio = groupMaxVio(r.loads, cfg.groups as number, r.n, r.k);
  return out;
}

/** Forward, backward and AdamW update on one batch. Throws TrainingError on a non-finite loss or score. */
function trainStep(
  model: MoeTransformer,
  balancers: Balancer[],
  batch: Batch,
  cfg: TrainConfig,
  adam: AdamWState,
  lr: number,
  decay: Map<string, boolean>,
  step: number,
): { loss: number; stats: ForwardStats; phases: StepPhases } {
  const stats = emptyStats();
  const fwd = forwardOptions(balancers, cfg, true, true);
  const varList = [...model.params.values()];
  const adamOpts = adamOptions(cfg);
  let loss = NaN;
  const t0 = performance.now();
  let t1 = t0;
  let t2 = t0;
  guard(step, () =>
    tf.tidy(() => {
      const forward = () => {
        const l = model.loss(batch.x, batch.y, cfg.batchSize, cfg.seqLen, fwd, stats);
        t1 = performance.now();
        return l;
      };
      const { value, grads: g } = tf.variableGrads(forward, varList);
      loss = value.dataSync()[0];
      t2 = performance.now();
      if (!Number.isFinite(loss)) {
        throw new TrainingError(`loss is ${loss} at step ${step} (training diverged: try a lower lr)`);
      }
      // Gradients read in place (views of backend memory, valid until the tidy ends; no copies).
      const grads = new Map<string, Float32Array>();
      for (const [name, p] of model.params) {
        const gt = g[p.name];
        grads.set(name, gt ? (storageView(gt) ?? (gt.dataSync() as Float32Array)) : new Float32Array(p.size));
      }
      adamWStep(model.params, grads, adam, lr, adamOpts, (n) => decay.get(n) ?? true);
    }),
  );
  const phases = { forward: t1 - t0 - stats.routingMs, routing: stats.routingMs, backward: t2 - t1, exchange: 0, optimizer: performance.now() - t2, waits: 0 };
  return { loss, stats, phases };
}

/** trainStep with W data-parallel ranks: this (rank 0) and the helpers each take a share of the batch. */
function parallelStep(
  model: MoeTransformer,
  balancers: Balancer[],
  batch: Batch,
  cfg: TrainConfig,
  optimizer: ShardedAdamW,
  lr: number,
  step: number,
  group: WorkerGroup,
  helpers: Worker[],
): { loss: number; stats: ForwardStats; phases: StepPhases } {
  const input = sendShares(helpers, step, batch.x, batch.y, cfg.batchSize, cfg.seqLen, lr);
  return rankStep(model, balancers, input, cfg, optimizer, step, group);
}

/** This rank's part of the split AdamW step over the group's shared parameters and moments. */
export function shardedOptimizer(model: MoeTransformer, adam: AdamWState, cfg: TrainConfig, decay: Map<string, boolean>, group: WorkerGroup): ShardedAdamW {
  return new ShardedAdamW(model.params, adam, group, adamOptions(cfg), (n) => decay.get(n) ?? true);
}

/** This rank's part of a data-parallel step (rank 0 here, the helpers in worker.ts). */
export function rankStep(
  model: MoeTransformer,
  balancers: Balancer[],
  input: StepInput,
  cfg: TrainConfig,
  optimizer: ShardedAdamW,
  step: number,
  group: WorkerGroup,
): { loss: number; stats: ForwardStats; phases: StepPhases } {
  const fwd = forwardOptions(balancers, cfg, true, true);
  return guard(step, () =>
    dataParallelStep(
      model,
      (x, y, count, stats) => model.loss(x, y, count, cfg.seqLen, fwd, stats),
      input,
      cfg,
      optimizer,
      group,
      (loss) => new TrainingError(`loss is ${loss} at step ${step} (training diverged: try a lower lr)`),
    ),
  );
}

/** --workers: an integer from 1 to the batch's sequences; the global auxiliary loss is not sharded yet. */
function checkWorkers(W: number, cfg: TrainConfig): void {
  if (!Number.isInteger(W) || W < 1 || W > cfg.batchSize) {
    throw new ConfigError(`workers must be an integer from 1 to batchSize = ${cfg.batchSize} (each takes whole sequences), got ${W}`);
  }
  if (W > 1 && cfg.method === 'auxloss' && (cfg.auxForm ?? 'global') === 'global') {
    throw new ConfigError(`workers > 1 with method auxloss needs auxForm 'sequence' (the global form's f over all workers is not wired into the model yet)`);
  }
  if (W > 1) {
    try {
      createShardedBalancer(cfg.method, balancerOptions(cfg));
    } catch (e) {
      if (e instanceof InputError) throw new ConfigError(`workers > 1: ${e.message}`);
      throw e;
    }
  }
}

/** Turns a NaN met inside routing or the optimizer into a TrainingError that names the step. */
function guard<T>(step: number, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof TrainingError) throw e;
    const msg = (e as Error).message ?? String(e);
    if (/NaN|Infinity|gradient norm/.test(msg)) {
      throw new TrainingError(`non-finite values at step ${step} (training diverged: try a lower lr): ${msg}`);
    }
    throw e;
  }
}

/** Validation loss and global load balance, routing with the balancers' current state (no update). */
function evaluate(model: MoeTransformer, balancers: Balancer[], batches: Batch[], cfg: TrainConfig, step: number): EvalLine {
  const fwd = forwardOptions(balancers, cfg, false, false);
  let sum = 0;
  const loads = Array.from({ length: cfg.layers }, () => new Int32Array(cfg.numExperts));
  for (const b of batches) {
    const stats = emptyStats();
    tf.tidy(() => {
      model.loss(b.x, b.y, cfg.batchSize, cfg.seqLen, fwd, stats);
    });
    sum += stats.lmLoss;
    stats.routes.forEach((r, i) => {
      for (let j = 0; j < cfg.numExperts; j++) loads[i][j] += r.loads[j];
    });
  }
  const valLoss = sum / batches.length;
  const nTotal = batches.length * cfg.batchSize * cfg.seqLen;
  return {
    eval: true,
    step,
    valLoss,
    perplexity: Math.exp(valLoss),
    maxVioGlobal: loads.map((l) => maxVio(l, nTotal, cfg.topK)),
  };
}
