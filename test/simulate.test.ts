import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMethodList } from '../src/routing/registry.ts';
import { DEFAULT_METHODS } from '../src/simulate/run.ts';
import { summarize } from '../src/simulate/summary.ts';
import { recordLine, parseLog, type StepRecord } from '../src/simulate/record.ts';
import { simulate } from '../src/simulate/run.ts';
import { syntheticStream } from '../src/simulate/streams.ts';
import { replayStream } from '../src/simulate/replay.ts';
import { writeNpy } from '../src/io/npy.ts';
import { run as runCli, SIMULATE_OPTIONS } from '../src/cli/simulate.ts';

const CLI = ['--import', 'tsx', 'src/cli/main.ts', 'simulate'];
const tmp = () => mkdtempSync(join(tmpdir(), 'moe-sim-'));

const rec = (step: number, layer: number, method: string, maxVio: number, routingMs: number | null = 1): StepRecord => ({
  step,
  layer,
  method,
  maxVio,
  minVio: -maxVio,
  retention: 1,
  routingMs,
});

test('summary: Avg/SupMaxVio, and the step from which MaxVio stays below the threshold on every layer', () => {
  const rs = [
    // layer 0 settles at step 3 (dips below 0.1 at step 1, but comes back above it at step 2)
    rec(1, 0, 'a', 0.05), rec(2, 0, 'a', 0.2), rec(3, 0, 'a', 0.09), rec(4, 0, 'a', 0.01),
    // layer 1 settles at step 4
    rec(1, 1, 'a', 0.5), rec(2, 1, 'a', 0.3), rec(3, 1, 'a', 0.1), rec(4, 1, 'a', 0.0),
    // never settles: above at the last step
    rec(1, 0, 'b', 0.01, null), rec(2, 0, 'b', 0.01, null), rec(3, 0, 'b', 0.01, null), rec(4, 0, 'b', 0.4, null),
    // below from the start
    rec(1, 0, 'c', 0.0), rec(2, 0, 'c', 0.0), rec(3, 0, 'c', 0.0), rec(4, 0, 'c', 0.0),
  ];
  const [a, b, c] = summarize(rs, 0.1);
  assert.equal(a.method, 'a');
  assert.equal(a.settledStep, 4);
  assert.ok(Math.abs(a.avgMaxVio - (0.05 + 0.2 + 0.09 + 0.01 + 0.5 + 0.3 + 0.1) / 8) < 1e-12);
  assert.equal(a.supMaxVio, 0.5);
  assert.equal(a.finalMaxVio, 0.005);
  assert.equal(a.msPerStep, 2); // 8 calls of 1 ms over 4 steps
  assert.equal(a.retentionOpt, null);
  assert.equal(b.settledStep, null);
  assert.equal(b.msPerStep, null);
  assert.equal(c.settledStep, 1);
  assert.equal(summarize(rs.filter((r) => r.layer === 0 && r.method === 'a'), 0.1)[0].settledStep, 3);
});

test('log lines: fixed key order, retentionOpt only when solved, and they parse back', () => {
  const r: StepRecord = { step: 2, layer: 1, method: 'bip-T2', maxVio: 0.5, minVio: -0.25, retention: 0.9, routingMs: null };
  assert.equal(recordLine(r), '{"step":2,"layer":1,"method":"bip-T2","maxVio":0.5,"minVio":-0.25,"retention":0.9,"routingMs":null}');
  const withOpt = { ...r, retentionOpt: 0.95, routingMs: 1.5 };
  assert.equal(recordLine(withOpt), '{"step":2,"layer":1,"method":"bip-T2","maxVio":0.5,"minVio":-0.25,"retention":0.9,"retentionOpt":0.95,"routingMs":1.5}');
  assert.deepEqual(parseLog(`${recordLine(r)}\n${recordLine(withOpt)}\n`), [r, withOpt]);
  assert.throws(() => parseLog('{"step":1}\n'), /line 1: 'layer' is missing/);
});

async function collect(stream: Parameters<typeof simulate>[0], methods: string, timing = false, optimal: 'on' | 'off' = 'off'): Promise<StepRecord[]> {
  const out: StepRecord[] = [];
  await simulate(stream, { k: 2, methods: parseMethodList(methods), optimal, timing, onRecord: (r) => out.push(r) });
  return out;
}

test('simulate: every method sees the same scores and keeps its own state; metrics are consistent', async () => {
  const stream = syntheticStream({ kind: 'skewed', n: 256, m: 8, steps: 6, layers: 2, seed: 3 });
  const rs = await collect(stream, 'topk bip-T2 bip:iters=2,as=twin lossfree:rate=0.05', true, 'on');
  assert.equal(rs.length, 6 * 2 * 4);
  // Order: step, then layer, then method.
  assert.deepEqual(rs.slice(0, 4).map((r) => [r.step, r.layer, r.method]), [[1, 0, 'topk'], [1, 0, 'bip-T2'], [1, 0, 'twin'], [1, 0, 'lossfree-u0.05']]);
  // Two instances of the same method on the same scores agree step for step: no state is shared.
  const by = (m: string) => rs.filter((r) => r.method === m).map((r) => [r.maxVio, r.minVio, r.retention, r.retentionOpt]);
  assert.deepEqual(by('bip-T2'), by('twin'));
  for (const r of rs) {
    assert.ok(r.maxVio >= 0 && r.minVio <= 0 && r.minVio >= -1);
    assert.ok(typeof r.routingMs === 'number' && r.routingMs >= 0);
    assert.ok(r.retentionOpt !== undefined);
    if (r.method === 'topk') assert.equal(r.retention, 1);
    // Nothing keeps more score than plain top-k; the balanced ones keep less than the balanced optimum allows.
    assert.ok(r.retention <= 1 + 1e-6, `${r.method} retention ${r.retention}`);
    if (r.maxVio === 0) assert.ok(r.retentionOpt <= 1 + 1e-6);
  }
  // The skewed stream is unbalanced under top-k and BIP fixes it.
  assert.ok(rs.filter((r) => r.method === 'topk').every((r) => r.maxVio > 1));
  assert.ok(rs.filter((r) => r.method === 'bip-T2' && r.step >= 3).every((r) => r.maxVio < 0.2));
});

test('replay of a recorded stream gives the same records as the stream itself (file and folder forms)', async () => {
  const dir = tmp();
  const o = { kind: 'drift' as const, n: 128, m: 8, steps: 5, layers: 2, seed: 9 };
  const batches = [...syntheticStream(o).batches()];
  const all = new Float32Array(5 * 2 * 128 * 8);
  batches.forEach((layers, s) => layers.forEach((x, l) => all.set(x, (s * 2 + l) * 128 * 8)));
  writeNpy(join(dir, 'scores.npy'), all, [5, 2, 128, 8]);
  mkdirSync(join(dir, 'steps'));
  // Names that sort wrongly as plain strings: the folder form must use natural order.
  batches.forEach((layers, s) => writeNpy(join(dir, 'steps', `step${s * 5 + 1}.npy`), all.subarray(s * 2 * 1024, (s + 1) * 2 * 1024), [2, 128, 8]));
  const methods = 'topk bip-T1 lossfree:rate=0.05 quantile';
  const want = await collect(syntheticStream(o), methods);
  assert.deepEqual(await collect(replayStream(join(dir, 'scores.npy')), methods), want);
  assert.deepEqual(await collect(replayStream(join(dir, 'steps')), methods), want);
  const three = replayStream(join(dir, 'steps'), { steps: 3 });
  assert.equal(three.steps, 3);
  assert.equal(three.layers, 2);
  // 3-D (steps, n, m) files are one layer.
  writeNpy(join(dir, 'one.npy'), all.subarray(0, 2 * 1024), [2, 128, 8]);
  const one = replayStream(join(dir, 'one.npy'));
  assert.deepEqual([one.steps, one.layers, one.n, one.m], [2, 1, 128, 8]);
  assert.throws(() => replayStream(join(dir, 'scores.npy'), { steps: 6 }), /holds only 5 steps/);
  writeNpy(join(dir, 'flat.npy'), new Float32Array(8), [8]);
  assert.throws(() => replayStream(join(dir, 'flat.npy')), /expected \(steps, n, m\)/);
  assert.throws(() => replayStream(join(dir, 'missing.npy')), /not found/);
  writeNpy(join(dir, 'nan.npy'), Float32Array.from([0.5, 0.5, NaN, 0.5]), [1, 2, 2]);
  assert.throws(() => [...replayStream(join(dir, 'nan.npy')).batches()], /non-finite value/);
});

test('CLI: the same seed gives the same log.jsonl byte for byte (--timing off); with timing only routingMs differs', async () => {
  const args = ['--stream', 'clustered', '--n', '256', '--m', '8', '--steps', '8', '--layers', '2', '--seed', '5', '--optimal', 'on', '--quiet'];
  const [a, b, c, d] = [tmp(), tmp(), tmp(), tmp()];
  // Two separate processes, as a user would run them.
  execFileSync(process.execPath, [...CLI, ...args, '--timing', 'off', '--out', a]);
  const stdout = execFileSync(process.execPath, [...CLI, ...args, '--timing', 'off', '--out', b], { encoding: 'utf8' });
  const logA = readFileSync(join(a, 'log.jsonl'));
  assert.ok(logA.length > 0);
  assert.ok(logA.equals(readFileSync(join(b, 'log.jsonl'))), 'log.jsonl differs between two runs with the same seed');
  assert.ok(!existsSync(join(a, 'log.jsonl.partial')));
  const lines = logA.toString().trim().split('\n');
  assert.equal(lines.length, 8 * 2 * 6);
  assert.match(lines[0], /^\{"step":1,"layer":0,"method":"topk","maxVio":[-\d.e]+,"minVio":[-\d.e]+,"retention":1,"retentionOpt":[\d.e]+,"routingMs":null\}$/);
  // With timing on (the default), routingMs is measured and is the only difference.
  let printed = '';
  assert.equal(await runCli([...args, '--out', c], (t) => (printed += t)), 0);
  const timed = readFileSync(join(c, 'log.jsonl'), 'utf8').trim().split('\n');
  const strip = (l: string) => l.replace(/,"routingMs":[^}]*\}$/, '}');
  assert.deepEqual(timed.map(strip), lines.map(strip));
  assert.ok(timed.every((l) => /"routingMs":\d+(\.\d+)?\}$/.test(l)));
  assert.match(printed, /ms\/step/);
  // Another seed gives another log.
  await runCli([...args.map((x) => (x === '5' ? '6' : x)), '--timing', 'off', '--out', d], () => {});
  assert.ok(!logA.equals(readFileSync(join(d, 'log.jsonl'))));
  // The summary on stdout is the one written to summary.md, with a row per default method.
  assert.equal(stdout, readFileSync(join(b, 'summary.md'), 'utf8'));
  for (const m of DEFAULT_METHODS) assert.match(stdout, new RegExp(`^\\| ${m} +\\|`, 'm'));
  // The report is offline and names the command and seed.
  const html = readFileSync(join(b, 'report.html'), 'utf8');
  assert.ok(!/(src|href)="?https?:/.test(html), 'report references the network');
  assert.match(html, /--seed 5/);
  assert.ok((html.match(/<svg/g) ?? []).length >= 4);
  const info = JSON.parse(readFileSync(join(b, 'run.json'), 'utf8'));
  assert.equal(info.seed, 5);
  assert.equal(info.optimal, true);
});

test('CLI: --help explains every stream and option; it exits 0', () => {
  const r = spawnSync(process.execPath, [...CLI, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const word of ['skewed', 'drift', 'collapse', 'clustered', 'Zipf', 'Dirichlet', '--replay', '--methods', '--timing', '--optimal', 'byte-identical', 'bip-T2']) {
    assert.ok(r.stdout.includes(word), `help lacks '${word}'`);
  }
  for (const opt of Object.keys(SIMULATE_OPTIONS)) assert.ok(r.stdout.includes(`--${opt}`), `help lacks --${opt}`);
});

test('CLI: bad options get one-line errors before any work', async () => {
  const out = tmp();
  const cases: [string[], RegExp][] = [
    [['--stream', 'wave'], /--stream must be one of skewed, drift, collapse, clustered, got 'wave'/],
    [['--n', '12x'], /--n must be an integer >= 1, got '12x'/],
    [['--k', '16'], /--k must be smaller than m = 16/],
    [['--gate', 'relu'], /--gate must be one of softmax, sigmoid/],
    [['--timing', 'maybe'], /--timing must be one of on, off/],
    [['--threshold=-1'], /--threshold must be a number > 0/],
    [['--threshold', '-1'], /^--threshold needs a value, got '-1', which reads as an option \(a value that starts with '-' is written --threshold=-1\)$/],
    [['--spread', '2'], /spread must be in \[0, 1\]/],
    [['--methods', 'topk nope'], /unknown method 'nope'/],
    [['--methods', 'lossfree:speed=2'], /lossfree/],
    [['--methods', 'topk', '--method', 'bip'], /either --methods or --method/],
    [['--replay', 'x.npy', '--n', '5'], /cannot be combined with --n/],
    [['--bogus'], /unknown option '--bogus' \(see --help\)$/],
    [['--n', '100000', '--m', '16', '--optimal', 'on'], /LP optimum is limited to n\*m <= 1000000/],
  ];
  for (const [args, re] of cases) {
    await assert.rejects(runCli([...args, '--out', out, '--quiet'], () => {}), (err: Error) => re.test(err.message), `${args.join(' ')}`);
  }
  assert.ok(!existsSync(join(out, 'log.jsonl')));
  // Through the dispatcher: exit code 2 and a single line on stderr.
  const r = spawnSync(process.execPath, [...CLI, '--n', '0'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /moe-balance simulate: --n must be an integer >= 1/);
  writeFileSync(join(out, 'bad.npy'), 'not a npy file');
  const bad = spawnSync(process.execPath, [...CLI, '--replay', join(out, 'bad.npy')], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /replay: .*bad\.npy/);
});
