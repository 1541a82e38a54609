import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxVio, minVio, avgMaxVio, supMaxVio, retention, scoreSum, epStepTime, droppedTokens, expertLoads } from '../src/routing/metrics.ts';
import { topk } from '../src/routing/topk.ts';

test('MaxVio and MinVio by hand, with a fractional mean load', () => {
  // n = 10, k = 1, m = 4: mean load 2.5. Loads [5, 3, 2, 0]: MaxVio = (5 - 2.5)/2.5 = 1, MinVio = -1.
  const loads = Int32Array.from([5, 3, 2, 0]);
  assert.equal(maxVio(loads, 10, 1), 1);
  assert.equal(minVio(loads, 10, 1), -1);
  // Loads [3, 3, 2, 2]: MaxVio = 0.5/2.5 = 0.2.
  assert.ok(Math.abs(maxVio(Int32Array.from([3, 3, 2, 2]), 10, 1) - 0.2) < 1e-12);
});

test('AvgMaxVio and SupMaxVio over a series', () => {
  assert.equal(avgMaxVio([0.5, 0.1, 0.3]), 0.3);
  assert.equal(supMaxVio([0.5, 0.1, 0.3]), 0.5);
});

test('retention: plain top-k keeps 1; a worse routing keeps less; against an LP objective', () => {
  const s = Float32Array.from([0.7, 0.2, 0.1, 0.1, 0.6, 0.3]);
  const plain = topk(s, 2, 3, 1);
  assert.equal(retention(s, plain), 1);
  const other = { ...plain, experts: Int32Array.from([1, 2]) };
  // (0.2 + 0.3) / (0.7 + 0.6)
  assert.ok(Math.abs(retention(s, other) - 0.5 / 1.3) < 1e-6);
  assert.ok(Math.abs(retention(s, other, 1.0) - scoreSum(s, other)) < 1e-12);
});

test('expert-parallel step time is sum of max loads over sum of mean loads', () => {
  // Two layers, n = 4, k = 1, m = 2 (mean 2): max loads 3 and 2 -> (3 + 2) / (2 + 2) = 1.25.
  assert.equal(epStepTime([Int32Array.from([3, 1]), Int32Array.from([2, 2])], 4, 1), 1.25);
});

test('dropped tokens at a capacity factor; loads from ids', () => {
  // mean 2.5, factor 1.2 -> capacity floor(3) = 3: loads [5, 3, 2, 0] drop 2.
  assert.equal(droppedTokens(Int32Array.from([5, 3, 2, 0]), 10, 1, 1.2), 2);
  assert.deepEqual(Array.from(expertLoads(Int32Array.from([0, 2, 2, 1]), 3)), [1, 1, 2]);
  assert.throws(() => expertLoads(Int32Array.from([3]), 3), /outside 0..2/);
});
