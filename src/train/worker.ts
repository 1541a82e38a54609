/**
 * A data-parallel training rank w ≥ 1 (`train --workers W`), run in a worker thread: its own TensorFlow.js
 * model, started from the parameters and moments in the group's shared memory and rank 0's optimizer step and
 * balancer states (InitMessage); then for every
 * StepMessage one dataParallelStep on its share of the batch. Any error fails the whole group (rank 0
 * reports it at its next barrier).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setBackend } from '../model/backend.ts';
import { initParams, paramSpecs } from '../model/params.ts';
import { MoeTransformer } from '../model/transformer.ts';
import { balancerOptions } from './config.ts';
import { shardedLayers, type HelperData, type InitMessage, type StepMessage } from './parallel.ts';
import { rankStep, shardedOptimizer } from './trainer.ts';
import { uploadParams } from './optimizer.ts';
import { sharedAdamState, type ShardedAdamW } from './shardedOptimizer.ts';
import { WorkerGroup } from './workerGroup.ts';

const { cfg, rank, mem } = workerData as HelperData;
const group = new WorkerGroup(mem, rank);
await setBackend(cfg.backend);
const model = new MoeTransformer(cfg, initParams(cfg, cfg.seed));
const balancers = shardedLayers(cfg.method, balancerOptions(cfg), cfg, group);
const decay = new Map(paramSpecs(cfg).map((s) => [s.name, s.decay]));
let optimizer: ShardedAdamW | null = null;

parentPort?.on('message', (msg: InitMessage | StepMessage) => {
  try {
    if (msg.type === 'init') {
      const adam = sharedAdamState(model.params, mem, msg.adamT);
      uploadParams(model.params, adam.w);
      optimizer = shardedOptimizer(model, adam, cfg, decay, group);
      msg.balancers.forEach((s, l) => balancers[l].setState(s));
      parentPort?.postMessage({ type: 'ready' });
      return;
    }
    if (!optimizer) throw new Error('step before init');
    rankStep(model, balancers, msg.input, cfg, optimizer, msg.step, group);
  } catch (e) {
    group.fail((e as Error).message);
  }
});
