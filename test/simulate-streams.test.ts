import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syntheticStream, STREAM_KINDS, type SyntheticStreamOptions } from '../src/simulate/streams.ts';
import { applyGate } from '../src/routing/gate.ts';
import { dirichlet } from '../src/simulate/router.ts';
import { Rng } from '../src/util/rng.ts';

function collect(o: SyntheticStreamOptions): Float32Array[][] {
  return [...syntheticStream(o).batches()];
}

/** Mean score of each expert over the batch. */
function expertMeans(s: Float32Array, n: number, m: number): number[] {
  const out = new Array<number>(m).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[j] += s[i * m + j] / n;
  return out;
}

test('every stream: shapes, valid scores, same seed gives the same bits, another seed does not', () => {
  for (const kind of STREAM_KINDS) {
    for (const gate of ['softmax', 'sigmoid'] as const) {
      const o: SyntheticStreamOptions = { kind, n: 64, m: 8, steps: 3, layers: 2, gate, seed: 7 };
      const a = collect(o);
      assert.equal(a.length, 3);
      for (const step of a) {
        assert.equal(step.length, 2);
        for (const s of step) {
          assert.equal(s.length, 64 * 8);
          for (let i = 0; i < 64; i++) {
            let sum = 0;
            for (let j = 0; j < 8; j++) {
              const v = s[i * 8 + j];
              assert.ok(v >= 0 && v <= 1 && Number.isFinite(v), `${kind}/${gate}: score ${v}`);
              sum += v;
            }
            if (gate === 'softmax') assert.ok(Math.abs(sum - 1) < 1e-5, `${kind}: row sums to ${sum}`);
          }
        }
        assert.notDeepEqual(step[0], step[1], `${kind}: layers must be independent`);
      }
      assert.deepEqual(collect(o), a, `${kind}/${gate}: not reproducible`);
      assert.notDeepEqual(collect({ ...o, seed: 8 }), a, `${kind}/${gate}: seed ignored`);
    }
  }
});

test('adding layers leaves layer 0 unchanged; a second pass repeats the first', () => {
  const one = collect({ kind: 'drift', n: 32, m: 4, steps: 4, layers: 1, seed: 3 });
  const three = collect({ kind: 'drift', n: 32, m: 4, steps: 4, layers: 3, seed: 3 });
  assert.deepEqual(three.map((s) => s[0]), one.map((s) => s[0]));
});

test('skewed: with no token-dependent part, softmax scores are exactly Zipf', () => {
  const m = 8;
  for (const zipf of [0.5, 1, 2]) {
    const [[s]] = collect({ kind: 'skewed', n: 4, m, steps: 1, seed: 1, logitStd: 0, zipf });
    const h = Array.from({ length: m }, (_, r) => (r + 1) ** -zipf);
    const total = h.reduce((x, y) => x + y);
    for (let i = 0; i < 4; i++) {
      const row = [...s.subarray(i * m, i * m + m)].sort((x, y) => y - x);
      row.forEach((v, r) => assert.ok(Math.abs(v - h[r] / total) < 1e-6, `zipf ${zipf}, rank ${r + 1}: ${v}`));
    }
  }
});

test('drift: expert popularity moves over the steps, while skewed stays put', () => {
  const o = { n: 8, m: 8, steps: 60, seed: 2, logitStd: 0 } as const;
  const drift = collect({ ...o, kind: 'drift', drift: 0.2 });
  const still = collect({ ...o, kind: 'skewed' });
  assert.deepEqual(still[59][0], still[0][0]);
  const first = expertMeans(drift[0][0], 8, 8);
  const last = expertMeans(drift[59][0], 8, 8);
  const top = (v: number[]) => v.indexOf(Math.max(...v));
  const moved = first.reduce((acc, v, j) => acc + Math.abs(v - last[j]), 0);
  assert.ok(moved > 0.2, `popularity moved only ${moved}`);
  assert.ok(top(first) !== top(last) || moved > 0.4, 'the popular experts should change');
});

test('collapse: the dominant experts are in nearly every top-2', () => {
  const n = 2048;
  const m = 16;
  for (const dominant of [1, 2]) {
    const [[s]] = collect({ kind: 'collapse', n, m, steps: 1, seed: 5, dominant });
    const means = expertMeans(s, n, m);
    const dom = means.map((v, j) => [v, j]).sort((a, b) => b[0] - a[0]).slice(0, dominant).map((x) => x[1]);
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const row = [...s.subarray(i * m, i * m + m)];
      const top2 = row.map((v, j) => [v, j]).sort((a, b) => b[0] - a[0]).slice(0, 2).map((x) => x[1]);
      hits += dom.filter((j) => top2.includes(j)).length;
    }
    // With strength 3 and unit logit noise a dominant expert misses the top 2 about 1% of the time
    // with one dominant expert, about 8% with two (it must then beat 14 others and its twin).
    assert.ok(hits / (n * dominant) > (dominant === 1 ? 0.97 : 0.88), `dominant ${dominant}: hit rate ${hits / (n * dominant)}`);
    const others = means.filter((_, j) => !dom.includes(j));
    assert.ok(Math.min(...dom.map((j) => means[j])) > 4 * Math.max(...others));
  }
});

test('clustered: the expert mix varies from batch to batch far more than under skewed', () => {
  const o = { n: 512, m: 8, steps: 20, seed: 4 } as const;
  const spread = (kind: 'clustered' | 'skewed') => {
    const means = collect({ ...o, kind }).map(([s]) => expertMeans(s, o.n, o.m));
    let v = 0;
    for (let j = 0; j < o.m; j++) {
      const col = means.map((x) => x[j]);
      const mu = col.reduce((a, b) => a + b) / col.length;
      v += col.reduce((a, b) => a + (b - mu) ** 2, 0) / col.length;
    }
    return v;
  };
  const c = spread('clustered');
  const s = spread('skewed');
  assert.ok(c > 10 * s, `clustered ${c} vs skewed ${s}`);
});

test('dirichlet draws sum to 1 and small concentrations give peaked mixes', () => {
  const rng = new Rng(1);
  let peakSmall = 0;
  let peakLarge = 0;
  for (let t = 0; t < 200; t++) {
    const a = dirichlet(rng, 8, 0.1);
    const b = dirichlet(rng, 8, 10);
    assert.ok(Math.abs(a.reduce((x, y) => x + y) - 1) < 1e-12);
    peakSmall += Math.max(...a) / 200;
    peakLarge += Math.max(...b) / 200;
  }
  assert.ok(peakSmall > 0.6 && peakLarge < 0.3, `${peakSmall} ${peakLarge}`);
});

test('gates: softmax is shift-invariant per row, sigmoid is elementwise', () => {
  const a = applyGate(Float32Array.from([0, 1, 2, 100, 101, 102]), 2, 3, 'softmax');
  for (let j = 0; j < 3; j++) assert.ok(Math.abs(a[j] - a[3 + j]) < 1e-7);
  const s = applyGate(Float32Array.from([0, 2]), 1, 2, 'sigmoid');
  assert.ok(Math.abs(s[0] - 0.5) < 1e-7 && Math.abs(s[1] - 1 / (1 + Math.exp(-2))) < 1e-7);
});

test('bad stream options get clear errors', () => {
  const base: SyntheticStreamOptions = { kind: 'skewed', n: 8, m: 4, steps: 2, seed: 1 };
  const cases: [Partial<SyntheticStreamOptions>, RegExp][] = [
    [{ n: 0 }, /n must be a positive integer/],
    [{ m: 2.5 }, /m must be a positive integer/],
    [{ steps: -1 }, /steps must be/],
    [{ kind: 'nope' as never }, /unknown stream 'nope'/],
    [{ spread: 1.5 }, /spread must be in \[0, 1\]/],
    [{ dominant: 5 }, /dominant must be an integer in \[1, m=4\]/],
    [{ concentration: 0 }, /concentration must be/],
    [{ zipf: Number.NaN }, /zipf must be/],
    [{ gate: 'relu' as never }, /gate must be softmax or sigmoid/],
  ];
  for (const [o, re] of cases) assert.throws(() => syntheticStream({ ...base, ...o }), re);
});
