/**
 * compare with the new methods: METHOD-cf<F> names, and the Dropped / No expert / Group MaxVio columns
 * recomputed from step lines (present only when some run logs them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMethods, methodToTrain } from '../src/compare/run.ts';
import { methodStats, runStats } from '../src/compare/stats.ts';
import { mainTable } from '../src/compare/tables.ts';
import type { RunLog, StepLine } from '../src/compare/logs.ts';

test('METHOD-cf<F> maps to the method with capacityFactor F; sinkhorn and expertchoice are known', () => {
  assert.deepEqual(methodToTrain('topk-cf1.25'), { base: 'topk', set: ['capacityFactor=1.25'] });
  assert.deepEqual(methodToTrain('bip-T4-cf1'), { base: 'bip', set: ['bipIters=4', 'capacityFactor=1'] });
  assert.equal(checkMethods(['topk-cf1.25', 'sinkhorn', 'expertchoice', 'bip-T8-notrunc-cf2']), undefined);
  assert.match(checkMethods(['topk-cfx']) ?? '', /method 'topk-cfx': option 'capacityFactor' of 'topk' must be a number/);
});

function step(step: number, layers: StepLine['layers']): StepLine {
  return { step, loss: 1, lmLoss: 1, auxLoss: 0, lr: 1e-3, tokensPerSec: 1, stepMs: 1, routingMs: 0, layers };
}

test('dropped share, no-expert share and group MaxVio: means over steps and layers, columns only where logged', () => {
  // Two steps x two layers. Dropped shares: 2/(2+6)=0.25, 0/(0+8)=0, 4/(4+4)=0.5, 2/(2+6)=0.25 -> mean 0.25.
  const dropping: RunLog = {
    steps: [
      step(1, [
        { loads: [3, 3], maxVio: 0, minVio: 0, dropped: 2, groupMaxVio: 0.5 },
        { loads: [4, 4], maxVio: 0, minVio: 0, dropped: 0, groupMaxVio: 0.1 },
      ]),
      step(2, [
        { loads: [2, 2], maxVio: 0, minVio: 0, dropped: 4, groupMaxVio: 0.2 },
        { loads: [3, 3], maxVio: 0, minVio: 0, dropped: 2, groupMaxVio: 0.4 },
      ]),
    ],
    evals: [],
  };
  const ec: RunLog = { steps: [step(1, [{ loads: [4, 4], maxVio: 0, minVio: 0, unrouted: 0.1 }, { loads: [4, 4], maxVio: 0, minVio: 0, unrouted: 0.3 }])], evals: [] };
  const plain: RunLog = { steps: [step(1, [{ loads: [6, 2], maxVio: 0.5, minVio: -0.5 }])], evals: [] };
  const a = runStats('topk-cf1', 1, dropping);
  assert.equal(a.dropped, 0.25);
  assert.ok(Math.abs(a.groupAvgMaxVio - 0.3) < 1e-12);
  assert.equal(a.groupSupMaxVio, 0.5);
  assert.ok(Number.isNaN(a.unrouted));
  const b = runStats('expertchoice', 1, ec);
  assert.ok(Math.abs(b.unrouted - 0.2) < 1e-12);
  assert.ok(Number.isNaN(b.dropped));
  const all = mainTable(methodStats([a, b, runStats('topk', 1, plain)], ['topk-cf1', 'expertchoice', 'topk']));
  const col = (name: string) => all.headers.indexOf(name);
  for (const name of ['Dropped', 'No expert', 'Group AvgMaxVio', 'Group SupMaxVio']) assert.ok(col(name) > 0, `no ${name} column`);
  assert.equal(all.rows[0][col('Dropped')], '25.00%');
  assert.equal(all.rows[1][col('No expert')], '20.00%');
  assert.equal(all.rows[0][col('Group SupMaxVio')], '0.500');
  assert.equal(all.rows[2][col('Dropped')], '—');
  const only = mainTable(methodStats([runStats('topk', 1, plain)], ['topk']));
  assert.ok(!only.headers.some((h) => /Dropped|No expert|Group/.test(h)), 'columns appear only where they apply');
});
