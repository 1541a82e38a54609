// Helpers behind `moe-balance route`: float32 text in the JSON output, and the gate applied to logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { float32Text } from '../src/io/floatText.ts';
import { applyGate } from '../src/routing/gate.ts';
import { Rng } from '../src/util/rng.ts';

test('float32Text is the shortest decimal that reads back as the same float32', () => {
  assert.equal(float32Text(Math.fround(0.6)), '0.6');
  assert.equal(float32Text(Math.fround(1 / 3)), '0.33333334');
  assert.equal(float32Text(0.5), '0.5');
  assert.equal(float32Text(1), '1');
  assert.equal(float32Text(0), '0');
  assert.equal(float32Text(Math.fround(1e-40)), '1e-40'); // subnormal
  assert.equal(float32Text(Math.fround(3.4028234663852886e38)), '3.4028235e+38');
  const rng = new Rng(5);
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  for (let x = 0; x < 20000; x++) {
    bits[0] = Math.floor(rng.next() * 2 ** 32);
    const v = f[0];
    if (!Number.isFinite(v)) continue;
    const text = float32Text(v);
    assert.equal(Math.fround(Number(text)), v, `${v} -> ${text}`);
    // Shortest: one significant digit fewer does not read back (when there is more than one).
    const digits = text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;
    if (digits > 1) assert.notEqual(Math.fround(Number(v.toPrecision(digits - 1))), v, `${v} -> ${text} is not the shortest`);
  }
});

test('applyGate: softmax rows are exp(x - max) / sum, sigmoid is 1 / (1 + exp(-x))', () => {
  // Two tokens, five experts: [0, 0, 0, 0, 1000] and [0, -3, 2, 1, 2].
  const logits = Float32Array.from([0, 0, 0, 0, 1000, 0, -3, 2, 1, 2]);
  const soft = applyGate(logits.slice(), 2, 5, 'softmax');
  // A huge logit does not overflow: all the mass goes to it.
  assert.deepEqual(Array.from(soft.subarray(0, 5)), [0, 0, 0, 0, 1]);
  const e = [0, -3, 2, 1, 2].map((x) => Math.exp(x));
  const sum = e.reduce((a, b) => a + b, 0);
  for (let j = 0; j < 5; j++) assert.ok(Math.abs(soft[5 + j] - e[j] / sum) < 1e-7, `col ${j}`);
  const sig = applyGate(logits.slice(), 2, 5, 'sigmoid');
  for (let x = 0; x < 10; x++) assert.ok(Math.abs(sig[x] - 1 / (1 + Math.exp(-logits[x]))) < 1e-7);
  assert.equal(sig[4], 1);
});
