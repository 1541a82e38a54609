/**
 * The trainer on the `tiny` preset with a synthetic corpus (a random "lexicon" of short token words,
 * strung together at random: learnable, and built in milliseconds): the loss falls for every method,
 * a killed and resumed run repeats the uninterrupted run's losses exactly, tensors do not leak,
 * divergence stops with a clear error and an intact checkpoint, and the log keeps its schema.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadCheckpoint } from '../src/train/checkpoint.ts';
import { balancerOptions, finalizeConfig, applyOverrides, parseSetArgs, readConfigFile, DEFAULT_CONFIG, type TrainConfig } from '../src/train/config.ts';
import { readLog, type EvalLine, type StepLine, type SummaryLine } from '../src/train/log.ts';
import { train, TrainingError, type TrainData } from '../src/train/trainer.ts';
import { run as runTrainCli } from '../src/cli/train.ts';
import { Rng } from '../src/util/rng.ts';

const TINY_FILE = join(import.meta.dirname, '..', 'configs', 'tiny.json');

/** The tiny preset with a few overrides, validated like the CLI does. */
function tinyConfig(over: Record<string, unknown> = {}): TrainConfig {
  return finalizeConfig(applyOverrides(applyOverrides({ ...DEFAULT_CONFIG }, readConfigFile(TINY_FILE), 'tiny'), over, 'test'));
}

/** Words of 2-5 tokens from a 512-token vocabulary, drawn at random and concatenated. */
function syntheticData(vocabSize: number, seed = 11): TrainData {
  const rng = new Rng(seed);
  const words = Array.from({ length: 40 }, () => Int32Array.from({ length: 2 + rng.int(4) }, () => rng.int(vocabSize)));
  const stream = (len: number) => {
    const out = new Int32Array(len);
    let i = 0;
    while (i < len) {
      const w = words[rng.int(words.length)];
      for (let t = 0; t < w.length && i < len; t++) out[i++] = w[t];
    }
    return out;
  };
  return { name: 'synthetic', vocabSize, train: stream(20000), val: stream(2000) };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'moe-train-'));

test('config: unknown key, wrong type and incompatible combinations are rejected, naming the key', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ expertz: 4 }, /unknown config key 'expertz'/],
    [{ dim: '32' }, /'dim' must be an integer/],
    [{ lr: -1 }, /'lr' must be a number > 0/],
    [{ topK: 4 }, /'topK' must be < numExperts/],
    [{ heads: 3 }, /'dim' must be divisible by heads/],
    [{ method: 'lossfree', bipIters: 8 }, /'bipIters' is an option of method 'bip'/],
    [{ method: 'nope' }, /'method' must be one of/],
  ];
  for (const [over, re] of bad) assert.throws(() => tinyConfig(over), re, JSON.stringify(over));
  assert.throws(() => tinyConfig({ bipTruncate: 'p' }), /'bipTruncate' must be true, false or 'q'/);
  assert.equal(finalizeConfig(applyOverrides(tinyConfig(), parseSetArgs(['bipTruncate=q']), '--set')).bipTruncate, 'q');
  const ok = tinyConfig({ method: 'bip', bipIters: 8 });
  assert.equal(ok.bipIters, 8);
  assert.equal(ok.bipTruncate, true, 'unset options of the chosen method take the core defaults');
  assert.equal(ok.lossfreeRate, null, "other methods' options stay unset");
  const online = tinyConfig({ method: 'online', onlineGroup: 16 });
  const { rate, scale, truncate, group } = balancerOptions(online);
  assert.deepEqual({ rate, scale, truncate, group }, { rate: 0.1, scale: 'spread', truncate: true, group: 16 });
  assert.throws(() => tinyConfig({ method: 'bip', onlineRate: 0.2 }), /'onlineRate' is an option of method 'online'/);
});

test("config: the expert count is numExperts; a file with the old key 'experts' is read as it, --set names the new key", () => {
  const dir = tmp();
  const file = join(dir, 'old.json');
  writeFileSync(file, JSON.stringify({ experts: 6, sharedExperts: 1, topK: 2 }));
  const notes: string[] = [];
  const rec = readConfigFile(file, (line) => notes.push(line));
  assert.deepEqual(rec, { numExperts: 6, numSharedExperts: 1, topK: 2 });
  assert.equal(notes.length, 2);
  assert.match(notes[0], /old\.json.*'experts' is read as 'numExperts'/);
  writeFileSync(file, JSON.stringify({ experts: 6, numExperts: 8 }));
  assert.throws(() => readConfigFile(file), /'experts' is the old name of 'numExperts', and both are set/);
  assert.throws(() => parseSetArgs(['experts=8']), /config key 'experts' is now 'numExperts' \(--set\)/);
  assert.throws(() => applyOverrides({ ...DEFAULT_CONFIG }, { sharedExperts: 1 }, 'flag'), /'sharedExperts' is now 'numSharedExperts'/);
  rmSync(dir, { recursive: true, force: true });
  // Every committed run's config.json (written with the old key) still gives a valid configuration.
  const results = join(import.meta.dirname, '..', 'results');
  let read = 0;
  for (const set of readdirSync(results)) {
    const runs = join(results, set, 'runs');
    if (!existsSync(runs)) continue;
    for (const run of readdirSync(runs)) {
      const path = join(runs, run, 'config.json');
      if (!existsSync(path)) continue;
      const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      const cfg = finalizeConfig(applyOverrides({ ...DEFAULT_CONFIG }, readConfigFile(path), path));
      assert.equal(cfg.numExperts, raw.numExperts ?? raw.experts, path);
      read++;
    }
  }
  assert.ok(read >= 20, `committed run configs read: ${read}`);
});

test('the loss falls by at least 1.0 nat within 40 steps on tiny, for every method', async () => {
  const data = syntheticData(512);
  for (const method of ['topk', 'bip', 'lossfree', 'quantile', 'auxloss', 'online']) {
    const out = tmp();
    const losses: number[] = [];
    const { summary } = await train({
      config: tinyConfig({ method, evalEvery: 0, checkpointEvery: 0, evalBatches: 1 }),
      outDir: out,
      data,
      quiet: true,
      hooks: { afterStep: (l) => losses.push(l.lmLoss) },
    });
    const first = losses[0];
    const last5 = losses.slice(-5).reduce((a, c) => a + c, 0) / 5;
    assert.ok(summary, `${method}: summary written`);
    assert.ok(first - last5 >= 1.0, `${method}: lm loss ${first.toFixed(3)} -> ${last5.toFixed(3)} (mean of last 5)`);
    rmSync(out, { recursive: true, force: true });
  }
});

test('kill and resume: the steps after --resume repeat the uninterrupted run exactly', async () => {
  const data = syntheticData(512);
  const cfg = tinyConfig({ method: 'bip', steps: 12, warmupSteps: 2, checkpointEvery: 4, evalEvery: 6, evalBatches: 1 });
  const full = tmp();
  await train({ config: cfg, outDir: full, data, quiet: true });
  const killed = tmp();
  // Runs to step 6 and stops without a final checkpoint: steps 5-6 are lost, as in a kill after step 6.
  const first = await train({ config: cfg, outDir: killed, data, quiet: true, stopAfterStep: 6 });
  assert.equal(first.summary, null);
  assert.equal(loadCheckpoint(killed).step, 4);
  // A kill in the middle of a checkpoint write leaves a temporary file: the resume removes it.
  writeFileSync(join(killed, 'ckpt-000008.bin.tmp-12345'), 'partial');
  await train({ config: cfg, outDir: killed, data, quiet: true, resume: true });
  assert.equal(existsSync(join(killed, 'ckpt-000008.bin.tmp-12345')), false);

  const a = readLog(join(full, 'log.jsonl'));
  const b = readLog(join(killed, 'log.jsonl'));
  const steps = (l: typeof a) => l.filter((x): x is StepLine => !('eval' in x) && !('summary' in x));
  assert.deepEqual(
    steps(b).map((l) => l.step),
    Array.from({ length: 12 }, (_, i) => i + 1),
    'the resumed log has each step once',
  );
  assert.deepEqual(
    steps(b).map((l) => [l.loss, l.lmLoss, l.layers.map((x) => x.loads)]),
    steps(a).map((l) => [l.loss, l.lmLoss, l.layers.map((x) => x.loads)]),
    'identical losses and loads',
  );
  const evals = (l: typeof a) => l.filter((x): x is EvalLine => 'eval' in x).map((e) => [e.step, e.valLoss]);
  assert.deepEqual(evals(b), evals(a));
  const sa = a.find((x): x is SummaryLine => 'summary' in x)!;
  const sb = b.find((x): x is SummaryLine => 'summary' in x)!;
  assert.equal(sb.perplexity, sa.perplexity);
  assert.equal(sb.avgMaxVio, sa.avgMaxVio);
  rmSync(full, { recursive: true, force: true });
  rmSync(killed, { recursive: true, force: true });
});

test('a stop request (Ctrl-C) ends the run after the current step with a checkpoint of that step', async () => {
  const data = syntheticData(512);
  const cfg = tinyConfig({ method: 'quantile', steps: 10, checkpointEvery: 4, evalEvery: 0, evalBatches: 1 });
  const out = tmp();
  const stop = { requested: false };
  const r = await train({ config: cfg, outDir: out, data, quiet: true, stop, hooks: { afterStep: (l) => (stop.requested = l.step === 6) } });
  assert.equal(r.interrupted, true);
  assert.equal(r.lastStep, 6);
  assert.equal(loadCheckpoint(out).step, 6);
  const done = await train({ config: cfg, outDir: out, data, quiet: true, resume: true });
  assert.ok(done.summary && !done.interrupted);
  rmSync(out, { recursive: true, force: true });
});

test('resume refuses a changed configuration or a finished run; a fresh run drops an old checkpoint', async () => {
  const data = syntheticData(512);
  const cfg = tinyConfig({ method: 'topk', steps: 4, checkpointEvery: 2, evalEvery: 0, evalBatches: 1 });
  const out = tmp();
  await train({ config: cfg, outDir: out, data, quiet: true, stopAfterStep: 3 });
  await assert.rejects(train({ config: { ...cfg, lr: cfg.lr * 2 }, outDir: out, data, quiet: true, resume: true }), /config key 'lr'/);
  // A checkpoint written before numExperts/numSharedExperts were renamed holds 'experts'/'sharedExperts': it resumes.
  const manifest = join(out, 'checkpoint.json');
  const { manifestSha256: _, ...fields } = JSON.parse(readFileSync(manifest, 'utf8')) as { config: Record<string, unknown>; manifestSha256: string };
  const { numExperts: experts, numSharedExperts: sharedExperts, ...rest } = fields.config;
  const old = { ...fields, config: { ...rest, experts, sharedExperts } };
  writeFileSync(manifest, JSON.stringify({ ...old, manifestSha256: createHash('sha256').update(JSON.stringify(old)).digest('hex') }));
  assert.equal(loadCheckpoint(out).config.experts, 4, 'the manifest now holds the old key');
  await train({ config: cfg, outDir: out, data, quiet: true, resume: true });
  await assert.rejects(train({ config: cfg, outDir: out, data, quiet: true, resume: true }), /already at step 4 of 4/);
  const before = tf.memory().numTensors;
  await train({ config: cfg, outDir: out, data, quiet: true, stopAfterStep: 1 });
  assert.equal(tf.memory().numTensors, before, 'no tensors left behind by finished or failed runs');
  await assert.rejects(train({ config: cfg, outDir: out, data, quiet: true, resume: true }), /no checkpoint/);
  rmSync(out, { recursive: true, force: true });
});

test('the number of live tensors does not grow from step to step', async () => {
  const out = tmp();
  const counts: number[] = [];
  await train({
    config: tinyConfig({ method: 'auxloss', steps: 8, evalEvery: 2, checkpointEvery: 3, evalBatches: 1 }),
    outDir: out,
    data: syntheticData(512),
    quiet: true,
    hooks: { afterStep: () => counts.push(tf.memory().numTensors) },
  });
  assert.equal(counts.length, 8);
  assert.ok(counts.every((c) => c === counts[0]), `tensor counts per step: ${counts.join(', ')}`);
  rmSync(out, { recursive: true, force: true });
});

test('a NaN stops training with an error naming the cause; the last checkpoint is intact', async () => {
  const out = tmp();
  const cfg = tinyConfig({ method: 'lossfree', steps: 10, checkpointEvery: 2, evalEvery: 0, evalBatches: 1 });
  await assert.rejects(
    train({
      config: cfg,
      outDir: out,
      data: syntheticData(512),
      quiet: true,
      hooks: {
        beforeStep: (step, model) => {
          if (step === 4) {
            const w = model.params.get('b0.wqkv')!;
            tf.tidy(() => w.assign(tf.fill(w.shape, NaN)));
          }
        },
      },
    }),
    (e: Error) => e instanceof TrainingError && /NaN/.test(e.message) && /step 4/.test(e.message) && /last checkpoint \(step 2/.test(e.message),
  );
  const ck = loadCheckpoint(out); // verifies the checksum
  assert.equal(ck.step, 2);
  assert.ok(ck.tensors.every((t) => t.value.every(Number.isFinite)), 'checkpointed weights are finite');
  const log = readLog(join(out, 'log.jsonl'));
  assert.deepEqual(
    log.map((l) => (l as StepLine).step),
    [1, 2, 3],
  );
  rmSync(out, { recursive: true, force: true });
});

test('log lines keep the documented schema; config.json holds the effective configuration', async () => {
  const out = tmp();
  const cfg = tinyConfig({ method: 'auxloss', steps: 4, evalEvery: 2, checkpointEvery: 0, evalBatches: 1 });
  await train({ config: cfg, outDir: out, data: syntheticData(512), quiet: true });
  const lines = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((t) => JSON.parse(t) as Record<string, unknown>);
  const keys = (o: Record<string, unknown>) => Object.keys(o).sort().join(',');
  assert.equal(keys(lines[0]), 'auxLoss,layers,lmLoss,loss,lr,routingMs,step,stepMs,tokensPerSec');
  assert.equal(keys((lines[0].layers as Record<string, unknown>[])[0]), 'loads,maxVio,minVio');
  assert.ok((lines[0].auxLoss as number) > 0, 'auxloss logs its auxiliary loss');
  const ev = lines.find((l) => l.eval)!;
  assert.equal(keys(ev), 'eval,maxVioGlobal,perplexity,step,valLoss');
  assert.equal((ev.maxVioGlobal as number[]).length, cfg.layers);
  const sum = lines[lines.length - 1];
  assert.equal(keys(sum), 'avgMaxVio,method,perplexity,steps,summary,supMaxVio,tokens,valLoss,wallMs');
  assert.equal(sum.method, 'auxloss');
  assert.equal(sum.tokens, 4 * cfg.batchSize * cfg.seqLen);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')), cfg);
  rmSync(out, { recursive: true, force: true });
});

test('CLI: a bad data file and a bad --set are reported with their cause before training', async () => {
  const out = tmp();
  await assert.rejects(
    runTrainCli(['--config', TINY_FILE, '--data', join(out, 'missing.txt'), '--out', out, '--quiet']),
    /missing\.txt/,
  );
  const empty = join(out, 'empty.txt');
  writeFileSync(empty, '');
  await assert.rejects(runTrainCli(['--config', TINY_FILE, '--data', empty, '--out', out, '--quiet']), /empty\.txt/);
  await assert.rejects(runTrainCli(['--config', TINY_FILE, '--set', 'topK=9', '--out', out, '--quiet']), /'topK'/);
  await assert.rejects(runTrainCli(['--config', TINY_FILE, '--set', 'lr', '--out', out, '--quiet']), /key=value/);
  await assert.rejects(runTrainCli(['--config', TINY_FILE, '--backend', 'tensorflow', '--out', out, '--quiet']), /tfjs-node/);
  await assert.rejects(runTrainCli(['--config', join(out, 'nope.json'), '--out', out, '--quiet']), /cannot read config file/);
  assert.equal(existsSync(join(out, 'log.jsonl')), false, 'nothing was trained');
  rmSync(out, { recursive: true, force: true });
});
