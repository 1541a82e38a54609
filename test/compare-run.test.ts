import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCompare, methodToTrain, setsFor, checkMethods, lastLoggedStep, type CompareOptions } from '../src/compare/run.ts';
import { parseRunLog } from '../src/compare/logs.ts';

const FAKE = fileURLToPath(new URL('./fixtures/fakeTrain.ts', import.meta.url));
const TRAIN = [process.execPath, '--import', 'tsx', FAKE];

interface Call {
  args: string[];
  start: number;
  end: number;
}
function calls(file: string): Call[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}
function opt(args: string[], name: string): string[] {
  return args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
}
function withEnv<T>(env: Record<string, string | undefined>, f: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  return f().finally(() => {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

test('method variants and scoped overrides map onto train options', () => {
  assert.deepEqual(methodToTrain('bip-T2'), { base: 'bip', set: ['bipIters=2'] });
  assert.deepEqual(methodToTrain('lossfree'), { base: 'lossfree', set: [] });
  assert.deepEqual(methodToTrain('bip-T8-notrunc'), { base: 'bip', set: ['bipIters=8', 'bipTruncate=false'] });
  assert.deepEqual(methodToTrain('bip-notrunc'), { base: 'bip', set: ['bipTruncate=false'] });
  assert.deepEqual(methodToTrain('bip-causal'), { base: 'bip', set: ['bipOrder=route-then-update'] });
  assert.deepEqual(methodToTrain('bip-T8-notrunc-causal'), { base: 'bip', set: ['bipIters=8', 'bipTruncate=false', 'bipOrder=route-then-update'] });
  assert.deepEqual(methodToTrain('auxloss-a0.01'), { base: 'auxloss', set: ['auxAlpha=0.01'] });
  assert.deepEqual(methodToTrain('lossfree-u0.01'), { base: 'lossfree', set: ['lossfreeRate=0.01'] });
  assert.deepEqual(methodToTrain('lossfree-u1e-3'), { base: 'lossfree', set: ['lossfreeRate=0.001'] });
  // One rule for Loss-Free's rate (>= 0, the registry's): u = 0 is a frozen bias, a valid ablation.
  assert.deepEqual(methodToTrain('lossfree-u0'), { base: 'lossfree', set: ['lossfreeRate=0'] });
  assert.match(String(checkMethods(['lossfree-u-1'])), /option 'rate' of 'lossfree' must be a number >= 0, got -1/);
  assert.match(String(checkMethods(['auxloss-ax'])), /method 'auxloss-ax': option 'alpha' of 'auxloss' must be a number >= 0, got "x"/);
  assert.equal(checkMethods(['online', 'bip-causal', 'auxloss-a0.01', 'lossfree-u0.01']), undefined);
  assert.equal(methodToTrain('bip').set.length, 0);
  assert.deepEqual(setsFor('bip-T1', ['lr=0.01', 'bip:bipOrder=route-then-update', 'auxloss:auxAlpha=0.01']), ['bipIters=1', 'lr=0.01', 'bipOrder=route-then-update']);
  assert.deepEqual(setsFor('auxloss', ['lr=0.01', 'bip:bipOrder=route-then-update', 'auxloss:auxAlpha=0.01']), ['lr=0.01', 'auxAlpha=0.01']);
  assert.equal(checkMethods(['auxloss', 'bip-T4', 'topk']), undefined);
  assert.match(checkMethods(['auxloss', 'nope']) ?? '', /unknown method 'nope'/);
  assert.match(checkMethods(['bip', 'bip']) ?? '', /twice/);
});

test('compare runs every method and seed, at most `jobs` at once, then writes compare.json and the report', async () => {
  const out = mkdtempSync(join(tmpdir(), 'moe-compare-run-'));
  const record = join(out, 'calls.jsonl');
  try {
    const o: CompareOptions = {
      config: 'configs/none.json',
      methods: ['auxloss', 'bip-T2', 'bip'],
      seeds: [1, 2],
      steps: 12,
      out,
      jobs: 2,
      set: ['lr=0.01', 'bip:bipOrder=route-then-update'],
      evalEvery: 4,
      trainCommand: TRAIN,
      log: () => {},
      statusEveryMs: 0,
      command: 'moe-balance compare --test',
    };
    const res = await withEnv({ FAKE_TRAIN_RECORD: record, FAKE_TRAIN_CRASH_AT: undefined, FAKE_TRAIN_FAIL: undefined }, () => runCompare(o));
    assert.equal(res.failed, 0);
    for (const r of res.records) assert.ok(r.concurrent === 1 || r.concurrent === 2, `${r.name} concurrent ${r.concurrent}`);
    assert.deepEqual(res.records.map((r) => `${r.name}:${r.status}`).sort(), ['auxloss-s1:done', 'auxloss-s2:done', 'bip-T2-s1:done', 'bip-T2-s2:done', 'bip-s1:done', 'bip-s2:done']);
    const cs = calls(record);
    assert.equal(cs.length, 6);
    // Never more than two at once.
    for (const c of cs) assert.ok(cs.filter((d) => d.start < c.end && c.start < d.end).length <= 2);
    const byRun = new Map(cs.map((c) => [`${opt(c.args, '--method')[0]}|${opt(c.args, '--set').join(',')}|${opt(c.args, '--seed')[0]}`, c]));
    assert.ok(byRun.has('auxloss|lr=0.01|1'));
    assert.ok(byRun.has('bip|bipIters=2,lr=0.01,bipOrder=route-then-update|2'));
    assert.ok(byRun.has('bip|lr=0.01,bipOrder=route-then-update|1'));
    for (const c of cs) {
      assert.deepEqual(opt(c.args, '--steps'), ['12']);
      assert.deepEqual(opt(c.args, '--eval-every'), ['4']);
      assert.deepEqual(opt(c.args, '--config'), ['configs/none.json']);
      assert.ok(!c.args.includes('--resume'));
    }
    assert.equal(lastLoggedStep(join(out, 'runs', 'bip-s1')), 12);
    const meta = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
    assert.equal(meta.command, 'moe-balance compare --test');
    assert.deepEqual(meta.methods, ['auxloss', 'bip-T2', 'bip']);
    assert.deepEqual(meta.seeds, [1, 2]);
    assert.ok(meta.machine.cores >= 1 && typeof meta.machine.cpuModel === 'string');
    assert.equal(typeof meta.versions['d3-scale'], 'string');
    assert.ok(meta.versions['moe-balance']);
    assert.ok(meta.endedAt >= meta.startedAt);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    assert.deepEqual(summary.methods.map((m: { method: string }) => m.method), ['auxloss', 'bip-T2', 'bip']);
    assert.ok(res.report.markdown.includes('| bip-T2 '));
    assert.ok(existsSync(join(out, 'report.html')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('an interrupted compare resumes from checkpoints and skips finished runs', async () => {
  const out = mkdtempSync(join(tmpdir(), 'moe-compare-resume-'));
  const record = join(out, 'calls.jsonl');
  const o: CompareOptions = { config: 'c.json', methods: ['auxloss', 'bip'], seeds: [1], steps: 10, out, jobs: 2, trainCommand: TRAIN, log: () => {}, statusEveryMs: 0 };
  try {
    // First attempt: every run dies after step 4.
    const first = await withEnv({ FAKE_TRAIN_RECORD: record, FAKE_TRAIN_CRASH_AT: '4', FAKE_TRAIN_FAIL: undefined }, () => runCompare(o));
    assert.equal(first.failed, 2);
    assert.equal(lastLoggedStep(join(out, 'runs', 'bip-s1')), 4);
    // Second: both resume and finish; steps 1..10 each logged once.
    const second = await withEnv({ FAKE_TRAIN_RECORD: record, FAKE_TRAIN_CRASH_AT: undefined, FAKE_TRAIN_FAIL: undefined }, () => runCompare(o));
    assert.equal(second.failed, 0);
    assert.deepEqual(second.records.map((r) => r.status), ['resumed', 'resumed']);
    const resumedCalls = calls(record);
    assert.equal(resumedCalls.length, 2);
    for (const c of resumedCalls) assert.ok(c.args.includes('--resume'));
    for (const m of ['auxloss', 'bip']) {
      const text = readFileSync(join(out, 'runs', `${m}-s1`, 'log.jsonl'), 'utf8');
      const stepLines = text.split('\n').filter((l) => l.startsWith('{"step"'));
      assert.deepEqual(stepLines.map((l) => JSON.parse(l).step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.ok(parseRunLog(text).summary);
    }
    assert.equal(second.report.runs.length, 2);
    assert.ok(second.report.runs.every((r) => r.finished && r.steps === 10));
    // Third: nothing left to do.
    const third = await withEnv({ FAKE_TRAIN_RECORD: record }, () => runCompare(o));
    assert.deepEqual(third.records.map((r) => r.status), ['skipped', 'skipped']);
    assert.ok(third.records.every((r) => typeof r.ms === 'number' && r.concurrent !== undefined), 'skipped runs keep their recorded time');
    assert.equal(calls(record).length, 2);
    const meta = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
    assert.equal(meta.previousStarts.length, 2);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("one checkpoint rule: a run folder with a checkpoint's data but no manifest starts afresh (--force), as the trainer would refuse --resume", async () => {
  const out = mkdtempSync(join(tmpdir(), 'moe-compare-bare-'));
  const record = join(out, 'calls.jsonl');
  try {
    // What a run killed between writing the data and the manifest leaves (src/train/checkpoint.ts).
    mkdirSync(join(out, 'runs', 'bip-s1'), { recursive: true });
    writeFileSync(join(out, 'runs', 'bip-s1', 'ckpt-000004.bin'), 'data without its manifest');
    const res = await withEnv({ FAKE_TRAIN_RECORD: record, FAKE_TRAIN_CRASH_AT: undefined, FAKE_TRAIN_FAIL: undefined }, () =>
      runCompare({ config: 'c.json', methods: ['bip'], seeds: [1], steps: 4, out, jobs: 1, trainCommand: TRAIN, log: () => {}, statusEveryMs: 0 }),
    );
    assert.deepEqual(res.records.map((r) => `${r.name}:${r.status}`), ['bip-s1:done']);
    const [c] = calls(record);
    assert.ok(c.args.includes('--force') && !c.args.includes('--resume'), c.args.join(' '));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('a failing run is reported and the others still complete', async () => {
  const out = mkdtempSync(join(tmpdir(), 'moe-compare-fail-'));
  try {
    const res = await withEnv({ FAKE_TRAIN_FAIL: 'bip', FAKE_TRAIN_CRASH_AT: undefined, FAKE_TRAIN_RECORD: undefined }, () =>
      runCompare({ config: 'c.json', methods: ['bip', 'lossfree'], seeds: [3], steps: 6, out, jobs: 1, trainCommand: TRAIN, log: () => {}, statusEveryMs: 0 }),
    );
    assert.equal(res.failed, 1);
    assert.deepEqual(res.records.map((r) => `${r.name}:${r.status}:${r.exitCode}`), ['bip-s3:failed:1', 'lossfree-s3:done:0']);
    assert.ok(readFileSync(join(out, 'runs', 'bip-s3', 'train.out'), 'utf8').includes('fake failure'));
    assert.ok(readFileSync(join(out, 'report.html'), 'utf8').includes('bip-s3 (exit 1)'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
