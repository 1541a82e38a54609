/** Bad input gets an InputError naming the problem, never a wrong answer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from '../src/routing/factory.ts';
import { InputError } from '../src/routing/errors.ts';
import { loadSolver, solveOptimal } from '../src/routing/optimal.ts';
import { maxVio, avgMaxVio } from '../src/routing/metrics.ts';

function throwsNaming(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof InputError && pattern.test(e.message), `expected InputError matching ${pattern}`);
}

const good = () => new Float32Array(8 * 4).fill(0.25);

for (const method of ['topk', 'bip', 'lossfree', 'quantile', 'auxloss']) {
  test(`${method}: NaN, infinity, wrong length, bad n, k, m are named`, () => {
    const b = createBalancer(method);
    const nan = good();
    nan[4 * 3 + 2] = NaN;
    throwsNaming(() => b.route(nan, 8, 4, 1), /NaN at token 3, expert 2/);
    const inf = good();
    inf[5] = -Infinity;
    throwsNaming(() => b.route(inf, 8, 4, 1), /-Infinity at token 1, expert 1/);
    throwsNaming(() => b.route(good(), 7, 4, 1), /length 32, expected n\*m = 7\*4 = 28/);
    throwsNaming(() => b.route(good(), 8, 4, 0), /k must be an integer >= 1/);
    throwsNaming(() => b.route(good(), 8, 4, 4), /k must be < m/);
    throwsNaming(() => b.route(new Float32Array(0), 0, 4, 1), /n \(tokens\) must be an integer >= 1/);
    throwsNaming(() => b.route(new Float32Array(8), 8, 1, 1), /m \(experts\) must be an integer >= 2/);
    throwsNaming(() => b.route(Array.from(good()) as unknown as Float32Array, 8, 4, 1), /must be a Float32Array/);
  });
}

test('unknown method, unknown option, wrong option type or value are named', () => {
  throwsNaming(() => createBalancer('bipp'), /unknown method 'bipp'/);
  throwsNaming(() => createBalancer('bip', { rate: 0.1 }), /unknown option 'rate' for method 'bip'/);
  throwsNaming(() => createBalancer('bip', { iters: '4' }), /option 'iters' of 'bip' must be an integer/);
  throwsNaming(() => createBalancer('bip', { order: 'sideways' }), /option 'order' of 'bip' must be one of/);
  throwsNaming(() => createBalancer('bip', { truncate: 'p' }), /option 'truncate' of 'bip' must be true, false or 'q'/);
  throwsNaming(() => createBalancer('lossfree', { update: 'cube' }), /option 'update' of 'lossfree'/);
  throwsNaming(() => createBalancer('lossfree', { rate: -1 }), /option 'rate' of 'lossfree' must be a number >= 0/);
  throwsNaming(() => createBalancer('quantile', { range: [1, 0] }), /option 'range' of 'quantile'/);
  throwsNaming(() => createBalancer('auxloss', { form: 'sequence' }), /needs option 'seqLen'/);
  throwsNaming(() => createBalancer('topk', { iters: 2 }), /unknown option 'iters' for method 'topk'/);
  throwsNaming(() => createBalancer('optimal'), /createOptimalBalancer/);
});

test('state of the wrong size, wrong key or non-finite values is named', () => {
  const b = createBalancer('bip');
  b.setState({ q: [0, 0, 0] });
  throwsNaming(() => b.route(good(), 8, 4, 1), /state q has 3 entries but the scores have m=4/);
  b.route(new Float32Array(8 * 3).fill(1 / 3), 8, 3, 1);
  throwsNaming(() => b.setState({ q: [0, 0] }), /'q' has 2 entries, but this balancer has m=3/);
  throwsNaming(() => b.setState({ b: [0, 0, 0] }), /unknown key 'b'/);
  throwsNaming(() => createBalancer('lossfree').setState({ b: [0, null as unknown as number] }), /'b\[1\]' is not a finite number/);
  throwsNaming(() => createBalancer('topk').setState({ q: [1] }), /topk state must be \{\}/);
});

test('auxloss sequence form needs n to be a multiple of seqLen', () => {
  throwsNaming(() => createBalancer('auxloss', { form: 'sequence', seqLen: 3 }).route(good(), 8, 4, 1), /not a whole number of sequences/);
});

test('the LP optimum refuses instances past the solver size limit before solving', async () => {
  const solver = await loadSolver();
  const n = 20000;
  const m = 64;
  throwsNaming(() => solveOptimal(solver, new Float32Array(n * m), n, m, 2), /exceeds the LP solver's limit/);
});

test('metrics reject empty series and bad n, k', () => {
  throwsNaming(() => avgMaxVio([]), /empty series/);
  throwsNaming(() => maxVio(new Int32Array(4), 0, 1), /n >= 1/);
});
