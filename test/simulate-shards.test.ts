/**
 * `simulate --shards W`: every method routed as W shards next to the single process, checked equal
 * on the fly, with the bytes per call recorded; a divergence stops the run and says where.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as runCli } from '../src/cli/simulate.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { createShardedBalancer } from '../src/routing/sharded.ts';
import { parseLog } from '../src/simulate/record.ts';
import { checkShards } from '../src/simulate/shardCheck.ts';
import { summarize } from '../src/simulate/summary.ts';
import { softmaxScores } from './helpers/scores.ts';

test('simulate --shards 3: equal routing on every step, bytes per call in the log and the table', async () => {
  const out = mkdtempSync(join(tmpdir(), 'simshards-'));
  let printed = '';
  const args = ['--stream', 'drift', '--n', '301', '--m', '8', '--steps', '4', '--layers', '2', '--shards', '3', '--optimal', 'off', '--quiet'];
  await runCli([...args, '--methods', 'topk lossfree quantile quantile:bins=64 bip-T2 bip:truncate=false auxloss sinkhorn bip:capacityFactor=1.25,as=bipcap', '--out', out], (t) => (printed += t));
  const records = parseLog(readFileSync(join(out, 'log.jsonl'), 'utf8'));
  assert.equal(records.length, 4 * 2 * 9);
  for (const r of records) {
    // No sharded form: routed and logged as usual, without a sharded check.
    if (r.method === 'sinkhorn' || r.method === 'bipcap') {
      assert.equal(r.shardBytes, undefined, r.method);
      continue;
    }
    assert.equal(typeof r.shardBytes, 'number', `${r.method}: shardBytes`);
    // topk exchanges nothing; lossfree m + 1 int32; the others something.
    if (r.method === 'topk') assert.equal(r.shardBytes, 0);
    else if (r.method === 'lossfree') assert.equal(r.shardBytes, 4 * 9);
    else assert.ok((r.shardBytes as number) > 0, r.method);
  }
  assert.match(printed, /bytes\/shard\/call/);
  const bip = summarize(records).find((s) => s.method === 'bip-T2');
  assert.ok(bip && bip.shardRounds !== null && bip.shardRounds >= 2, 'bip-T2: at least one collective per iteration');
});

test('the on-the-fly check fails when a shard set diverges (a stale state on the shards)', () => {
  const [n, m, k] = [120, 8, 2];
  const single = createBalancer('bip');
  const shards = [0, 1].map(() => createShardedBalancer('bip'));
  single.route(softmaxScores(n, m, 1), n, m, k); // the shards miss this call: their q stays 0
  const scores = softmaxScores(n, m, 2);
  const want = single.route(scores, n, m, k);
  assert.throws(() => checkShards(shards, single, want, scores, 'bip step 2 layer 0'), /bip step 2 layer 0: sharded (routing differs|q\[\d+\])/);
});
