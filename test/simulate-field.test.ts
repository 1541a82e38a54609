/**
 * The simulator's dropped-token, no-expert and group MaxVio fields: recomputed here from the routing
 * core on the same scores, and shown in the summary table only when a method has them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../src/routing/factory.ts';
import { expertCapacity } from '../src/routing/capacityFactor.ts';
import { groupMaxVio } from '../src/routing/metrics.ts';
import { parseMethodList } from '../src/routing/registry.ts';
import type { StepRecord } from '../src/simulate/record.ts';
import { simulate } from '../src/simulate/run.ts';
import { syntheticStream } from '../src/simulate/streams.ts';
import { summarize, summaryTable } from '../src/simulate/summary.ts';

test('simulate records dropped pairs, tokens without an expert and group MaxVio, matching the routing core', async () => {
  const [n, m, k, G] = [512, 8, 2, 4];
  const opts = { kind: 'collapse' as const, n, m, steps: 3, seed: 2 };
  const methods = parseMethodList('topk topk:capacityFactor=1 expertchoice bip:groups=2,topkGroups=1');
  const records: StepRecord[] = [];
  await simulate(syntheticStream(opts), { k, methods, optimal: 'off', timing: false, groups: G, onRecord: (r) => records.push(r) });
  const topk = createBalancer('topk');
  const ec = createBalancer('expertchoice');
  const C = expertCapacity(n, m, k, 1);
  let step = 0;
  for (const batch of syntheticStream(opts).batches()) {
    step++;
    const s = batch[0];
    const at = (label: string) => records.find((r) => r.step === step && r.method === label)!;
    const plain = topk.route(s, n, m, k);
    const excess = Array.from(plain.loads).reduce((a, l) => a + Math.max(0, l - C), 0);
    assert.ok(excess > 0, 'the collapse stream overloads an expert');
    assert.equal(at('topk-cf1').dropped, excess);
    assert.ok(Math.abs(at('topk-cf1').droppedShare! - excess / (n * k)) < 1e-6);
    assert.equal(at('topk').dropped, undefined);
    assert.ok(Math.abs(at('topk').groupMaxVio! - groupMaxVio(plain.loads, G, n, k)) < 1e-6);
    const r = ec.route(s, n, m, k);
    const none = Array.from({ length: n }, (_, i) => r.offsets![i + 1] === r.offsets![i]).filter(Boolean).length;
    assert.ok(Math.abs(at('expertchoice').unrouted! - none / n) < 1e-6);
    assert.equal(at('expertchoice').perToken!.reduce((a, b) => a + b, 0), n);
    assert.equal(at('expertchoice').perToken![0], none);
  }
  const table = summaryTable(summarize(records));
  for (const col of ['dropped', 'no expert', 'group AvgMaxVio', 'group SupMaxVio']) assert.ok(table.includes(col), `table lacks '${col}'`);
  const plainOnly = summaryTable(summarize(records.filter((r) => r.method === 'topk').map((r) => ({ ...r, groupMaxVio: undefined }))));
  assert.ok(!plainOnly.includes('dropped') && !plainOnly.includes('group'), 'columns appear only where they apply');
});
