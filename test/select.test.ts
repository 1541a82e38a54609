import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kthLargest, topKRowPlain, topKRowShifted } from '../src/routing/select.ts';
import { Rng } from '../src/util/rng.ts';

test('kthLargest equals the sorted order for every rank, with ties and sizes around the insertion cut-off', () => {
  const rng = new Rng(7);
  for (const len of [1, 2, 3, 15, 16, 17, 33, 200, 1001]) {
    for (const distinct of [2, 5, 1000]) {
      const a = new Float64Array(len).map(() => rng.int(distinct) / distinct);
      const sorted = Array.from(a).sort((x, y) => y - x);
      for (const r of [1, 2, Math.ceil(len / 2), len].filter((x) => x <= len)) {
        assert.equal(kthLargest(a.slice(), len, r), sorted[r - 1], `len=${len} distinct=${distinct} r=${r}`);
      }
    }
  }
});

test('kthLargest returns -Infinity past the end (a capacity that cannot bind)', () => {
  assert.equal(kthLargest(new Float64Array([1, 2]), 2, 3), -Infinity);
});

test('topKRowPlain returns the k largest in decreasing order, lower id first on ties', () => {
  const s = new Float32Array([0.5, 0.1, 0.5, 0.9, 0.3]);
  const ids = new Int32Array(3);
  const keys = new Float64Array(3);
  const third = topKRowPlain(s, 0, 5, 3, ids, keys);
  assert.deepEqual(Array.from(ids), [3, 0, 2]);
  assert.equal(third, 0.5);
});

test('topKRowShifted breaks exact key ties towards the larger sign*shift (the smaller q)', () => {
  // keys s - q: expert 0: 0.75 - 0.25 = 0.5, expert 1: 0.5 - 0 = 0.5 -> tie; expert 1 has the smaller q.
  const s = new Float32Array([0.75, 0.5, 0.0]);
  const negQ = new Float64Array([-0.25, 0, 0]);
  const ids = new Int32Array(1);
  const keys = new Float64Array(1);
  topKRowShifted(s, 0, 3, negQ, 1, ids, keys, -Infinity);
  assert.equal(ids[0], 1);
  // A floor that is a lower bound of the result changes nothing; one that is too high still gives the exact answer.
  topKRowShifted(s, 0, 3, negQ, 1, ids, keys, 0.5);
  assert.equal(ids[0], 1);
  topKRowShifted(s, 0, 3, negQ, 1, ids, keys, 0.9);
  assert.equal(ids[0], 1);
});
