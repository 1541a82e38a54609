/**
 * Hostile input to the balancers and to `moe-balance route`: each case gets one short line naming the
 * problem and exit status 2, never a stack trace, and no file it was given is lost or replaced.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBalancer } from '../src/routing/factory.ts';
import { InputError } from '../src/routing/errors.ts';
import { refused } from './helpers/refused.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const DIR = mkdtempSync(join(tmpdir(), 'hostile-route-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

const ROWS = '[[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1]]\n';

function route(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'moe-balance.js'), 'route', ...args], { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}


function file(name: string, text: string): string {
  const p = join(DIR, name);
  writeFileSync(p, text);
  return p;
}

for (const method of ['topk', 'bip', 'lossfree', 'quantile', 'auxloss']) {
  test(`${method}: negative scores with k > 1 are refused by name (the weights would be negative or inverted); k = 1 keeps the score`, () => {
    const s = new Float32Array([0.5, 0.3, 0.2, -0.6, 0.5, 0.4]); // token 1: chosen 0.5 and 0.4 fine, but -0.6 is no gate output
    assert.throws(
      () => createBalancer(method).route(s, 2, 3, 2),
      (e: unknown) => e instanceof InputError && /-0\.6\d* at token 1, expert 0: with k > 1 scores must be >= 0/.test(e.message),
    );
    const r = createBalancer(method).route(s, 2, 3, 1);
    assert.equal(r.weights[1], Math.fround(0.5), 'k = 1: the weight is the chosen score itself');
  });
}

test('route: --output equal to --input, to --state, or to a symlink of either is refused and nothing is written', () => {
  const input = file('in.json', ROWS);
  const state = file('state.json', '{"q": [0, 0, 0]}\n');
  symlinkSync(input, join(DIR, 'alias.json'));
  refused(route(['--k', '1', '--input', input, '--output', input]), /--output .*in\.json and --input .*in\.json are the same file/);
  refused(route(['--k', '1', '--input', 'in.json', '--output', './in.json']), /same file/);
  refused(route(['--k', '1', '--input', input, '--output', join(DIR, 'alias.json')]), /same file/);
  refused(route(['--k', '1', '--input', input, '--state', state, '--output', state]), /--output .* and --state .* are the same file/);
  refused(route(['--k', '1', '--input', input, '--state', input]), /--state .* and --input .* are the same file/);
  assert.equal(readFileSync(input, 'utf8'), ROWS, 'the input is intact');
  assert.equal(readFileSync(state, 'utf8'), '{"q": [0, 0, 0]}\n', 'the state is intact');
});

test('route: --output onto a symlink, a FIFO or a folder is refused and leaves it as it was', () => {
  const input = file('in2.json', ROWS);
  const target = file('target.json', 'keep\n');
  const link = join(DIR, 'link.json');
  symlinkSync(target, link);
  refused(route(['--k', '1', '--input', input, '--output', link]), /link\.json is a symbolic link; refusing to replace it/);
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readFileSync(target, 'utf8'), 'keep\n');
  const fifo = join(DIR, 'fifo');
  const mk = spawnSync('mkfifo', [fifo]);
  if (mk.status === 0) {
    refused(route(['--k', '1', '--input', input, '--output', fifo]), /fifo is a FIFO; refusing to replace it/);
    assert.ok(lstatSync(fifo).isFIFO());
  }
  refused(route(['--k', '1', '--input', input, '--output', DIR]), /is a directory; refusing to replace it/);
});

test('route: deeply nested JSON, a megabyte cell, a file of only the .npy magic and a deeply nested .npy header each get one short line', () => {
  const deep = file('deep.json', `[${'['.repeat(100_000)}${']'.repeat(100_000)}]`);
  refused(route(['--k', '1', '--input', deep]), /deep\.json: an array of 1 at row 0 col 0 is not a number/);
  const big = file('big.json', `[[0.1, "${'x'.repeat(1_000_000)}", 0.3], [0.2, 0.3, 0.5]]`);
  refused(route(['--k', '1', '--input', big]), /a string of 1000000 characters \("x+"\.\.\.\) at row 0 col 1 is not a number/);
  const bigRow = file('bigrow.json', `[[0.1, [${'1,'.repeat(300_000)}1], 0.3]]`);
  refused(route(['--k', '1', '--input', bigRow]), /an array of 300001 at row 0 col 1/);
  const magic = join(DIR, 'magic.npy');
  writeFileSync(magic, Buffer.from('\x93NUMPY', 'latin1'));
  refused(route(['--input', magic]), /magic\.npy: truncated file: 6 bytes, ending inside the preamble/);
  const header = Buffer.from(`{'descr': ${'['.repeat(60_000)}\n`, 'latin1');
  const len = Buffer.alloc(2);
  len.writeUInt16LE(header.length);
  const nested = join(DIR, 'nested.npy');
  writeFileSync(nested, Buffer.concat([Buffer.from('\x93NUMPY\x01\x00', 'latin1'), len, header]));
  refused(route(['--input', nested]), /nested\.npy: bad header: nested more than 32 deep/);
  const longHeader = Buffer.from(`{'descr': '<f4', 'fortran_order': False, 'sha': (1,), 'x': '${'y'.repeat(60_000)}'}\n`, 'latin1');
  len.writeUInt16LE(longHeader.length);
  const long = join(DIR, 'long.npy');
  writeFileSync(long, Buffer.concat([Buffer.from('\x93NUMPY\x01\x00', 'latin1'), len, longHeader, Buffer.alloc(4)]));
  refused(route(['--input', long]), /long\.npy: bad header: no 'shape' key in .*\.\.\. \(\d+ characters\)/);
});

test('route: negative scores with k = 2 are refused with the token and expert named', () => {
  const input = file('neg.json', '[[0.5, 0.3, 0.2], [-0.6, 0.5, 0.4]]\n');
  refused(route(['--k', '2', '--input', input]), /at token 1, expert 0: with k > 1 scores must be >= 0/);
});
