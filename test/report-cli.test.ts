import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticRun } from './fixtures/compareLogs.ts';
import { isSimulateDir } from '../src/simulate/report.ts';

const BIN = fileURLToPath(new URL('../bin/moe-balance.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });

test('report DIR rebuilds a compare folder from its logs and prints the table', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-report-cli-'));
  try {
    for (const method of ['auxloss', 'bip']) writeSyntheticRun(dir, { method, seed: 1, steps: 10 });
    const r = cli('report', dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\| Method/m);
    assert.match(r.stdout, /^\| auxloss /m);
    assert.match(r.stdout, /^\| bip /m);
    assert.match(r.stdout, /Report: .*report\.html/);
    for (const f of ['report.html', 'summary.md', 'summary.json']) assert.ok(existsSync(join(dir, f)), f);
    assert.equal(isSimulateDir(dir), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report DIR rebuilds a simulate folder: MaxVio panels per layer and retention', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-report-sim-'));
  try {
    const sim = cli('simulate', '--n', '64', '--m', '8', '--k', '2', '--steps', '4', '--layers', '2', '--methods', 'topk bip', '--out', dir, '--quiet');
    assert.equal(sim.status, 0, sim.stderr);
    assert.ok(isSimulateDir(dir));
    rmSync(join(dir, 'report.html'));
    const r = cli('report', dir);
    assert.equal(r.status, 0, r.stderr);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.ok(html.includes('data-chart="layer-0"') && html.includes('data-chart="layer-1"'), 'a MaxVio panel per layer');
    assert.match(html, /data-chart="retention[^"]*"/);
    for (const m of ['topk', 'bip']) assert.ok(html.includes(`data-series="${m}"`), m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('report without a usable folder is a one-line error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-report-empty-'));
  try {
    mkdirSync(join(dir, 'runs'));
    for (const args of [[], [join(dir, 'nope')], [dir], [dir, dir]]) {
      const r = cli('report', ...args);
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^moe-balance report: /);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
