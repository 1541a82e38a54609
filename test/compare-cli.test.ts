import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCompareArgs, readPreset } from '../src/cli/compare.ts';
import { CliError } from '../src/cli/errors.ts';

function setup(): { dir: string; config: string; preset: string } {
  const dir = mkdtempSync(join(tmpdir(), 'moe-compare-cli-'));
  const config = join(dir, 'model.json');
  writeFileSync(config, '{"numExperts": 16}');
  const preset = join(dir, 'preset.json');
  writeFileSync(preset, JSON.stringify({ config, methods: ['auxloss', 'bip'], seeds: [1, 2], steps: 40, evalEvery: 10, jobs: 2, set: ['lr=0.001'] }));
  return { dir, config, preset };
}

test('compare options come from the flags', () => {
  const { dir, config } = setup();
  try {
    const o = parseCompareArgs(['--config', config, '--methods', 'auxloss, lossfree,bip-T2', '--steps', '30', '--seeds', '1,2,3', '--out', 'x', '--jobs', '2', '--set', 'lr=0.01', '--set', 'bip:bipOrder=route-then-update', '--eval-every', '5']);
    assert.ok(o);
    assert.deepEqual(o.methods, ['auxloss', 'lossfree', 'bip-T2']);
    assert.deepEqual(o.seeds, [1, 2, 3]);
    assert.equal(o.steps, 30);
    assert.equal(o.jobs, 2);
    assert.equal(o.evalEvery, 5);
    assert.deepEqual(o.set, ['lr=0.01', 'bip:bipOrder=route-then-update']);
    assert.equal(o.out, 'x');
    assert.match(o.command ?? '', /^moe-balance compare --config /);
    assert.equal(parseCompareArgs(['--help']), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a preset gives defaults that flags override', () => {
  const { dir, config, preset } = setup();
  try {
    const o = parseCompareArgs(['--preset', preset, '--out', 'runs/q', '--steps', '8', '--set', 'seqLen=32']);
    assert.ok(o);
    assert.equal(o.config, config);
    assert.deepEqual(o.methods, ['auxloss', 'bip']);
    assert.deepEqual(o.seeds, [1, 2]);
    assert.equal(o.steps, 8);
    assert.equal(o.evalEvery, 10);
    assert.equal(o.jobs, 2);
    assert.deepEqual(o.set, ['lr=0.001', 'seqLen=32']);
    assert.equal(o.preset, preset);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the quick preset that npm start uses is valid', () => {
  const p = readPreset('quick');
  assert.ok(Array.isArray(p.methods) && p.methods.length >= 2);
  assert.ok(typeof p.steps === 'number' && p.steps > 0);
  assert.equal(typeof p.config, 'string');
});

test('bad compare options are one-line usage errors', () => {
  const { dir, config, preset } = setup();
  try {
    const base = ['--config', config, '--steps', '5', '--out', 'o'];
    const cases: [string[], RegExp][] = [
      [['--steps', '5', '--out', 'o', '--methods', 'bip'], /--config is required/],
      [[...base], /--methods is required/],
      [[...base, '--methods', 'bip,magic'], /unknown method 'magic'/],
      [[...base, '--methods', 'bip', '--seeds', '1,x'], /--seeds must be an integer/],
      [[...base, '--methods', 'bip', '--seeds', '1,1'], /listed twice/],
      [[...base, '--methods', 'bip', '--jobs', '0'], /--jobs must be an integer >= 1/],
      [[...base, '--methods', 'bip', '--set', 'nonsense'], /--set expects KEY=VALUE/],
      [['--config', join(dir, 'missing.json'), '--methods', 'bip', '--steps', '5', '--out', 'o'], /config file not found/],
      [['--preset', 'no-such-preset', '--out', 'o'], /no preset 'no-such-preset'/],
      [['--config', config, '--methods', 'bip', '--out', 'o'], /--steps is required/],
      [['--preset', preset], /--out is required/],
    ];
    for (const [argv, re] of cases) assert.throws(() => parseCompareArgs(argv), (e: Error) => (e instanceof CliError || e.name === 'InputError') && re.test(e.message), argv.join(' '));
    assert.throws(() => parseCompareArgs([...base, '--methods', 'bip', '--bogus']), /unknown option '--bogus'/);
    writeFileSync(preset, '{"config": "x", "stepz": 3}');
    assert.throws(() => parseCompareArgs(['--preset', preset]), /unknown key 'stepz'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
