// `moe-balance route`, end to end: the CLI is spawned on numpy-written .npy files and its JSON is checked
// against the definitions (loads, MaxVio, weights, aux loss) and against the balancers run in-process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { readNpy, writeNpy } from '../src/io/npy.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { ROUTE_OPTIONS } from '../src/cli/route.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test', 'fixtures');
const SCORES = join(FIXTURES, 'route_scores_64x8.npy'); // numpy: softmax of seeded logits, expert 0 favoured
const LOGITS = join(FIXTURES, 'route_logits_64x8.npy');
const DIR = mkdtempSync(join(tmpdir(), 'route-cli-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

interface Out {
  method: string;
  n: number;
  m: number;
  k: number;
  experts: number[][];
  weights: number[][];
  loads: number[];
  maxVio: number;
  minVio: number;
  state: Record<string, number[]>;
  auxLoss?: number;
}

function cli(args: string[], stdin?: string | Uint8Array): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin', 'moe-balance.js'), 'route', ...args], { cwd: DIR });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(stdin ?? '');
  });
}

async function route(args: string[]): Promise<Out> {
  const r = await cli(args);
  assert.equal(r.code, 0, `route ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Out;
}

const fixture = readNpy(SCORES);
const [N, M] = fixture.shape;
const S = fixture.data as Float32Array;

function rowsOf(a: Float32Array, n: number, m: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * m, i * m + m)));
}

/** Checks everything the output must satisfy by definition, whatever the method. */
function checkRouting(o: Out, scores: Float32Array, n: number, m: number, k: number): void {
  assert.equal(o.n, n);
  assert.equal(o.m, m);
  assert.equal(o.k, k);
  assert.equal(o.experts.length, n);
  assert.equal(o.weights.length, n);
  const loads = new Array(m).fill(0);
  for (let i = 0; i < n; i++) {
    const ids = o.experts[i];
    assert.equal(ids.length, k);
    assert.equal(new Set(ids).size, k, `token ${i} has a repeated expert`);
    let sum = 0;
    for (const j of ids) {
      assert.ok(Number.isInteger(j) && j >= 0 && j < m);
      loads[j]++;
      sum += scores[i * m + j];
    }
    for (let t = 0; t < k; t++) {
      const want = k > 1 ? scores[i * m + ids[t]] / sum : scores[i * m + ids[t]];
      assert.ok(Math.abs(o.weights[i][t] - want) < 1e-6, `weight ${i},${t}: ${o.weights[i][t]} vs ${want}`);
    }
  }
  assert.deepEqual(o.loads, loads);
  const mean = (k * n) / m;
  assert.equal(o.maxVio, (Math.max(...loads) - mean) / mean);
  assert.equal(o.minVio, (Math.min(...loads) - mean) / mean);
}

test('bip on a numpy-written .npy: a valid routing, the in-process balancer, better balance than top-k', async () => {
  const o = await route(['--method', 'bip', '--k', '2', '--iters', '4', '--input', SCORES]);
  assert.equal(o.method, 'bip');
  checkRouting(o, S, N, M, 2);
  const bal = createBalancer('bip', { iters: 4 });
  const r = bal.route(S, N, M, 2);
  assert.deepEqual(o.experts, rowsOf(Float32Array.from(r.experts), N, 2));
  assert.deepEqual(o.state, bal.getState());
  assert.equal(o.state.q.length, M);
  const top = await route(['--method', 'topk', '--k', '2', '--input', SCORES]);
  checkRouting(top, S, N, M, 2);
  assert.deepEqual(top.state, {});
  assert.ok(o.maxVio < top.maxVio, `bip MaxVio ${o.maxVio} should beat top-k's ${top.maxVio} on skewed scores`);
});

test('a float64 .npy, a JSON file and standard input give the same routing as the float32 .npy', async () => {
  const f64 = join(DIR, 'scores_f8.npy');
  const viaNumpy = spawnSync('python3', ['-c', `import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1]).astype('>f8'))`, SCORES, f64]);
  if (viaNumpy.status !== 0) writeNpy(f64, Float64Array.from(S), [N, M]); // no numpy here: write it ourselves
  const json = join(DIR, 'scores.json');
  writeFileSync(json, JSON.stringify(rowsOf(S, N, M)));
  const args = ['--method', 'quantile', '--k', '3'];
  const [a, b, c, d] = await Promise.all([
    cli([...args, '--input', SCORES]),
    cli([...args, '--input', f64]),
    cli([...args, '--input', json]),
    cli([...args, '--input', '-'], readFileSync(SCORES)),
  ]);
  assert.equal(a.code, 0, a.stderr);
  checkRouting(JSON.parse(a.stdout) as Out, S, N, M, 3);
  assert.equal(b.stdout, a.stdout);
  assert.equal(c.stdout, a.stdout);
  assert.equal(d.stdout, a.stdout);
  // --output FILE writes the same text as standard output.
  const out = join(DIR, 'out.json');
  const e = await cli([...args, '--input', SCORES, '--output', out]);
  assert.equal(e.code, 0, e.stderr);
  assert.equal(e.stdout, '');
  assert.equal(readFileSync(out, 'utf8'), a.stdout);
});

test('--state chains batches: two CLI calls equal one balancer routing both batches', async () => {
  const half = N / 2;
  const A = join(DIR, 'a.npy');
  const B = join(DIR, 'b.npy');
  writeNpy(A, S.slice(0, half * M), [half, M]);
  writeNpy(B, S.slice(half * M), [half, M]);
  const cases: [string, string[], Record<string, unknown>][] = [
    ['bip', ['--iters', '2', '--order', 'route-then-update'], { iters: 2, order: 'route-then-update' }],
    ['bip', ['--truncate', 'q'], { truncate: 'q' }],
    ['lossfree', ['--rate', '0.05', '--update', 'linear'], { rate: 0.05, update: 'linear' }],
    ['quantile', [], {}],
    ['online', ['--rate', '0.2', '--group', '3'], { rate: 0.2, group: 3 }],
    ['online', ['--scale', 'none', '--rate', '0.01', '--truncate', 'false'], { scale: 'none', rate: 0.01, truncate: false }],
  ];
  await Promise.all(
    cases.map(async ([method, flags, options], x) => {
      const state = join(DIR, `chain${x}.state.json`);
      const base = ['--method', method, '--k', '2', ...flags, '--state', state];
      const oa = await route([...base, '--input', A]);
      assert.deepEqual(JSON.parse(readFileSync(state, 'utf8')), oa.state);
      const ob = await route([...base, '--input', B]);
      assert.deepEqual(JSON.parse(readFileSync(state, 'utf8')), ob.state);

      const bal = createBalancer(method, options);
      const ra = bal.route(S.slice(0, half * M), half, M, 2);
      assert.deepEqual(oa.experts, rowsOf(Float32Array.from(ra.experts), half, 2), method);
      const rb = bal.route(S.slice(half * M), half, M, 2);
      assert.deepEqual(ob.experts, rowsOf(Float32Array.from(rb.experts), half, 2), method);
      assert.deepEqual(ob.state, bal.getState(), method);
      // The carried state did something: it is not the state of batch B routed alone.
      const alone = createBalancer(method, options);
      alone.route(S.slice(half * M), half, M, 2);
      assert.notDeepEqual(ob.state, alone.getState(), method);
    }),
  );
});

test('logits with the softmax gate match numpy softmax scores; the sigmoid gate keeps the logits order', async () => {
  const L = readNpy(LOGITS).data as Float32Array;
  const [soft, direct, sig] = await Promise.all([
    route(['--method', 'topk', '--k', '2', '--input', LOGITS, '--input-kind', 'logits']),
    route(['--method', 'topk', '--k', '2', '--input', SCORES]),
    route(['--method', 'topk', '--k', '2', '--input', LOGITS, '--input-kind', 'logits', '--gate', 'sigmoid']),
  ]);
  assert.deepEqual(soft.experts, direct.experts);
  for (let i = 0; i < N; i++) for (let t = 0; t < 2; t++) assert.ok(Math.abs(soft.weights[i][t] - direct.weights[i][t]) < 1e-6);
  const sigmoid = L.map((x) => 1 / (1 + Math.exp(-x)));
  checkRouting(sig, sigmoid, N, M, 2);
  for (let i = 0; i < N; i++) {
    const order = Array.from({ length: M }, (_, j) => j).sort((a, b) => L[i * M + b] - L[i * M + a]);
    assert.deepEqual(sig.experts[i], order.slice(0, 2), `token ${i}`);
  }
});

test('auxloss reports alpha * sum_j f_j P_j; optimal keeps every load within ceil(kn/m)', async () => {
  const [aux, seq, opt] = await Promise.all([
    route(['--method', 'auxloss', '--k', '2', '--alpha', '0.5', '--input', SCORES]),
    route(['--method', 'auxloss', '--k', '2', '--form', 'sequence', '--seq-len', '64', '--input', SCORES]),
    route(['--method', 'optimal', '--k', '2', '--input', SCORES]),
  ]);
  checkRouting(aux, S, N, M, 2);
  let want = 0;
  for (let j = 0; j < M; j++) {
    let p = 0;
    for (let i = 0; i < N; i++) p += S[i * M + j];
    want += ((M * aux.loads[j]) / (N * 2)) * (p / N);
  }
  assert.ok(Math.abs((aux.auxLoss as number) - 0.5 * want) < 1e-6, `${aux.auxLoss} vs ${0.5 * want}`);
  // One sequence of all 64 tokens: the sequence form equals the global one (default alpha 0.1).
  assert.ok(Math.abs((seq.auxLoss as number) - 0.1 * want) < 1e-6, `${seq.auxLoss} vs ${0.1 * want}`);
  assert.deepEqual(aux.state, {});
  checkRouting(opt, S, N, M, 2);
  assert.ok(Math.max(...opt.loads) <= Math.ceil((2 * N) / M));
});

test('bad input exits 2 with one line naming the problem, and leaves the state file alone', async () => {
  const oneD = join(DIR, 'one_d.npy');
  writeNpy(oneD, new Float32Array(8), [8]);
  const withNaN = join(DIR, 'nan.npy');
  const nanScores = S.slice(0, 4 * M);
  nanScores[2 * M + 5] = NaN;
  writeNpy(withNaN, nanScores, [4, M]);
  const ints = join(DIR, 'ints.npy');
  writeNpy(ints, new Int32Array(4 * M), [4, M]);
  const truncated = join(DIR, 'truncated.npy');
  writeFileSync(truncated, readFileSync(SCORES).subarray(0, 1000));
  const ragged = join(DIR, 'ragged.json');
  writeFileSync(ragged, '[[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7]]');
  const smallState = join(DIR, 'small.state.json');
  writeFileSync(smallState, '{"q": [0, 0, 0]}\n');
  const wrongKey = join(DIR, 'wrongkey.state.json');
  writeFileSync(wrongKey, JSON.stringify({ b: new Array(M).fill(0) }));
  const notFinite = join(DIR, 'nan.state.json');
  writeFileSync(notFinite, `{"q": [0, 0, "NaN"${', 0'.repeat(M - 3)}]}`);
  const badSpread = join(DIR, 'spread.state.json');
  writeFileSync(badSpread, JSON.stringify({ q: new Array(M).fill(0), spread: [1, 2] }));

  const cases: [string[], RegExp][] = [
    [['--input', 'nope.npy'], /^moe-balance route: nope\.npy: file not found$/],
    [['--input', oneD], /one_d\.npy: expected a 2-D array \(tokens x experts\), got shape \(8,\)$/],
    [['--input', withNaN], /nan\.npy: NaN at row 2 col 5$/],
    [['--input', ints], /ints\.npy: dtype int32 is not supported/],
    [['--input', truncated], /truncated\.npy: truncated data: shape \(64, 8\) of float32 needs 2048 bytes, the file has 872$/],
    [['--input', ragged], /ragged\.json: row 1 has 3 entries, row 0 has 4$/],
    [['--input', SCORES, '--k', '8'], /--k 8 must be smaller than the number of experts m = 8/],
    [['--input', SCORES, '--k', '0'], /--k must be an integer >= 1, got '0'/],
    [['--input', SCORES, '--method', 'switch'], /unknown method 'switch' \(methods: topk, bip, lossfree, quantile, auxloss, sinkhorn, expertchoice, online, exact, optimal\)$/],
    [['--input', SCORES, '--method', 'online', '--state', badSpread], /spread\.state\.json: online state: 'spread' must be \[\] or \[one finite number >= 0\]$/],
    [['--input', SCORES, '--state', notFinite], /nan\.state\.json: bip state: 'q\[2\]' is not a finite number \(NaN\)$/],
    [['--input', SCORES, '--method', 'topk', '--state', notFinite], /nan\.state\.json: topk state must be \{\} \(it has no state\), got keys: q$/],
    [['--input', SCORES, '--state', smallState], /small\.state\.json: "q" has 3 values but the input has m = 8 experts$/],
    [['--input', SCORES, '--state', wrongKey, '--output', 'out-never.json'], /wrongkey\.state\.json: bip state: unknown key 'b' \(expected only 'q'\)$/],
    [['--input', SCORES, '--method', 'bip', '--rate', '0.1'], /--rate is an option of methods lossfree and online, not of bip$/],
    [['--input', SCORES, '--method', 'lossfree', '--group', '2'], /--group is an option of method online, not of lossfree$/],
    [['--input', SCORES, '--method', 'topk', '--iters', '2'], /--iters is an option of methods bip and sinkhorn, not of topk$/],
    [['--input', SCORES, '--gate', 'sigmoid'], /--gate applies only with --input-kind logits$/],
    [['--input', SCORES, '--iters', 'four'], /--iters must be an integer from 0 to 10000, got 'four'$/],
    [['--input', SCORES, '--truncate', 'yes'], /--truncate must be true, false or 'q', got 'yes'$/],
    [['--input', SCORES, '--order', 'random'], /--order must be one of update-then-route, route-then-update, got 'random'$/],
    [['--input', SCORES, '--method', 'auxloss', '--form', 'sequence'], /auxloss: form 'sequence' needs option 'seqLen'$/],
    [['--input', SCORES, '--frobnicate'], /unknown option '--frobnicate' \(see --help\)$/],
    [['--input', SCORES, 'extra'], /unexpected argument 'extra' \(see --help\)$/],
    [['--method', 'bip'], /--input FILE is required/],
    [['--input', SCORES, '--method', 'bip-T2', '--iters', '3'], /--iters is given twice/],
    [['--input', SCORES, '--method', 'lossfree:rate=-1'], /method 'lossfree:rate=-1': option 'rate' of 'lossfree' must be a number >= 0, got -1$/],
    [['--input', SCORES, '--method', 'quantile', '--range=-1,1'], /option 'range' of 'quantile' applies only with bins > 0$/],
  ];
  const results = await Promise.all(cases.map(([args]) => cli(args)));
  results.forEach((r, x) => {
    const [args, re] = cases[x];
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    assert.equal(r.stdout, '', args.join(' '));
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: more than one line:\n${r.stderr}`);
    assert.match(lines[0], re, args.join(' '));
  });
  assert.equal(readFileSync(smallState, 'utf8'), '{"q": [0, 0, 0]}\n');
  assert.ok(!existsSync(join(DIR, 'out-never.json')));
});

test('--help documents every option', async () => {
  const r = await cli(['--help']);
  assert.equal(r.code, 0);
  for (const name of Object.keys(ROUTE_OPTIONS)) assert.match(r.stdout, new RegExp(`--${name}\\b`), `--${name} missing from --help`);
  for (const method of ['topk', 'bip', 'lossfree', 'quantile', 'auxloss', 'online', 'optimal']) assert.ok(r.stdout.includes(method));
});
