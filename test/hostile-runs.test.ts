/**
 * Hostile input to the commands that write run folders (train, simulate, compare, report): one short
 * line and a non-zero exit, never a stack trace, never a lost file; an edited checkpoint manifest is
 * refused; compare's training children stop with a checkpoint when the parent is killed or Ctrl-C'd.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNpy } from '../src/io/npy.ts';
import { CheckpointError, loadCheckpoint, saveCheckpoint, type CheckpointData } from '../src/train/checkpoint.ts';
import { Rng } from '../src/util/rng.ts';
import { softmaxScores } from './helpers/scores.ts';
import { refused } from './helpers/refused.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'moe-balance.js');
const DIR = mkdtempSync(join(tmpdir(), 'hostile-runs-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

function cli(args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}


/** A folder holding the given files (name -> text). */
function folder(name: string, files: Record<string, string>): string {
  const d = join(DIR, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
  return d;
}

function contents(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'latin1')]));
}

test('--out naming a file, or a place under /proc, is refused at once by train, simulate and compare', () => {
  const file = join(DIR, 'a-file');
  writeFileSync(file, 'keep\n');
  refused(cli(['train', '--config', 'configs/tiny.json', '--out', file]), /--out .*a-file is a file, not a folder/);
  refused(cli(['simulate', '--steps', '1', '--out', file]), /--out .*a-file is a file, not a folder/);
  refused(cli(['compare', '--config', join(ROOT, 'configs', 'tiny.json'), '--methods', 'bip', '--steps', '1', '--out', file]), /--out .*a-file is a file, not a folder/);
  refused(cli(['report', file]), /a-file is a file, not a folder/);
  assert.equal(readFileSync(file, 'utf8'), 'keep\n');
  for (const cmd of [['train', '--config', 'configs/tiny.json'], ['simulate', '--steps', '1']]) {
    refused(cli([...cmd, '--out', '/proc/moe-balance-x']), /--out \/proc\/moe-balance-x is under \/proc, a system file system/);
  }
});

test('train: a fresh run into a folder holding a run is refused without --force; --resume without config.json names it', () => {
  const run = folder('earlier-run', { 'checkpoint.json': '{"kept": true}\n', 'ckpt-000010.bin': 'data', 'log.jsonl': '{"step":1}\n', 'config.json': '{}\n' });
  const before = contents(run);
  refused(cli(['train', '--config', 'configs/tiny.json', '--out', run]), /earlier-run holds an earlier run \(checkpoint\.json, log\.jsonl\); continue it with --resume, or pass --force/);
  assert.deepEqual(contents(run), before, 'nothing deleted or changed');
  refused(cli(['train', '--out', run, '--resume', '--force']), /--resume and --force contradict/);
  rmSync(join(run, 'config.json'));
  refused(cli(['train', '--out', run, '--resume']), /--resume: .*earlier-run\/config\.json is missing/);
  const empty = folder('no-checkpoint', {});
  refused(cli(['train', '--out', empty, '--resume']), /--resume: .*no-checkpoint holds no checkpoint \(checkpoint\.json\)/);
});

test('a checkpoint manifest that is edited or bit-flipped is refused, naming the file', () => {
  const dir = join(DIR, 'ckpt');
  const data: CheckpointData = {
    step: 12,
    config: { method: 'bip', lr: 0.003 },
    tensors: [{ name: 'w', shape: [2], value: Float32Array.of(1, 2), m: Float32Array.of(0.1, 0.2), v: Float32Array.of(0.01, 0.02) }],
    adamStep: 12,
    balancers: [{ q: [0.125, -0.25] }],
    sampler: { rng: 12345, step: 12 },
    metrics: { tokens: 1536, wallMs: 1000.5, balance: { count: 24, sum: 3.25, sup: 0.75, layerCount: [12, 12], layerSum: [2, 1.25], layerSup: [0.75, 0.5], maxLoadSum: 40, meanLoadSum: 32 } },
  };
  saveCheckpoint(dir, data);
  const manifest = join(dir, 'checkpoint.json');
  const good = readFileSync(manifest, 'utf8');
  assert.equal(loadCheckpoint(dir).step, 12, 'an untouched checkpoint loads');
  const edits: [string, string][] = [
    ['"step": 12', '"step": 11'],
    ['"lr": 0.003', '"lr": 0.03'],
    ['0.125', '0.135'], // one digit of a balancer's q
    ['"rng": 12345', '"rng": 12344'],
  ];
  for (const [from, to] of edits) {
    assert.ok(good.includes(from), from);
    writeFileSync(manifest, good.replace(from, to));
    assert.throws(() => loadCheckpoint(dir), (e: unknown) => e instanceof CheckpointError && /checkpoint\.json: the manifest does not match its checksum/.test(e.message), `${from} -> ${to}`);
  }
  // A flipped bit in a key name.
  writeFileSync(manifest, good.replace('"adamStep"', '"adamStdp"'));
  assert.throws(() => loadCheckpoint(dir), /does not match its checksum/);
  writeFileSync(manifest, good.replace(/,\n "manifestSha256": "[0-9a-f]+"/, '').replace('moe-balance-checkpoint/3', 'moe-balance-checkpoint/1'));
  assert.throws(() => loadCheckpoint(dir), /older moe-balance without a manifest checksum/);
  writeFileSync(manifest, good.replace(/\n \}\n$/, '\n }\n').replace(/\n/g, '\n  ')); // whitespace only: the same content
  assert.equal(loadCheckpoint(dir).step, 12);
  // Format 2 (three flat MaxVio sums) is still read: its sums carry on, per-layer sums start empty.
  const { manifestSha256: _, ...fields } = JSON.parse(good) as Record<string, unknown>;
  const v2 = { ...fields, format: 'moe-balance-checkpoint/2', metrics: { tokens: 1536, wallMs: 1000.5, sumMaxVio: 3.25, countMaxVio: 24, supMaxVio: 0.75 } };
  writeFileSync(manifest, JSON.stringify({ ...v2, manifestSha256: createHash('sha256').update(JSON.stringify(v2)).digest('hex') }));
  assert.deepEqual(loadCheckpoint(dir).metrics, {
    tokens: 1536,
    wallMs: 1000.5,
    balance: { count: 24, sum: 3.25, sup: 0.75, layerCount: [], layerSum: [], layerSup: [], maxLoadSum: 0, meanLoadSum: 0 },
  });
});

test('simulate: a run that fails leaves no run.json or partial log, and an earlier run in the folder stays whole', () => {
  const out = join(DIR, 'sim');
  const steps = join(DIR, 'steps');
  mkdirSync(steps);
  writeNpy(join(steps, 'step0.npy'), softmaxScores(64, 8, 1), [64, 8]);
  writeNpy(join(steps, 'step1.npy'), softmaxScores(64, 8, 2), [64, 8]);
  const ok = cli(['simulate', '--replay', steps, '--k', '2', '--methods', 'topk bip', '--optimal', 'off', '--timing', 'off', '--out', out, '--quiet']);
  assert.equal(ok.code, 0, ok.stderr);
  const before = contents(out);
  const bad = softmaxScores(64, 8, 3);
  bad[77] = NaN;
  writeNpy(join(steps, 'step1.npy'), bad, [64, 8]); // the second step fails, after the first was logged
  refused(cli(['simulate', '--replay', steps, '--k', '2', '--methods', 'topk', '--optimal', 'off', '--out', out, '--quiet']), /step1\.npy .*non-finite value/);
  assert.deepEqual(contents(out), before, 'the earlier run is untouched (run.json, log, summary, report)');
  const fresh = join(DIR, 'sim-fresh');
  refused(cli(['simulate', '--replay', steps, '--k', '2', '--methods', 'topk', '--optimal', 'off', '--out', fresh, '--quiet']), /non-finite/);
  assert.deepEqual(existsSync(fresh) ? readdirSync(fresh) : [], [], 'no run.json, no log.jsonl.partial');
});

test('report: a torn log line or a corrupt run.json gets one line naming the file', () => {
  const out = join(DIR, 'sim-report');
  const ok = cli(['simulate', '--n', '64', '--steps', '3', '--methods', 'topk', '--optimal', 'off', '--out', out, '--quiet']);
  assert.equal(ok.code, 0, ok.stderr);
  const log = readFileSync(join(out, 'log.jsonl'), 'utf8');
  const lines = log.split('\n');
  writeFileSync(join(out, 'log.jsonl'), [...lines.slice(0, 2), lines[2].slice(0, 25)].join('\n'));
  refused(cli(['report', out]), /sim-report\/log\.jsonl: log line 3 is not JSON/);
  writeFileSync(join(out, 'log.jsonl'), log);
  writeFileSync(join(out, 'run.json'), '{"command": "moe-balance simulate", "stre');
  refused(cli(['report', out]), /sim-report\/run\.json: cannot be read as JSON/);
  writeFileSync(join(out, 'run.json'), '[1, 2]');
  refused(cli(['report', out]), /sim-report\/run\.json: not a simulate run description/);
});

/** A compare parent (test/fixtures/compareDriver.ts) training one tiny run on a small text, in its own process group. */
function startCompare(name: string) {
  const base = join(DIR, name);
  mkdirSync(base);
  const rng = new Rng(1);
  const words = Array.from({ length: 300 }, () => Array.from({ length: 2 + rng.int(5) }, () => 'abcdefghijklmnop'[rng.int(16)]).join(''));
  writeFileSync(join(base, 'data.txt'), Array.from({ length: 40_000 }, () => words[rng.int(words.length)]).join(' '));
  const out = join(base, 'out');
  const parent = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'fixtures', 'compareDriver.ts'), out, join(base, 'data.txt'), '100000'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  parent.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise<number | null>((done) => parent.on('exit', (code) => done(code)));
  const run = join(out, 'runs', 'bip-s1');
  return { parent, run, exited, stdout: () => stdout };
}

async function until(what: string, ok: () => boolean, ms = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const logged = (run: string) => existsSync(join(run, 'log.jsonl')) && readFileSync(join(run, 'log.jsonl'), 'utf8').includes('"layers"');
const trainOut = (run: string) => (existsSync(join(run, 'train.out')) ? readFileSync(join(run, 'train.out'), 'utf8') : '');

test('compare: killing the parent (SIGKILL) stops its training child, which writes its checkpoint first', { timeout: 240_000 }, async () => {
  const c = startCompare('compare-kill');
  await until('a logged training step', () => logged(c.run));
  process.kill(c.parent.pid!, 'SIGKILL');
  await c.exited;
  await until('the child to stop', () => /interrupted at step \d+: checkpoint written/.test(trainOut(c.run)), 60_000);
  assert.match(trainOut(c.run), /the parent process is gone/);
  assert.ok(existsSync(join(c.run, 'checkpoint.json')), 'checkpoint written');
});

test('compare: Ctrl-C (SIGINT to the whole process group) gives each child one SIGINT: it checkpoints and is not FAILED', { timeout: 240_000 }, async () => {
  const c = startCompare('compare-ctrl-c');
  await until('a logged training step', () => logged(c.run));
  process.kill(-c.parent.pid!, 'SIGINT'); // what a terminal does: the foreground process group
  assert.equal(await c.exited, 0);
  const records = JSON.parse(c.stdout()) as { name: string; status: string; exitCode: number }[];
  assert.deepEqual(records.map((r) => [r.name, r.status, r.exitCode]), [['bip-s1', 'pending', 130]]);
  assert.match(trainOut(c.run), /interrupted at step \d+: checkpoint written/);
  assert.ok(existsSync(join(c.run, 'checkpoint.json')), 'checkpoint written');
});
