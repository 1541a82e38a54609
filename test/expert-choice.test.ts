/**
 * Expert Choice routing (src/routing/expertChoice.ts) and the ragged RouteResult it returns: a hand-worked
 * example with a tie, loads exactly c on any input, and the per-token statistics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpertChoiceBalancer, expertChoice } from '../src/routing/expertChoice.ts';
import { expertsPerToken, pairEnd, pairStart, unroutedShare } from '../src/routing/ragged.ts';
import { maxVio, retention, scoreSum } from '../src/routing/metrics.ts';
import { expertCapacity } from '../src/routing/capacityFactor.ts';
import { adversarial } from './helpers/scores.ts';

test('Expert Choice by hand: 4 tokens x 2 experts, k = 1, c = 2, with a tie', () => {
  // Scores in sixteenths. c = ⌈1·k·n/m⌉ = ⌈4/2⌉ = 2.
  //   token:     0    1    2    3
  //   expert 0: 10    9    1    9   -> top-2: token 0 (10), then the tie 9/9 goes to the lower token, 1
  //   expert 1: 10    1    9    6   -> top-2: token 0 (10), token 2 (9)
  // Token 0 gets both experts (tied 10/10: lower id first), tokens 1 and 2 one each, token 3 none.
  // Weights are the raw scores (not renormalised).
  const s = Float32Array.from([10, 10, 9, 1, 1, 9, 9, 6].map((x) => x / 16));
  const r = expertChoice(s, 4, 2, 1);
  assert.deepEqual(Array.from(r.offsets!), [0, 2, 3, 4, 4]);
  assert.deepEqual(Array.from(r.experts), [0, 1, 0, 1]);
  assert.deepEqual(Array.from(r.weights, (w) => w * 16), [10, 10, 9, 9]);
  assert.deepEqual(Array.from(r.loads), [2, 2]);
  assert.deepEqual(Array.from(expertsPerToken(r)), [1, 2, 1]); // 1 token with 0 experts, 2 with 1, 1 with 2
  assert.equal(unroutedShare(r), 0.25);
  // scoreSum reads the ragged layout: 10 + 10 + 9 + 9 sixteenths.
  assert.equal(scoreSum(s, r), 38 / 16);
});

test('Expert Choice: every load is exactly c = min(n, ⌈f·k·n/m⌉); ids distinct, best score first', () => {
  for (const [n, m, k] of [
    [37, 5, 2],
    [64, 8, 1],
    [96, 16, 4],
    [3, 4, 3],
  ]) {
    for (const f of [0.5, 1, 1.3, 100]) {
      for (const [name, s] of Object.entries(adversarial(n, m, n + m))) {
        const b = new ExpertChoiceBalancer({ capacityFactor: f });
        const r = b.route(s, n, m, k);
        const c = Math.min(n, expertCapacity(n, m, k, f));
        const what = `${name} n=${n} m=${m} k=${k} f=${f}`;
        const loads = new Int32Array(m);
        for (let i = 0; i < n; i++) {
          const ids = Array.from(r.experts.subarray(pairStart(r, i), pairEnd(r, i)));
          assert.equal(new Set(ids).size, ids.length, `${what}: token ${i} ids not distinct`);
          for (let t = 0; t < ids.length; t++) {
            loads[ids[t]]++;
            assert.equal(r.weights[pairStart(r, i) + t], s[i * m + ids[t]], `${what}: weight is not the raw score`);
            if (t > 0) assert.ok(s[i * m + ids[t - 1]] >= s[i * m + ids[t]], `${what}: token ${i} ids not best first`);
          }
        }
        assert.deepEqual(Array.from(r.loads), Array.from(loads), `${what}: loads do not match the ids`);
        assert.ok(loads.every((x) => x === c), `${what}: loads ${Array.from(loads)} are not all c = ${c}`);
        assert.equal(r.offsets![n], m * c);
        // Each expert's chosen tokens are its top c: no unchosen token scores higher than a chosen one.
        for (let j = 0; j < m; j++) {
          let minIn = Infinity;
          let maxOut = -Infinity;
          for (let i = 0; i < n; i++) {
            const has = Array.from(r.experts.subarray(pairStart(r, i), pairEnd(r, i))).includes(j);
            if (has) minIn = Math.min(minIn, s[i * m + j]);
            else maxOut = Math.max(maxOut, s[i * m + j]);
          }
          assert.ok(minIn >= maxOut, `${what}: expert ${j} skipped a better token`);
        }
      }
    }
  }
});

test('Expert Choice is perfectly balanced where top-k is not; metrics read the ragged result', () => {
  const [n, m, k] = [64, 8, 2];
  const { skewed } = adversarial(n, m, 1);
  const r = new ExpertChoiceBalancer().route(skewed, n, m, k);
  assert.equal(maxVio(r.loads, n, k), 0);
  const ret = retention(skewed, r);
  assert.ok(ret > 0 && ret < 1, `retention ${ret}`);
  const hist = expertsPerToken(r);
  assert.equal(hist.reduce((a, b) => a + b, 0), n);
  assert.notEqual(hist[k], n, 'on a skewed batch some tokens must get other than k experts');
});
