/**
 * Issue 9's experiment: `exact` (default order) keeps MaxVio ≤ (c − kn/m)/(kn/m) on every batch of every
 * layer of the collapse, drift and clustered streams, with kn/m fractional (then the bound is > 0, since
 * c = ⌈kn/m⌉) and integral (bound 0), while BIP T = 4 on the same batches exceeds it (so the check bites);
 * and the committed results/simulate-exact-* logs satisfy it on every logged batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { capacity } from '../src/routing/assign.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { maxVio } from '../src/routing/metrics.ts';
import { syntheticStream, type StreamKind } from '../src/simulate/streams.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const STREAMS: StreamKind[] = ['collapse', 'drift', 'clustered'];

/** The bound on MaxVio: (c − kn/m)/(kn/m), 0 when kn/m is an integer. */
const bound = (n: number, m: number, k: number) => (capacity(n, m, k) - (k * n) / m) / ((k * n) / m);

test('exact: MaxVio <= (c - kn/m)/(kn/m) on every batch and layer of the collapse, drift and clustered streams', () => {
  // (1000, 24, 2): kn/m = 83.33, c = 84, bound 0.008; (512, 16, 4): kn/m = 128, bound 0.
  for (const [n, m, k] of [
    [1000, 24, 2],
    [512, 16, 4],
  ]) {
    const limit = bound(n, m, k);
    for (const kind of STREAMS) {
      const stream = syntheticStream({ kind, n, m, steps: 8, layers: 2, seed: 3 });
      const exact = [0, 1].map(() => createBalancer('exact'));
      const bip = [0, 1].map(() => createBalancer('bip', { iters: 4 }));
      let bipOver = 0;
      let step = 0;
      for (const layers of stream.batches()) {
        step++;
        layers.forEach((s, layer) => {
          const v = maxVio(exact[layer].route(s, n, m, k).loads, n, k);
          assert.ok(v <= limit + 1e-12, `${kind} (${n}, ${m}, ${k}) step ${step} layer ${layer}: exact MaxVio ${v} > ${limit}`);
          if (maxVio(bip[layer].route(s, n, m, k).loads, n, k) > limit + 1e-12) bipOver++;
        });
      }
      assert.ok(bipOver > 0, `${kind} (${n}, ${m}, ${k}): bip T=4 never exceeded the bound, so this check proves nothing here`);
    }
  }
});

test('the committed results/simulate-exact-{collapse,drift,clustered} logs: exact within the bound on every step and layer', () => {
  for (const kind of STREAMS) {
    const dir = join(ROOT, 'results', `simulate-exact-${kind}`);
    const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { n: number; m: number; k: number; steps: number; layers: number };
    const limit = bound(run.n, run.m, run.k);
    const lines = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; layer: number; method: string; maxVio: number });
    const exact = lines.filter((l) => l.method === 'exact');
    assert.equal(exact.length, run.steps * run.layers, `${kind}: ${exact.length} exact lines for ${run.steps} steps x ${run.layers} layers`);
    // The log rounds MaxVio to 6 decimals.
    for (const l of exact) assert.ok(l.maxVio <= limit + 1e-6, `${kind} step ${l.step} layer ${l.layer}: exact MaxVio ${l.maxVio} > ${limit}`);
    assert.ok(lines.some((l) => l.method === 'bip' && l.maxVio > limit + 1e-6), `${kind}: bip never above the bound in the log`);
  }
});
