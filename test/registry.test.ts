/**
 * The method registry drives every command: the spec grammar and its labels, and a walk over every
 * option of every method through route, simulate, compare and train (each must accept it, and each
 * --help must print its default).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { METHODS, parseMethodList, parseMethodSpec, resolveOptions, type MethodEntry } from '../src/routing/registry.ts';
import { isValidOption, type OptionDecl } from '../src/routing/options.ts';
import { DEFAULT_METHODS } from '../src/simulate/run.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'moe-registry-'));

test('method specs: names, shorthands, options, canonical labels, errors', () => {
  assert.deepEqual(parseMethodSpec('topk'), { label: 'topk', method: 'topk', options: {} });
  assert.deepEqual(parseMethodSpec('bip-T2'), { label: 'bip-T2', method: 'bip', options: { iters: 2 } });
  assert.deepEqual(parseMethodSpec('bip:iters=2'), { label: 'bip-T2', method: 'bip', options: { iters: 2 } });
  assert.deepEqual(parseMethodSpec('bip-T8-notrunc'), { label: 'bip-T8-notrunc', method: 'bip', options: { iters: 8, truncate: false } });
  assert.deepEqual(parseMethodSpec('bip:truncate=false,iters=8'), { label: 'bip-T8-notrunc', method: 'bip', options: { iters: 8, truncate: false } });
  assert.deepEqual(parseMethodSpec('bip-T4:order=route-then-update,truncate=false'), {
    label: 'bip-T4-notrunc-causal',
    method: 'bip',
    options: { iters: 4, order: 'route-then-update', truncate: false },
  });
  assert.deepEqual(parseMethodSpec('bip-T4:truncate=q').label, 'bip-T4:truncate=q');
  assert.deepEqual(parseMethodSpec('lossfree:update=linear,rate=0.01'), {
    label: 'lossfree-u0.01:update=linear',
    method: 'lossfree',
    options: { rate: 0.01, update: 'linear' },
  });
  assert.deepEqual(parseMethodSpec('quantile:bins=64,range=-2..2,as=qhist'), { label: 'qhist', method: 'quantile', options: { bins: 64, range: [-2, 2] } });
  assert.deepEqual(parseMethodList(DEFAULT_METHODS.join(' ')).map((s) => s.label), ['topk', 'lossfree', 'quantile', 'bip-T1', 'bip-T2', 'bip-T4']);
  assert.deepEqual(parseMethodList('topk; bip-T1 ;bip-T2').map((s) => s.label), ['topk', 'bip-T1', 'bip-T2']);
  assert.throws(() => parseMethodList('bip-T2 bip:iters=2'), /listed twice/);
  assert.throws(() => parseMethodSpec('bip-Tx'), /method 'bip-Tx': option 'iters' of 'bip' must be an integer from 0 to 10000, got "x"$/);
  assert.throws(() => parseMethodSpec('bip-T8-fast'), /unknown shorthand '-fast' \(shorthands of bip: bip-T8 = bip:iters=8/);
  assert.throws(() => parseMethodSpec('switch'), /unknown method 'switch' \(methods: topk, bip/);
  assert.throws(() => parseMethodSpec('bip:rate=1'), /unknown option 'rate' \(options of bip: iters, truncate, order, kernels, groups, topkGroups, capacityFactor, dropPolicy\)/);
  assert.throws(() => parseMethodSpec('lossfree:rate'), /not key=value/);
  assert.throws(() => parseMethodSpec('bip:'), /method 'bip:': nothing after ':'/);
  assert.throws(() => parseMethodList('topk bip: quantile'), /method 'bip:': nothing after ':'/);
  assert.throws(() => parseMethodSpec('bip:iters=2,'), /option '' is not key=value/);
  assert.throws(() => parseMethodSpec('lossfree:rate=1,rate=2'), /given twice/);
  assert.throws(() => parseMethodSpec('bip-T2:iters=3'), /option 'iters' given twice/);
  assert.throws(() => parseMethodSpec('auxloss:seqLen=4'), /option 'seqLen' of 'auxloss' applies only with form=sequence/);
  assert.throws(() => parseMethodList(' '), /no methods/);
});

test('one rule per option: Loss-Free rate 0 is accepted everywhere, a negative rate nowhere', () => {
  assert.equal(resolveOptions('lossfree', { rate: 0 }).rate, 0);
  assert.equal(parseMethodSpec('lossfree:rate=0').options.rate, 0);
  assert.throws(() => resolveOptions('lossfree', { rate: -0.001 }), /option 'rate' of 'lossfree' must be a number >= 0, got -0.001/);
});

test('method lists: spaces, semicolons or commas; key=value after a comma continues the spec before it', () => {
  const labels = (t: string) => parseMethodList(t).map((s) => s.label);
  assert.deepEqual(labels('auxloss,lossfree:rate=0.01,update=linear,bip-T8-notrunc'), ['auxloss', 'lossfree-u0.01:update=linear', 'bip-T8-notrunc']);
  assert.deepEqual(labels('topk; bip:iters=2,truncate=q quantile'), ['topk', 'bip-T2:truncate=q', 'quantile']);
  assert.throws(() => parseMethodList('iters=2,bip'), /unknown method 'iters=2'/);
});

/**
 * A valid value other than the default, so that a command that dropped the option (and so used the
 * default) fails the walk below: the example, else the default moved within its range.
 */
function otherValue(d: OptionDecl): unknown {
  const candidates: unknown[] = [d.example];
  if (d.type === 'int' && d.default !== undefined) candidates.push(d.default + 1, d.default - 1);
  if (d.type === 'number' && d.default !== undefined) candidates.push(d.default * 2, d.default / 2, d.default + 1);
  if (d.type === 'pair') candidates.push([d.default[0] - 1, d.default[1] + 1]);
  const v = candidates.find((c) => c !== undefined && c !== d.default && isValidOption(d, c));
  assert.ok(v !== undefined, `no value other than the default for ${JSON.stringify(d)}`);
  return v;
}

/** One option set per (method, option, value): every value of a choice, else a value other than the default. */
function optionCases(e: MethodEntry): { option: string; options: Record<string, unknown> }[] {
  const out: { option: string; options: Record<string, unknown> }[] = [];
  for (const [option, d] of Object.entries(e.options)) {
    const values = d.type === 'choice' ? [...d.values] : [otherValue(d)];
    for (const v of values) {
      const options: Record<string, unknown> = { [option]: v };
      if (d.needs) options[d.needs.option] = d.needs.example;
      // Options that the values above call for and that have no default (auxloss form=sequence needs seqLen).
      for (const [other, od] of Object.entries(e.options)) {
        if (options[other] === undefined && od.default === undefined && od.needs?.test(options[od.needs.option])) options[other] = od.example;
      }
      out.push({ option, options });
    }
  }
  return out;
}

const fmt = (v: unknown): string => (Array.isArray(v) ? `${v[0]}..${v[1]}` : String(v));
const specOf = (method: string, options: Record<string, unknown>): string =>
  `${method}:${Object.entries(options)
    .map(([k, v]) => `${k}=${fmt(v)}`)
    .join(',')}`;

test('every CLI accepts every option of every method, and the value reaches the balancer', async () => {
  const { run: route } = await import('../src/cli/route.ts');
  const { run: simulateCli } = await import('../src/cli/simulate.ts');
  const { parseCompareArgs } = await import('../src/cli/compare.ts');
  const { methodToTrain } = await import('../src/compare/run.ts');
  const { parseTrainArgs } = await import('../src/cli/train.ts');
  const { balancerOptions } = await import('../src/train/config.ts');
  const { configKey } = await import('../src/routing/registry.ts');
  const dir = tmp();
  const input = 'test/fixtures/route_scores_64x8.npy';
  const specs: string[] = [];
  let cases = 0;
  for (const e of METHODS) {
    for (const { option, options } of optionCases(e)) {
      cases++;
      const what = `${e.name} ${JSON.stringify(options)}`;
      assert.doesNotThrow(() => resolveOptions(e.name, options), what);
      // route: each option as a flag of its own, and the same as a --method spec.
      const out = join(dir, 'route.json');
      const flags = Object.entries(options).map(([k, v]) => `--${k.replace(/([A-Z])/g, '-$1').toLowerCase()}=${fmt(v)}`);
      for (const args of [['--method', e.name, ...flags], ['--method', specOf(e.name, options)]]) {
        assert.equal(await route(['--input', input, '--k', '2', '--output', out, ...args]), 0, what);
        assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')).options[option], options[option], `route ${args.join(' ')}`);
      }
      specs.push(`${specOf(e.name, options)},as=${e.name}-${cases}`);
      if (!e.trainable) continue;
      // train: --method SPEC, and --method NAME --set KEY=VALUE.
      const base = ['--out', join(dir, 'train'), '--config', 'configs/tiny.json'];
      const trainable = Object.fromEntries(Object.entries(options).filter(([k]) => !e.fromTrainConfig?.[k]));
      const sets = Object.entries(trainable).flatMap(([k, v]) => ['--set', `${configKey(e, k)}=${fmt(v)}`]);
      for (const args of [[...base, '--method', specOf(e.name, trainable)], [...base, '--method', e.name, ...sets]]) {
        const cfg = parseTrainArgs(args)?.cfg;
        assert.ok(cfg, args.join(' '));
        assert.deepEqual(balancerOptions(cfg)[option], e.fromTrainConfig?.[option] ? cfg[e.fromTrainConfig[option]] : options[option], `train ${args.join(' ')}`);
      }
      // compare: --methods SPEC, mapped onto the trainer's --method and --set.
      const o = parseCompareArgs(['--config', 'configs/tiny.json', '--steps', '1', '--out', dir, '--methods', specOf(e.name, trainable)]);
      assert.ok(o);
      const { base: method, set } = methodToTrain(o.methods[0]);
      const cfg = parseTrainArgs([...base, '--method', method, ...set.flatMap((s) => ['--set', s])])?.cfg;
      assert.ok(cfg);
      assert.deepEqual(balancerOptions(cfg)[option], e.fromTrainConfig?.[option] ? cfg[e.fromTrainConfig[option]] : options[option], `compare ${o.methods[0]}`);
    }
  }
  assert.ok(cases >= 12, `only ${cases} cases`);
  // simulate: every case as one method of one run; run.json records the options each balancer got.
  const simOut = join(dir, 'sim');
  const args = ['--n', '64', '--m', '8', '--k', '2', '--steps', '1', '--optimal', 'off', '--timing', 'off', '--quiet', '--out', simOut, '--methods', specs.join(' ')];
  assert.equal(await simulateCli(args, () => {}), 0);
  const recorded = JSON.parse(readFileSync(join(simOut, 'run.json'), 'utf8')).methods as { label: string; options: Record<string, unknown> }[];
  assert.equal(recorded.length, specs.length);
  for (const [i, r] of recorded.entries()) assert.deepEqual(r.options, parseMethodSpec(specs[i]).options, r.label);
});

test("every command's --help prints every option of every method with its default", async () => {
  const { ROUTE_HELP } = await import('../src/cli/route.ts');
  const { SIMULATE_HELP } = await import('../src/cli/simulate.ts');
  const { COMPARE_HELP } = await import('../src/cli/compare.ts');
  const { TRAIN_HELP } = await import('../src/cli/train.ts');
  const { configKey } = await import('../src/routing/registry.ts');
  const helps: [string, string, (e: MethodEntry, o: string) => string, boolean][] = [
    ['route', ROUTE_HELP, (_e, o) => `--${o.replace(/([A-Z])/g, '-$1').toLowerCase()} `, false],
    ['simulate', SIMULATE_HELP, (_e, o) => `${o}=`, false],
    ['compare', COMPARE_HELP, (e, o) => (e.fromTrainConfig?.[o] ? `(${o} = config` : `${o}=`), true],
    ['train', TRAIN_HELP, (e, o) => (e.fromTrainConfig?.[o] ? `(${o} = config` : `${configKey(e, o)} `), true],
  ];
  for (const [cmd, help, spelling, trainOnly] of helps) {
    const lines = help.split('\n');
    for (const e of METHODS) {
      if (trainOnly && !e.trainable) continue;
      assert.ok(help.includes(e.name), `${cmd} --help does not name ${e.name}`);
      for (const [option, d] of Object.entries(e.options)) {
        const dflt = `(default ${d.default === undefined ? 'none' : fmt(d.default)})`;
        assert.ok(
          lines.some((l) => l.includes(spelling(e, option)) && l.includes(dflt)),
          `${cmd} --help has no line with ${spelling(e, option)} and ${dflt}`,
        );
      }
    }
  }
});

test("the registry's defaults are the ones the algorithm files state", async () => {
  const { ONLINE_DEFAULT_RATE } = await import('../src/routing/online.ts');
  assert.equal(resolveOptions('online').rate, ONLINE_DEFAULT_RATE);
});
