/**
 * Data-parallel training (`train --workers W`, src/train/parallel.ts) on the tiny preset: two worker
 * threads route every token as one process does (identical expert choices in every layer at step 1, and
 * at least 99.9% over 10 steps), give the same losses to 1e-4 relative, and a run killed and resumed
 * with W = 2 (from a W = 1 checkpoint too) continues like the uninterrupted run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finalizeConfig, applyOverrides, readConfigFile, DEFAULT_CONFIG, type TrainConfig } from '../src/train/config.ts';
import { readLog, type StepLine } from '../src/train/log.ts';
import { train, type TrainData } from '../src/train/trainer.ts';
import { jobsWithinCores, trainArgs } from '../src/compare/run.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { shardedLayers } from '../src/train/parallel.ts';
import { Rng } from '../src/util/rng.ts';

const TINY_FILE = join(import.meta.dirname, '..', 'configs', 'tiny.json');

function tinyConfig(over: Record<string, unknown> = {}): TrainConfig {
  return finalizeConfig(applyOverrides(applyOverrides({ ...DEFAULT_CONFIG }, readConfigFile(TINY_FILE), 'tiny'), over, 'test'));
}

function randomData(vocabSize: number, seed = 3): TrainData {
  const rng = new Rng(seed);
  const tokens = (n: number) => Int32Array.from({ length: n }, () => rng.int(vocabSize));
  return { name: 'random', vocabSize, train: tokens(20000), val: tokens(2000) };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'moe-parallel-'));

/** Trains with W workers; returns the step lines and, per step, every layer's experts for the whole batch. */
async function run(cfg: TrainConfig, W: number, outDir = tmp(), resume = false, stopAfterStep?: number) {
  const choices = new Map<number, Int32Array[]>();
  await train({
    config: cfg,
    outDir,
    data: randomData(cfg.vocabSize),
    quiet: true,
    workers: W,
    resume,
    stopAfterStep,
    hooks: { afterRoutes: (step, routes) => choices.set(step, routes.map((r) => r.experts.slice())) },
  });
  const steps = readLog(join(outDir, 'log.jsonl')).filter((l): l is StepLine => 'loss' in l && !('eval' in l));
  return { steps, choices, outDir };
}

function sameChoices(a: Int32Array[], b: Int32Array[]): { same: number; total: number } {
  let same = 0;
  let total = 0;
  a.forEach((x, l) => {
    for (let i = 0; i < x.length; i++) {
      total++;
      if (x[i] === b[l][i]) same++;
    }
  });
  return { same, total };
}

for (const method of ['bip', 'lossfree', 'quantile']) {
  test(`--workers 2 routes and trains as one process (tiny, ${method}, 10 steps)`, async () => {
    // quantile also with the router z-loss (a per-token mean, summed over ranks like the LM loss).
    const cfg = tinyConfig({ method, steps: 10, evalEvery: 0, checkpointEvery: 0, evalBatches: 1, ...(method === 'quantile' ? { zLoss: 0.001 } : {}) });
    const one = await run(cfg, 1);
    const two = await run(cfg, 2);
    assert.equal(two.steps.length, 10);
    // Step 1: same parameters, so every layer's experts are identical for every token.
    const first = sameChoices(two.choices.get(1)!, one.choices.get(1)!);
    assert.equal(first.same, first.total, `step 1: ${first.total - first.same} of ${first.total} choices differ`);
    let same = 0;
    let total = 0;
    for (let step = 1; step <= 10; step++) {
      const c = sameChoices(two.choices.get(step)!, one.choices.get(step)!);
      same += c.same;
      total += c.total;
    }
    assert.ok(same / total >= 0.999, `${method}: ${((100 * same) / total).toFixed(3)}% of expert choices identical over 10 steps`);
    for (let x = 0; x < 10; x++) {
      const [a, b] = [two.steps[x].loss, one.steps[x].loss];
      assert.ok(Math.abs(a - b) <= 1e-4 * Math.abs(b), `${method} step ${x + 1}: loss ${a} (W=2) vs ${b} (W=1)`);
      if (method === 'quantile') assert.ok(Math.abs(two.steps[x].zLoss! - one.steps[x].zLoss!) <= 1e-4 * one.steps[x].zLoss!, `step ${x + 1}: zLoss`);
      assert.deepEqual(two.steps[x].layers.map((l) => l.loads), one.steps[x].layers.map((l) => l.loads).map((l) => l), `step ${x + 1} loads`);
    }
  });
}

test('--workers 2: killed at step 4 and resumed (with W = 2, and from a W = 1 checkpoint) continues like one run', async () => {
  const cfg = tinyConfig({ method: 'bip', steps: 8, evalEvery: 0, checkpointEvery: 2, evalBatches: 1 });
  const whole = await run(cfg, 2);
  const killed = await run(cfg, 2, tmp(), false, 5); // checkpoint at step 4, killed after step 5
  const resumed = await run(cfg, 2, killed.outDir, true);
  const fromOne = await run(cfg, 1, tmp(), false, 4);
  const resumedFromOne = await run(cfg, 2, fromOne.outDir, true);
  for (const r of [resumed, resumedFromOne]) {
    assert.equal(r.steps.length, 8);
    for (let x = 4; x < 8; x++) {
      const [a, b] = [r.steps[x].loss, whole.steps[x].loss];
      assert.ok(Math.abs(a - b) <= 1e-4 * Math.abs(b), `resumed step ${x + 1}: loss ${a} vs ${b}`);
    }
  }
  // Same W, same checkpoint: the resumed steps repeat the uninterrupted run's exactly.
  assert.deepEqual(resumed.steps.slice(4).map((l) => l.loss), whole.steps.slice(4).map((l) => l.loss));
});

test('--workers: out of range or with the global auxiliary loss is a one-line ConfigError', async () => {
  const cfg = tinyConfig({ steps: 1 });
  await assert.rejects(run(cfg, 5), /workers must be an integer from 1 to batchSize = 4/);
  await assert.rejects(run(tinyConfig({ method: 'auxloss', steps: 1 }), 2), /auxForm 'sequence'/);
  await assert.rejects(run(tinyConfig({ method: 'bip', capacityFactor: 1.25, steps: 1 }), 2), /no sharded form with capacityFactor/);
  await assert.rejects(run(tinyConfig({ method: 'sinkhorn', steps: 1 }), 2), /'sinkhorn' has no sharded form/);
});

test('compare keeps jobs × workers within the cores, says so, and passes --workers to each run', () => {
  const said: string[] = [];
  assert.equal(jobsWithinCores(2, 2, 2, (l) => said.push(l)), 1);
  assert.match(said[0], /--jobs 2 × --workers 2 exceeds the 2 cores: running 1 at once/);
  assert.equal(jobsWithinCores(3, 1, 4, (l) => said.push(l)), 3);
  assert.equal(jobsWithinCores(2, 4, 2, (l) => said.push(l)), 1, 'at least one run');
  assert.equal(said.length, 2);
  const args = trainArgs({ config: 'c.json', methods: ['bip'], seeds: [1], steps: 5, out: 'o', workers: 2 }, { method: 'bip', seed: 1, name: 'bip-s1', dir: 'o/runs/bip-s1' }, false);
  assert.deepEqual(args.slice(-2), ['--workers', '2']);
});

test('a rank routes its tokens with their global index, so exact ties go where one process sends them', () => {
  // B = 5 sequences of T = 3 over W = 2 ranks: rank 1 holds sequences 3..4, i.e. tokens 9..14. With all
  // scores tied the rule is rotated order (token i's first choice is expert i mod m), so rank 1's first
  // token must start at expert 9 mod 4 = 1, not at 0 as a rank-local index would give.
  const cfg = { layers: 1, batchSize: 5, seqLen: 3 };
  const m = 4;
  const k = 2;
  const noCollective = () => {
    throw new Error('top-k needs no collective');
  };
  const [layer] = shardedLayers('topk', {}, cfg, { W: 2, rank: 1, transport: noCollective });
  const mine = layer.route(new Float32Array(6 * m), 6, m, k).experts;
  const whole = createBalancer('topk').route(new Float32Array(15 * m), 15, m, k).experts;
  assert.deepEqual(Array.from(mine), Array.from(whole.subarray(9 * k)));
  assert.equal(mine[0], 1);
});
