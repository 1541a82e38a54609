import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCompareReport, concurrencyNote } from '../src/compare/report.ts';
import { movingAverage } from '../src/compare/charts.ts';
import type { CompareMeta } from '../src/compare/meta.ts';
import { parseRunLog, parseRunName, listRunDirs } from '../src/compare/logs.ts';
import { parseJsonLines } from '../src/io/json.ts';
import { readLog } from '../src/train/log.ts';
import { writeSyntheticRun, syntheticRunLines } from './fixtures/compareLogs.ts';

const METHODS = ['auxloss', 'lossfree', 'bip'];
const SEEDS = [1, 2];
const LAYERS = 3;

/** Independent recomputation from a log file: last line per step wins; MaxVio from the loads themselves. */
function recompute(logText: string) {
  const steps = new Map<number, { layers: { loads: number[] }[] }>();
  let lastEval: { perplexity: number } | undefined;
  for (const line of logText.split('\n')) {
    if (!line.trim() || !line.endsWith('}')) continue; // the truncated last line
    const o = JSON.parse(line);
    if (o.eval) lastEval = o;
    else if (!o.summary) steps.set(o.step, o);
  }
  const vios: number[] = [];
  let maxSum = 0;
  let meanSum = 0;
  for (const s of steps.values()) {
    for (const l of s.layers) {
      const mu = l.loads.reduce((a, b) => a + b, 0) / l.loads.length;
      const mx = Math.max(...l.loads);
      vios.push((mx - mu) / mu);
      maxSum += mx;
      meanSum += mu;
    }
  }
  return { avg: vios.reduce((a, b) => a + b, 0) / vios.length, sup: Math.max(...vios), ep: maxSum / meanSum, ppl: lastEval!.perplexity };
}

function makeCompareDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'moe-compare-report-'));
  for (const method of METHODS) for (const seed of SEEDS) writeSyntheticRun(dir, { method, seed, steps: 30, layers: LAYERS, lieInSummary: seed === 2 });
  // A resumed run logs steps 21..30 again with different values: the later lines must win.
  const resumed = syntheticRunLines({ method: 'bip', seed: 99, steps: 30, layers: LAYERS }).filter((l) => (l.step as number) > 20);
  appendFileSync(join(dir, 'runs', 'bip-s1', 'log.jsonl'), resumed.map((l) => JSON.stringify(l)).join('\n') + '\n');
  // A kill mid-write leaves a truncated last line.
  appendFileSync(join(dir, 'runs', 'lossfree-s1', 'log.jsonl'), '{"step":31,"loss":3.1,"lay');
  return dir;
}

test('run folder names split into method and seed', () => {
  assert.deepEqual(parseRunName('bip-T2-s13'), { method: 'bip-T2', seed: 13 });
  assert.deepEqual(parseRunName('auxloss-s1'), { method: 'auxloss', seed: 1 });
  assert.equal(parseRunName('notes'), undefined);
});

test('parseRunLog keeps the last line per step and ignores a truncated line', () => {
  const log = parseRunLog('{"step":1,"loss":2,"layers":[]}\n{"step":2,"loss":3,"layers":[]}\n{"step":1,"loss":5,"layers":[]}\n{"eval":true,"step":2,"valLoss":1}\n{"step":3,"lo');
  assert.deepEqual(log.steps.map((s) => [s.step, s.loss]), [[1, 5], [2, 3]]);
  assert.equal(log.evals.length, 1);
  assert.equal(log.summary, undefined);
});

test("one rule for a torn log line: the trainer's readLog and the report's parseRunLog both skip it and keep the rest", () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-torn-'));
  const path = join(dir, 'log.jsonl');
  const text = '{"step":1,"loss":2,"layers":[]}\n\n{"step":2,"lo\n{"eval":true,"step":1,"valLoss":1}\n{"step":3,"loss":4,"layers":[]}\n{"sum';
  writeFileSync(path, text);
  assert.deepEqual(parseJsonLines(text), [{ step: 1, loss: 2, layers: [] }, { eval: true, step: 1, valLoss: 1 }, { step: 3, loss: 4, layers: [] }]);
  assert.deepEqual(readLog(path), parseJsonLines(text));
  assert.deepEqual(parseRunLog(text).steps.map((s) => s.step), [1, 3]);
  rmSync(dir, { recursive: true, force: true });
});

test('movingAverage is trailing and skips NaN', () => {
  assert.deepEqual(movingAverage([1, 3, NaN, 5], 2), [1, 2, 3, 5]);
  assert.deepEqual(movingAverage([1, 2], 1), [1, 2]);
});

test('the compare report recomputes AvgMaxVio, SupMaxVio, EP step time and perplexity from the logs', () => {
  const dir = makeCompareDir();
  try {
    const rep = buildCompareReport(dir);
    const summary = JSON.parse(readFileSync(rep.jsonPath, 'utf8'));
    assert.deepEqual(summary.methods.map((m: { method: string }) => m.method), ['auxloss', 'lossfree', 'bip']);
    assert.equal(listRunDirs(dir).length, METHODS.length * SEEDS.length);
    for (const method of METHODS) {
      const expected = SEEDS.map((seed) => recompute(readFileSync(join(dir, 'runs', `${method}-s${seed}`, 'log.jsonl'), 'utf8')));
      for (const [i, seed] of SEEDS.entries()) {
        const run = summary.runs.find((r: { method: string; seed: number }) => r.method === method && r.seed === seed);
        assert.ok(Math.abs(run.avgMaxVio - expected[i].avg) < 1e-12, `${method} s${seed} AvgMaxVio`);
        assert.ok(Math.abs(run.supMaxVio - expected[i].sup) < 1e-12, `${method} s${seed} SupMaxVio`);
        assert.ok(Math.abs(run.epStepTime - expected[i].ep) < 1e-12, `${method} s${seed} EP step time`);
        assert.ok(Math.abs(run.perplexity - expected[i].ppl) < 1e-12, `${method} s${seed} perplexity`);
        assert.equal(run.layerAvgMaxVio.length, LAYERS);
        assert.equal(run.steps, 30);
      }
      const m = summary.methods.find((x: { method: string }) => x.method === method);
      const meanAvg = (expected[0].avg + expected[1].avg) / 2;
      assert.ok(Math.abs(m.avgMaxVio.mean - meanAvg) < 1e-12);
      assert.ok(Math.abs(m.supMaxVio.mean - (expected[0].sup + expected[1].sup) / 2) < 1e-12);
      assert.ok(m.supMaxVio.mean < 999, 'the summary line is not trusted');
      // The Markdown table shows the same numbers.
      const row = rep.markdown.split('\n').find((l) => l.startsWith(`| ${method} `));
      assert.ok(row, `row for ${method}`);
      assert.ok(row.includes(meanAvg.toFixed(3)), `${method} AvgMaxVio ${meanAvg.toFixed(3)} in ${row}`);
    }
    const aux = summary.methods.find((x: { method: string }) => x.method === 'auxloss');
    const bip = summary.methods.find((x: { method: string }) => x.method === 'bip');
    assert.ok(Math.abs(bip.wallVsAuxloss - (bip.wallMs.mean / aux.wallMs.mean - 1)) < 1e-12);
    assert.ok(bip.wallVsAuxloss < 0);

    const md = readFileSync(rep.markdownPath, 'utf8');
    assert.ok(md.includes('| Method'));
    assert.ok(md.includes('## AvgMaxVio per layer'));
    const html = readFileSync(rep.htmlPath, 'utf8');
    const charts = html.match(/<svg[^>]*class="chart"/g) ?? [];
    assert.equal(charts.length, LAYERS + 5, "one MaxVio panel per layer + validation loss (2 panels), training loss (2), step time");
    for (const name of ['Results', 'MaxVio per step', 'Validation loss', 'Training loss', 'Step time', 'Run details']) assert.ok(html.includes(`<h2>${name}</h2>`), name);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unfinished runs, missing methods and compare.json metadata are reported', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-compare-report-'));
  try {
    writeSyntheticRun(dir, { method: 'auxloss', seed: 1, steps: 10 });
    writeSyntheticRun(dir, { method: 'bip', seed: 1, steps: 6, finished: false });
    writeFileSync(
      join(dir, 'compare.json'),
      JSON.stringify({
        command: 'moe-balance compare --methods auxloss,bip,lossfree',
        cwd: dir,
        config: { path: 'configs/moe16.json', values: { numExperts: 16 } },
        methods: ['auxloss', 'bip', 'lossfree'],
        seeds: [1],
        steps: 10,
        jobs: 2,
        set: ['lr=0.01'],
        versions: { 'moe-balance': '0.1.0', 'd3-scale': '4.0.3' },
        machine: { cores: 2, cpuModel: 'Test CPU', node: 'v20', platform: 'linux', arch: 'x64', osRelease: '6', totalMemGiB: 8 },
        startedAt: '2026-01-01T00:00:00Z',
        endedAt: '2026-01-01T00:10:00Z',
        runs: [],
      }),
    );
    const rep = buildCompareReport(dir);
    const rows = rep.markdown.split('\n');
    assert.ok(rows.find((l) => l.startsWith('| bip '))!.includes('0/1 done'));
    assert.ok(rows.find((l) => l.startsWith('| lossfree '))!.includes('none'));
    const html = readFileSync(rep.htmlPath, 'utf8');
    for (const s of ['moe-balance compare --methods auxloss,bip,lossfree', 'Test CPU', 'd3-scale 4.0.3', '--set lr=0.01', 'configs/moe16.json']) assert.ok(html.includes(s), s);
    assert.ok(html.includes('6 (unfinished)'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a note warns when runs did not share the machine alike', () => {
  const meta = (runs: CompareMeta['runs']) => ({ runs }) as CompareMeta;
  assert.equal(concurrencyNote(meta([{ name: 'a-s1', status: 'done', concurrent: 2 }, { name: 'b-s1', status: 'done', concurrent: 2 }])), undefined);
  assert.equal(concurrencyNote(undefined), undefined);
  const note = concurrencyNote(
    meta([
      { name: 'a-s1', status: 'done', concurrent: 2 },
      { name: 'b-s1', status: 'skipped', concurrent: 2 },
      { name: 'c-s1', status: 'done', concurrent: 1 },
      { name: 'd-s1', status: 'failed', concurrent: 1 },
    ]),
  );
  assert.equal(note, 'the runs did not share the machine alike (2 at once: a-s1, b-s1; alone: c-s1), so their wall-clock and step times are not directly comparable.');
});
