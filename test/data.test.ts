// Tests for src/data: byte-level BPE, the fixed splits, the dataset loader and its cache, batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainBpe, loadTokenizer } from '../src/data/bpe.ts';
import type { Tokenizer } from '../src/data/bpe.ts';
import { forEachPiece, pairKey } from '../src/data/tokenizer.ts';
import { loadSotu, splitPoint, FILE_VAL_FRACTION } from '../src/data/corpus.ts';
import { loadDataset, checkSplits } from '../src/data/dataset.ts';
import { BatchSampler, evalBatches } from '../src/data/batches.ts';
import { Rng } from '../src/util/rng.ts';

const sotu = loadSotu();
// A 200 KB slice of the training split keeps BPE training in the tests well under a second.
const slice = sotu.train.slice(0, 200_000);
const tok512 = trainBpe(slice, 512);

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function randomUnicode(rng: Rng, n: number): string {
  const ranges: [number, number][] = [
    [0x20, 0x7e], [0x09, 0x0d], [0xa0, 0x24f], [0x300, 0x36f], [0x400, 0x4ff],
    [0x3040, 0x30ff], [0x4e00, 0x9fff], [0x1f300, 0x1faff], [0x200b, 0x200d], [0x10000, 0x1007f],
  ];
  const cps: number[] = [];
  for (let i = 0; i < n; i++) {
    const [lo, hi] = ranges[rng.int(ranges.length)];
    cps.push(lo + rng.int(hi - lo + 1));
  }
  return String.fromCodePoint(...cps);
}

test('BPE round-trips text exactly, including unicode and emoji', () => {
  const samples = [
    slice,
    sotu.val.slice(0, 50_000),
    '',
    ' ',
    'naïve café — “quoted” 日本語のテキスト, Ελληνικά, русский; ½ ≠ 0.5',
    'emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇺🇸 keycap 1️⃣',
    'tabs\tand\nnewlines\r\n\n   many   spaces   \u0000\u0001 controls\u00a0nbsp',
    "don't we'll it's I'M 'quoted' 12345678901234567890 3.14159 $1,000,000",
  ];
  const rng = new Rng(7);
  for (let i = 0; i < 20; i++) samples.push(randomUnicode(rng, 1 + rng.int(300)));
  for (const s of samples) {
    const ids = tok512.encode(s);
    assert.equal(tok512.decode(ids), s, `round trip failed for ${JSON.stringify(s.slice(0, 40))}`);
  }
});

test('pre-tokenisation pieces tile the text', () => {
  const rng = new Rng(3);
  for (let i = 0; i < 20; i++) {
    const s = randomUnicode(rng, 200) + ' the end.';
    const pieces: string[] = [];
    forEachPiece(s, (p) => pieces.push(p));
    assert.equal(pieces.join(''), s);
    assert.ok(pieces.every((p) => p.length > 0));
  }
});

test('vocabulary has the requested size and every id decodes', () => {
  for (const v of [256, 300, 512]) {
    const tok = v === 512 ? tok512 : trainBpe(slice.slice(0, 20_000), v);
    assert.equal(tok.vocabSize, v);
    const json = tok.toJSON() as { merges: number[] };
    assert.equal(json.merges.length, 2 * (v - 256));
    const ids = tok.encode(slice.slice(0, 20_000));
    assert.ok(ids.every((id) => id >= 0 && id < v));
    const all = Int32Array.from({ length: v }, (_, i) => i);
    assert.equal(typeof tok.decode(all), 'string');
  }
  assert.throws(() => tok512.decode([512]), /outside the vocabulary/);
  assert.throws(() => trainBpe('abc', 100), /vocabSize must be an integer in \[256/);
  assert.throws(() => trainBpe('ab ab ab', 1000), /only allows \d+ merges/);
});

test('merges shorten the text: fewer tokens than bytes', () => {
  const text = sotu.val.slice(0, 50_000); // held out from the tokenizer's training text
  const bytes = utf8Length(text);
  const ids = tok512.encode(text);
  assert.ok(ids.length < bytes / 2, `${ids.length} tokens for ${bytes} bytes`);
  const big = trainBpe(slice, 1024);
  assert.ok(big.encode(text).length < ids.length, 'a larger vocabulary should give fewer tokens');
});

test('BPE training is deterministic and survives toJSON/loadTokenizer', () => {
  const again = trainBpe(slice, 512);
  assert.deepEqual(again.toJSON(), tok512.toJSON());
  const loaded = loadTokenizer(JSON.parse(JSON.stringify(tok512.toJSON())));
  const text = sotu.val.slice(0, 20_000);
  assert.deepEqual(loaded.encode(text), tok512.encode(text));
  assert.throws(() => loadTokenizer({ format: 'other' }), /format/);
  const bad = { ...(tok512.toJSON() as Record<string, unknown>), merges: [1, 999] };
  assert.throws(() => loadTokenizer(bad), /ids must be below 256/);
});

/** Textbook BPE: recount every pair after each merge. Same tie rule (higher count, then smaller key). */
function referenceBpe(text: string, vocabSize: number): { merges: number[]; tokens: number[] } {
  const words: number[][] = [];
  forEachPiece(text, (p) => words.push(Array.from(Buffer.from(p, 'utf8'))));
  const merges: number[] = [];
  for (let id = 256; id < vocabSize; id++) {
    const counts = new Map<number, number>();
    for (const w of words) for (let i = 0; i + 1 < w.length; i++) {
      const k = pairKey(w[i], w[i + 1]);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of counts) if (c > bestCount || (c === bestCount && k < best)) [best, bestCount] = [k, c];
    const a = Math.floor(best / 1048576);
    const b = best % 1048576;
    merges.push(a, b);
    for (let j = 0; j < words.length; j++) {
      const w = words[j];
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(w[i]);
      }
      words[j] = out;
    }
  }
  return { merges, tokens: words.flat() };
}

test('fast BPE training matches a textbook implementation, and encode reproduces its segmentation', () => {
  const text = sotu.train.slice(300_000, 306_000) + ' aaaaaaa abababab 日本日本日本 😀😀😀';
  const ref = referenceBpe(text, 400);
  const tok: Tokenizer = trainBpe(text, 400);
  assert.deepEqual((tok.toJSON() as { merges: number[] }).merges, ref.merges);
  assert.deepEqual(Array.from(tok.encode(text)), ref.tokens);
});

test('SOTU split is by document, disjoint, fixed, about 5% validation', () => {
  const again = loadSotu();
  assert.equal(again.train, sotu.train);
  assert.equal(again.val, sotu.val);
  const valDocs = sotu.val.split('\n\n');
  const trainDocs = sotu.train.split('\n\n');
  assert.equal(valDocs.length, 12);
  assert.equal(trainDocs.length + valDocs.length, 233);
  const frac = sotu.val.length / (sotu.val.length + sotu.train.length);
  assert.ok(frac > 0.02 && frac < 0.1, `validation fraction ${frac}`);
  for (const d of valDocs) {
    const probe = d.slice(Math.floor(d.length / 2), Math.floor(d.length / 2) + 300);
    assert.ok(!sotu.train.includes(probe), 'a validation passage appears in training');
  }
});

test('file split: last 5% of characters, cut at whitespace, nothing lost', () => {
  const text = slice.slice(0, 10_000);
  const cut = splitPoint(text, FILE_VAL_FRACTION);
  assert.ok(cut >= Math.floor(text.length * 0.95) && cut < text.length);
  assert.match(text[cut], /\s/);
  const cjk = '日本語'.repeat(1000) + '😀'.repeat(1000);
  const c2 = splitPoint(cjk, 0.2);
  assert.equal(cjk.slice(0, c2) + cjk.slice(c2), cjk);
  assert.ok(!/[\udc00-\udfff]/.test(cjk[c2]), 'cut inside a surrogate pair');
});

test('loadDataset on a data file: exact splits, cache hit gives identical arrays, corrupt cache recovers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-data-'));
  try {
    const file = join(dir, 'corpus.txt');
    const text = slice.slice(0, 60_000);
    writeFileSync(file, text);
    const cacheDir = join(dir, 'cache');
    const logs: string[] = [];
    const a = await loadDataset({ dataFile: file, vocabSize: 300, cacheDir, log: (m) => logs.push(m) });
    assert.equal(a.name, 'corpus.txt');
    assert.equal(a.vocabSize, 300);
    assert.equal(a.tokenizer.decode(a.train) + a.tokenizer.decode(a.val), text);
    const valText = a.tokenizer.decode(a.val);
    assert.ok(valText.length > 0.04 * text.length && valText.length < 0.06 * text.length);
    assert.ok(!logs.some((m) => m.includes('from cache')));

    const logs2: string[] = [];
    const b = await loadDataset({ dataFile: file, vocabSize: 300, cacheDir, log: (m) => logs2.push(m) });
    assert.equal(logs2.filter((m) => m.includes('from cache')).length, 2);
    assert.deepEqual(b.train, a.train);
    assert.deepEqual(b.val, a.val);
    assert.deepEqual(b.tokenizer.toJSON(), a.tokenizer.toJSON());

    for (const f of readdirSync(cacheDir)) writeFileSync(join(cacheDir, f), 'garbage');
    const c = await loadDataset({ dataFile: file, vocabSize: 300, cacheDir });
    assert.deepEqual(c.train, a.train);
    assert.deepEqual(c.val, a.val);

    // A different vocabulary size is a different cache entry.
    const d = await loadDataset({ dataFile: file, vocabSize: 320, cacheDir });
    assert.equal(d.vocabSize, 320);
    assert.ok(d.train.length < a.train.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad data files give errors that name the problem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'moe-data-'));
  try {
    const cacheDir = join(dir, 'cache');
    const write = (name: string, data: string | Uint8Array): string => {
      const p = join(dir, name);
      writeFileSync(p, data);
      return p;
    };
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.txt'), /data file '.*missing\.txt' does not exist/],
      [write('empty.txt', ''), /data file '.*empty\.txt' is empty/],
      [write('blank.txt', ' \n\n\t '), /is empty \(only whitespace\)/],
      [write('short.txt', 'Too short to learn from.'), /is too short: 24 characters, need at least 1000/],
      [write('binary.bin', Uint8Array.from({ length: 4000 }, (_, i) => i % 256)), /looks binary \(NUL byte at offset 0\)/],
      [write('latin1.txt', Buffer.concat([Buffer.from('x'.repeat(2000)), Buffer.from([0xe9, 0x20, 0xff])])), /is not valid UTF-8/],
    ];
    mkdirSync(join(dir, 'adir'));
    cases.push([join(dir, 'adir'), /is a directory/]);
    for (const [file, re] of cases) {
      await assert.rejects(loadDataset({ dataFile: file, vocabSize: 300, cacheDir }), re);
    }
    await assert.rejects(loadDataset({ vocabSize: 100 }), /vocabSize must be an integer/);
    const tiny = write('tiny.txt', 'ab '.repeat(400));
    await assert.rejects(loadDataset({ dataFile: tiny, vocabSize: 4096, cacheDir }), /cannot build a vocabulary of 4096 from data file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('checkSplits names the split that is too small', () => {
  const ds = { name: 'x.txt', vocabSize: 300, train: new Int32Array(1000), val: new Int32Array(50), tokenizer: tok512 };
  assert.throws(() => checkSplits(ds, 128), /split too small: validation split of 'x.txt' has 50 tokens, need at least seqLen\+1=129/);
  assert.doesNotThrow(() => checkSplits(ds, 32));
  assert.throws(() => checkSplits(ds, 32, 2), /batchSize\*seqLen\+1=65/);
});

/** tokens[i] = i, so a window's contents reveal where it starts. */
const arange = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i);

test('BatchSampler: windows are contiguous, y is x shifted by one, seeds reproduce', () => {
  const tokens = arange(1000);
  const B = 4;
  const T = 16;
  const s1 = new BatchSampler(tokens, B, T, 42);
  const s2 = new BatchSampler(tokens, B, T, 42);
  const s3 = new BatchSampler(tokens, B, T, 43);
  let differs = false;
  for (let step = 0; step < 50; step++) {
    const a = s1.next();
    assert.deepEqual(s2.next(), a);
    if (!equalArrays(s3.next().x, a.x)) differs = true;
    assert.equal(a.x.length, B * T);
    assert.equal(a.y.length, B * T);
    for (let b = 0; b < B; b++) {
      const start = a.x[b * T];
      assert.ok(start >= 0 && start + T + 1 <= tokens.length);
      for (let t = 0; t < T; t++) {
        assert.equal(a.x[b * T + t], start + t);
        assert.equal(a.y[b * T + t], start + t + 1);
      }
    }
  }
  assert.ok(differs, 'another seed gave the same batches');
  assert.equal(s1.getState().step, 50);
  // The smallest legal split: exactly seqLen + 1 tokens, every row starts at 0.
  const edge = new BatchSampler(arange(T + 1), 2, T, 1);
  for (let i = 0; i < 20; i++) assert.deepEqual(edge.next().y, Int32Array.from([...arange(T + 1).subarray(1), ...arange(T + 1).subarray(1)]));
  // With N = T + 3 tokens the legal starts are 0, 1, 2: all of them occur, nothing beyond.
  const few = new BatchSampler(arange(T + 3), 8, T, 5);
  const starts = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const { x } = few.next();
    for (let b = 0; b < 8; b++) starts.add(x[b * T]);
  }
  assert.deepEqual([...starts].sort(), [0, 1, 2]);
  assert.throws(() => new BatchSampler(arange(T), 2, T, 1), /split too small: 16 tokens, need at least seqLen\+1=17/);
});

test('BatchSampler: setState resumes the identical sequence', () => {
  const tokens = arange(5000);
  const a = new BatchSampler(tokens, 3, 8, 9);
  for (let i = 0; i < 7; i++) a.next();
  const saved = JSON.parse(JSON.stringify(a.getState())) as { rng: number; step: number };
  const expected = [a.next(), a.next(), a.next()];
  const b = new BatchSampler(tokens, 3, 8, 12345);
  b.setState(saved);
  assert.deepEqual([b.next(), b.next(), b.next()], expected);
  assert.deepEqual(b.getState(), a.getState());
  assert.throws(() => b.setState({ rng: 1, step: -1 }), /bad step/);
});

test('evalBatches: deterministic non-overlapping windows from the start', () => {
  const tokens = arange(1000);
  const B = 3;
  const T = 10;
  const batches = evalBatches(tokens, B, T);
  assert.equal(batches.length, Math.floor(Math.floor(999 / T) / B)); // 99 windows -> 33 batches
  assert.deepEqual(evalBatches(tokens, B, T), batches);
  batches.forEach((batch, i) => {
    for (let b = 0; b < B; b++) {
      const start = (i * B + b) * T;
      for (let t = 0; t < T; t++) {
        assert.equal(batch.x[b * T + t], start + t);
        assert.equal(batch.y[b * T + t], start + t + 1);
      }
    }
  });
  assert.equal(evalBatches(tokens, B, T, 5).length, 5);
  assert.equal(evalBatches(tokens, B, T, 2.5).length, 2);
  assert.throws(() => evalBatches(tokens, B, T, 0), /maxBatches must be >= 1/);
  assert.deepEqual(evalBatches(tokens, B, T, 5), batches.slice(0, 5));
  assert.throws(() => evalBatches(arange(25), 3, 10), /one batch needs batchSize\*seqLen\+1=31 tokens/);
});

function equalArrays(a: Int32Array, b: Int32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
