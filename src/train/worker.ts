/**
 * A data-parallel training rank w ≥ 1 (`train --workers W`), run in a worker thread: its own TensorFlow.js
 * model, started from rank 0's weights, optimizer and balancer states (InitMessage); then for every
 * StepMessage one dataParallelStep on its share of the batch. Any error fails the whole group (rank 0
 * reports it at its next barrier).
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { setBackend } from '../model/backend.ts';
import { initParams, paramSpecs } from '../model/params.ts';
import { MoeTransformer } from '../model/transformer.ts';
import { balancerOptions } from './config.ts';
import { shardedLayers, type HelperData, type InitMessage, type StepMessage } from './parallel.ts';
import { rankStep } from './trainer.ts';
import { initAdamWState, masterWeights } from './optimizer.ts';
import { WorkerGroup } from './workerGroup.ts';

const { cfg, rank, mem } = workerData as HelperData;
const group = new WorkerGroup(mem, rank);
await setBackend(cfg.backend);
const model = new MoeTransformer(cfg, initParams(cfg, cfg.seed));
const balancers = shardedLayers(cfg.method, balancerOptions(cfg), cfg, group);
const decay = new Map(paramSpecs(cfg).map((s) => [s.name, s.decay]));
let adam = initAdamWState(model.params);
const summed = new Float32Array(mem.gradSize);

parentPort?.on('message', (msg: InitMessage | StepMessage) => {
  try {
    if (msg.type === 'init') {
      const weights = new Map(msg.weights);
      tf.tidy(() => {
        for (const [name, p] of model.params) p.assign(tf.tensor(weights.get(name) as Float32Array, p.shape));
      });
      adam = { t: msg.adamT, m: new Map(msg.m), v: new Map(msg.v), w: masterWeights(model.params) };
      msg.balancers.forEach((s, l) => balancers[l].setState(s));
      parentPort?.postMessage({ type: 'ready' });
      return;
    }
    rankStep(model, balancers, msg.input, cfg, adam, decay, msg.step, group, summed);
  } catch (e) {
    group.fail((e as Error).message);
  }
});
