/**
 * The collectives of data-parallel training over shared memory (src/train/workerGroup.ts): W = 3 threads
 * (this one is rank 0) run 300 sum / max / gather collectives, arriving in every order; every rank must
 * get exactly the merge of all ranks' contributions every time (the slots alternate between two sets, so
 * a fast rank must never overwrite a contribution a slow one has not read yet).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { allocGroupMemory, WorkerGroup } from '../src/train/workerGroup.ts';
import { runScript } from './helpers/collectiveScript.ts';

test('W = 3 threads: every collective returns the merge of all contributions on every rank', async () => {
  const W = 3;
  const count = 300;
  const mem = allocGroupMemory(W, 1, 1);
  const url = new URL('./fixtures/collectiveRank.mjs', import.meta.url);
  const results = Array.from({ length: W - 1 }, (_, i) => {
    const w = new Worker(url, { workerData: { mem, rank: i + 1, count } });
    return new Promise<{ wrong?: number; error?: string }>((resolve, reject) => {
      w.once('message', (m) => void w.terminate().then(() => resolve(m)));
      w.once('error', reject);
    });
  });
  const wrong0 = runScript(new WorkerGroup(mem, 0), count);
  const others = await Promise.all(results);
  assert.deepEqual(others, [{ wrong: 0 }, { wrong: 0 }]);
  assert.equal(wrong0, 0);
});
