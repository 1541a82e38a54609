import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBlocks, replaceBlocks } from '../src/results/blocks.ts';
import { verifyText } from '../src/results/verify.ts';
import { compareEvidence } from '../src/results/evidence.ts';
import { ablationTable, compareTable } from '../src/results/compareTables.ts';
import { separate, verdictLines } from '../src/results/verdicts.ts';
import { spread } from '../src/compare/stats.ts';
import { InputError } from '../src/routing/errors.ts';

const ROOT = new URL('..', import.meta.url).pathname;

test("every results table of the README is what the committed logs under results/ give", () => {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const { results, differences } = verifyText(text, ROOT);
  assert.ok(results.length >= 8, `only ${results.length} results blocks in the README`);
  assert.deepEqual(differences, [], 'run `npm run verify` for the differing lines, `npm run verify -- --write` to regenerate');
  // Only the training runs the lead copies in last may be pending; a typo in any other path fails here.
  const pending = results.filter((r) => r.pending).map((r) => r.block.args[0]);
  for (const p of pending) assert.match(p, /^results\/evidence-/, `${p} is not committed`);
});

test("every table of the README's results section is a generated one", () => {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = text.indexOf('\n## Results');
  const end = text.indexOf('\n## ', start + 1);
  assert.ok(start >= 0 && end > start, 'the README has a Results section');
  const inside = findBlocks(text).map((b) => [b.start, b.close]);
  let at = start;
  for (const line of text.slice(start, end).split('\n')) {
    if (line.startsWith('|')) assert.ok(inside.some(([a, b]) => at >= a && at < b), `hand-written table line in the results section: ${line}`);
    at += line.length + 1;
  }
});

test('one changed digit in a README table is a difference, reported at its line', () => {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = findBlocks(text).find((b) => b.kind === 'simulate');
  assert.ok(block, 'the README has a simulate block');
  // Third line of the table = first data row; change its first digit.
  const rowStart = block.start + block.body.split('\n').slice(0, 2).join('\n').length + 1;
  const row = text.slice(rowStart, text.indexOf('\n', rowStart));
  const at = rowStart + row.search(/\d/);
  const edited = text.slice(0, at) + (text[at] === '9' ? '8' : String(Number(text[at]) + 1)) + text.slice(at + 1);
  const { differences, updated } = verifyText(edited, ROOT);
  assert.equal(differences.length, 1);
  assert.equal(differences[0].line, block.line + 3);
  assert.equal(differences[0].found, edited.slice(rowStart, edited.indexOf('\n', rowStart)));
  assert.equal(differences[0].expected, row);
  assert.equal(updated, text, '--write restores the table from the logs');
});

test('blocks: bodies found and replaced, empty ones filled, an unclosed marker refused', () => {
  const text = 'a\n<!-- results: x p q=1 -->\nold\nbody\n<!-- /results -->\nb\n<!-- results: y r -->\n<!-- /results -->\n';
  const blocks = findBlocks(text);
  assert.deepEqual(
    blocks.map((b) => [b.kind, b.args, b.body, b.line]),
    [
      ['x', ['p', 'q=1'], 'old\nbody', 2],
      ['y', ['r'], '', 7],
    ],
  );
  assert.equal(replaceBlocks(text, blocks, ['new', 't1\nt2']), 'a\n<!-- results: x p q=1 -->\nnew\n<!-- /results -->\nb\n<!-- results: y r -->\nt1\nt2\n<!-- /results -->\n');
  assert.equal(replaceBlocks(text, blocks, blocks.map((b) => b.body)), text);
  assert.throws(() => findBlocks('<!-- results: x p -->\nrow\n'), InputError);
  assert.throws(() => findBlocks('<!-- results: x p -->\n<!-- results: y q -->\n<!-- /results -->\n'), /no '<!-- \/results -->'/);
  assert.throws(() => verifyText('<!-- results: nonsense results -->\n<!-- /results -->\n', ROOT), /unknown results kind 'nonsense'/);
});

interface FakeRun {
  method: string;
  seed: number;
  /** Per step, per layer: expert loads (4 experts, 2 layers). */
  loads: (step: number) => number[][];
  ppl: number;
  stepMs: number;
  routingMs: (step: number) => number;
  steps?: number;
  finished?: boolean;
}

/** A compare folder with hand-made logs (the trainer's schema, src/train/log.ts). */
function writeCompare(dir: string, runs: FakeRun[]): void {
  for (const r of runs) {
    const run = join(dir, 'runs', `${r.method}-s${r.seed}`);
    mkdirSync(run, { recursive: true });
    const steps = r.steps ?? 12;
    const lines: object[] = [];
    for (let s = 1; s <= steps; s++) {
      const layers = r.loads(s).map((l) => ({ loads: l, maxVio: (Math.max(...l) - 4) / 4, minVio: (Math.min(...l) - 4) / 4 }));
      lines.push({ step: s, loss: 5, lmLoss: 5, auxLoss: 0, lr: 1e-3, tokensPerSec: 100, stepMs: r.stepMs, routingMs: r.routingMs(s), layers });
    }
    lines.push({ eval: true, step: steps, valLoss: Math.log(r.ppl), perplexity: r.ppl, maxVioGlobal: [0, 0] });
    if (r.finished ?? true) lines.push({ summary: true, steps, tokens: 100, perplexity: r.ppl, valLoss: Math.log(r.ppl), avgMaxVio: 0, supMaxVio: 0, wallMs: steps * r.stepMs + 1000, method: r.method });
    writeFileSync(join(run, 'log.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  }
}

// Mean load 4 over 4 experts (16 pairs). Balanced: [4,4,4,4] (MaxVio 0); [6,4,3,3] MaxVio 0.5; [8,4,2,2] MaxVio 1.
const BAL = [4, 4, 4, 4];
const HALF = [6, 4, 3, 3];
const ONE = [8, 4, 2, 2];

test('evidence: routing median and share, MaxVio at step 1 and over the first 10 steps, by hand', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-verify-'));
  try {
    // Routing ms 1, 2, ..., 11 and 100 (one step slowed by another process) over 12 steps of 100 ms:
    // median 6.5 ms, share 6.5% (the mean would be 13.8 ms).
    // Layer 0: ONE at step 1, HALF at steps 2..10, BAL after: step-1 MaxVio 1, early sup 1.
    // Layer 1: BAL except HALF at step 11: early sup 0; AvgMaxVio layer 1 = 0.5/12, layer 0 = (1 + 9·0.5)/12.
    writeCompare(dir, [{ method: 'bip', seed: 1, loads: (s) => [s === 1 ? ONE : s <= 10 ? HALF : BAL, s === 11 ? HALF : BAL], ppl: 100, stepMs: 100, routingMs: (s) => (s === 12 ? 100 : s) }]);
    const [bip] = compareEvidence(dir);
    const [r] = bip.runs;
    assert.equal(r.routingMs, 6.5);
    assert.ok(Math.abs(r.routingShare - 0.065) < 1e-12);
    assert.equal(r.firstMaxVio, 1);
    assert.deepEqual(r.earlySup, [1, 0]);
    assert.ok(Math.abs(bip.worstLayerAvg.mean - 5.5 / 12) < 1e-12);
    assert.ok(Math.abs(bip.bestLayerAvg.mean - 0.5 / 12) < 1e-12);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('time verdict: step times whose non-routing part differs are not compared', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-verify-'));
  try {
    // bip 80 ms with 2 ms routing, auxloss 100 ms with 1 ms routing: without routing 78 vs 99 ms (−21%),
    // yet the arithmetic is the same, so the machine made the difference, not the method.
    const runs: FakeRun[] = [];
    for (const seed of [1, 2, 3]) {
      runs.push({ method: 'bip', seed, loads: () => [BAL, BAL], ppl: 100, stepMs: 79 + seed, routingMs: () => 2 });
      runs.push({ method: 'auxloss', seed, loads: () => [ONE, ONE], ppl: 110, stepMs: 99 + seed, routingMs: () => 1 });
    }
    writeCompare(dir, runs);
    const time = verdictLines(dir, ['bip']).split('\n')[2];
    assert.match(time, /\*\*not measured alike\*\*/);
    assert.match(time, /a step took 79 ms against 100 ms \(−21\.\d%\): something besides the balancer differed between the runs/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('separate: mean ± sd intervals that do not overlap, and never with one seed', () => {
  assert.equal(separate(spread([1, 2]), spread([4, 5])), 'lower'); // 1.5 + 0.71 < 4.5 − 0.71
  assert.equal(separate(spread([4, 5]), spread([1, 2])), 'higher');
  assert.equal(separate(spread([1, 3]), spread([3, 5])), 'overlap'); // 2 + 1.41 > 4 − 1.41
  assert.equal(separate(spread([1]), spread([5])), 'overlap');
});

test('verdicts and the compare table on hand-made runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-verify-'));
  try {
    const runs: FakeRun[] = [];
    for (const seed of [1, 2, 3]) {
      // bip balanced on both layers from step 1, lower perplexity than every baseline beyond the spread,
      // and 20% less step time than auxloss (80 vs 100 ms ± 1), all of it auxloss's slower routing: the step
      // without routing is the same (78 ms vs 100 − 22 = 78 ms), so the runs were measured alike.
      runs.push({ method: 'bip', seed, loads: () => [BAL, seed === 1 ? HALF : BAL], ppl: 100 + seed, stepMs: 78 + seed, routingMs: () => 2 * ((78 + seed) / 80) });
      runs.push({ method: 'auxloss', seed, loads: () => [ONE, ONE], ppl: 110 + seed, stepMs: 98 + seed, routingMs: () => 22 * ((98 + seed) / 100) });
      // lossfree: as balanced as bip on layer 1 (overlap), perplexity below bip's beyond the spread.
      runs.push({ method: 'lossfree', seed, loads: () => [ONE, seed === 1 ? HALF : BAL], ppl: 90 + seed, stepMs: 99 + seed, routingMs: () => 1 });
    }
    writeCompare(dir, runs);
    const lines = verdictLines(dir, ['bip']).split('\n');
    assert.equal(lines.length, 3);
    // Balance: lower than auxloss in all 4 comparisons, lossfree only on layer 0 (2 of 4): not separated.
    assert.match(lines[0], /\*\*cannot be separated from the seed spread\*\*/);
    assert.match(lines[0], /lower beyond the spread in 6 of 8 comparisons, higher in 0/);
    assert.match(lines[1], /\*\*does not hold\*\*.*102\.00 ± 1\.00 against the lowest other, lossfree 92\.00 ± 1\.00; lower beyond the spread than auxloss; higher beyond the spread than lossfree/);
    // 80 ± 1 ms vs 0.87 × (100 ± 1) = 87 ± 0.87 ms per step, 12 steps: 0.016 vs 0.0174 min.
    assert.match(lines[2], /\*\*holds\*\*.*\(−20\.0%; 13% less would be/);
    assert.doesNotMatch(lines[2], /something besides the balancer/);

    // Rows in the report's method order (auxloss, lossfree, bip); header and rule first.
    const table = compareTable(dir).split('\n');
    assert.equal(table.length, 5);
    assert.match(table[4], /^\| bip +\| +3 \| +102\.00 ± 1\.00 \|/);
    assert.match(table[4], /\| +−20\.0% \|/);
    assert.match(table[2], /^\| auxloss .*\| +ref\. \|/);

    // lossfree against auxloss: perplexity 92 ± 1 vs 112 ± 1; AvgMaxVio per run (1 + 0.5)/2 = 0.75 (seed 1)
    // and 0.5 (seeds 2, 3): 0.583 ± 0.144 vs 1 ± 0, lower; SupMaxVio 1 vs 1: not separated.
    assert.deepEqual(
      ablationTable(dir, ['lossfree:auxloss']).split('\n')[2].split('|').map((c) => c.trim()).slice(1, -1),
      ['lossfree', 'auxloss', '92.00 ± 1.00 vs 112.00 ± 1.00', 'lower', '0.583 ± 0.144 vs 1.000 ± 0.000', 'lower', '1.000 ± 0.000 vs 1.000 ± 0.000', 'no'],
    );
    assert.throws(() => ablationTable(dir, ['lossfree']), /not VARIANT:BASE/);

    // An unfinished run makes the verdicts provisional.
    writeCompare(dir, [{ method: 'bip', seed: 4, loads: () => [BAL, BAL], ppl: 101, stepMs: 80, routingMs: () => 2, steps: 5, finished: false }]);
    assert.match(verdictLines(dir, ['bip']), /provisional: 9 of 10 runs finished/);
    assert.match(compareTable(dir), /\| bip +\| 3\/4 done \|/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
