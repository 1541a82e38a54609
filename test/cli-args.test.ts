/**
 * Bad arguments on every command (route, simulate, train, compare, report, bench): a flag without its
 * value, a value on a switch (--flag=value), a flag where a value belongs, a stray argument and an
 * unknown flag each get one line naming the flag (InputError or CliError, which the command line prints
 * as one line with exit 2), never parseArgs' stack trace. In-process for every command and class; then
 * through bin/ for each class, where the stack trace used to show.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refused } from './helpers/refused.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const DIR = mkdtempSync(join(tmpdir(), 'cli-args-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

type Run = (argv: string[]) => Promise<number>;

/** Each command with a flag that takes a value and one that is a switch. */
const COMMANDS: { name: string; load: () => Promise<Run>; valueFlag: string | null; switchFlag: string; positionals: number }[] = [
  { name: 'route', load: async () => (await import('../src/cli/route.ts')).run, valueFlag: '--input', switchFlag: '--help', positionals: 0 },
  { name: 'simulate', load: async () => (await import('../src/cli/simulate.ts')).run, valueFlag: '--out', switchFlag: '--quiet', positionals: 0 },
  { name: 'train', load: async () => (await import('../src/cli/train.ts')).run, valueFlag: '--out', switchFlag: '--quiet', positionals: 0 },
  { name: 'compare', load: async () => (await import('../src/cli/compare.ts')).run, valueFlag: '--config', switchFlag: '--help', positionals: 0 },
  // report takes one folder and no flag with a value.
  { name: 'report', load: async () => (await import('../src/cli/report.ts')).run, valueFlag: null, switchFlag: '--help', positionals: 1 },
  { name: 'bench', load: async () => (await import('../src/cli/bench.ts')).run, valueFlag: '--out', switchFlag: '--quick', positionals: 0 },
];

/** The argv of each failure class for a command, and the line it must get. */
function cases(c: (typeof COMMANDS)[number]): [string, string[], RegExp][] {
  const out: [string, string[], RegExp][] = [];
  const before = c.positionals === 1 ? [DIR] : [];
  if (c.valueFlag) {
    const f = c.valueFlag;
    out.push(['flag without a value', [f], new RegExp(`^${f} needs a value \\(see --help\\)$`)]);
    out.push(['a flag where the value belongs', [f, c.switchFlag], new RegExp(`^${f} needs a value, got '${c.switchFlag}', which reads as an option`)]);
  }
  out.push(['a value on a switch', [...before, `${c.switchFlag}=yes`], new RegExp(`^${c.switchFlag} is a switch and takes no value, got '${c.switchFlag}=yes'$`)]);
  out.push(['a stray argument', [...before, 'stray'], /^unexpected argument 'stray' \(see --help\)$/]);
  out.push(['an unknown flag', [...before, '--nope'], /^unknown option '--nope' \(see --help\)$/]);
  return out;
}

for (const c of COMMANDS) {
  test(`${c.name}: each bad-argument class is one line naming the flag`, async () => {
    const run = await c.load();
    for (const [what, argv, pattern] of cases(c)) {
      await assert.rejects(
        run(argv),
        (err: Error) => {
          assert.ok(err.name === 'InputError' || err.name === 'CliError', `${what}: ${err.name}: ${err.message}`);
          assert.ok(!err.message.includes('\n'), `${what}: one line: ${err.message}`);
          assert.match(err.message, pattern, what);
          return true;
        },
        `${c.name} ${argv.join(' ')}`,
      );
    }
  });
}

test('through the command line: exit 2 and one line for each class (train, where a stack trace used to show)', () => {
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'moe-balance.js'), ...args], { cwd: DIR, encoding: 'utf8', timeout: 120_000 });
    return { code: r.status, stderr: r.stderr };
  };
  refused(cli(['train', '--out']), /^moe-balance train: --out needs a value \(see --help\)$/);
  refused(cli(['train', '--out', DIR, '--quiet=1']), /^moe-balance train: --quiet is a switch and takes no value, got '--quiet=1'$/);
  refused(cli(['train', '--out', DIR, 'stray']), /^moe-balance train: unexpected argument 'stray' \(see --help\)$/);
  refused(cli(['report', DIR, 'other']), /^moe-balance report: unexpected argument 'other' \(see --help\)$/);
});

test('flag values: integers are digits only, and every reader names the flag and the value', async () => {
  const { intFlag, numberFlag, choiceFlag, listFlag } = await import('../src/util/args.ts');
  assert.equal(intFlag('k', '8', 1), 8);
  assert.equal(intFlag('k', ' 8 ', 1), 8);
  assert.equal(intFlag('k', undefined, 1), undefined);
  for (const bad of ['0x10', '1e3', '2.0', '', ' ', 'two', '9007199254740993']) {
    assert.throws(() => intFlag('k', bad, 1), new RegExp(`^InputError: --k must be an integer >= 1, got '${bad}'$`), bad);
  }
  assert.throws(() => intFlag('k', '0', 1, 4), /--k must be an integer from 1 to 4, got '0'/);
  assert.throws(() => intFlag('seed', 'x'), /--seed must be an integer, got 'x'/);
  assert.equal(numberFlag('t', '0.5', (x) => x > 0, 'a number > 0'), 0.5);
  assert.throws(() => numberFlag('t', 'Infinity', (x) => x > 0, 'a number > 0'), /--t must be a number > 0, got 'Infinity'/);
  assert.equal(choiceFlag('clock', 'wall', ['cpu', 'wall']), 'wall');
  assert.throws(() => choiceFlag('clock', 'WALL', ['cpu', 'wall']), /--clock must be one of cpu, wall, got 'WALL'/);
  assert.deepEqual(listFlag(' 1, 2,,3 '), ['1', '2', '3']);
});
