/**
 * `moe-balance compare`: train one model per method and seed (same data order and initial parameters for
 * every method of a seed), then write the comparison report.
 *
 *   moe-balance compare --config configs/moe16.json --methods auxloss,lossfree,bip,quantile,topk \
 *     --steps 300 --seeds 1,2,3 --out runs/compare-moe16 --jobs 2
 *   moe-balance compare --preset quick --out runs/quick        (what `npm start` runs)
 *
 * Run the same command again after an interruption: finished runs are skipped, the others resume.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CliError } from './errors.ts';
import { intFlag, listFlag, parseFlags } from '../util/args.ts';
import { checkOutDir } from '../io/outputPaths.ts';
import { checkMethods, runCompare, PACKAGE_ROOT, type CompareOptions } from '../compare/run.ts';
import { configKey, methodsHelp, optionValueName, parseMethodList, specLabel } from '../routing/registry.ts';
import { TRAIN_METHODS } from '../train/config.ts';

export const COMPARE_HELP = `Usage: moe-balance compare [options]

Train one model per method and seed, then write DIR/report.html, DIR/summary.md and DIR/summary.json.

Options:
  --config FILE        training configuration (e.g. configs/moe16.json)
  --methods LIST       method specs separated by commas, spaces or ';': ${TRAIN_METHODS.join(', ')}, or
                       METHOD[-SHORTHAND...][:key=value,...] such as bip-T8-notrunc or lossfree:rate=0.01 (below)
                       The report adds Dropped, No expert and Group MaxVio columns when runs log them.
                       Group-limited routing and the router z-loss: --set bip:groups=4 --set bip:topkGroups=2, --set zLoss=0.001
  --seeds LIST         comma-separated seeds (default 1)
  --steps N            training steps per run
  --out DIR            output folder (runs go to DIR/runs/<method>-s<seed>)
  --jobs N             runs at once (default 1; one per core is sensible)
  --workers W          data-parallel threads per run (train --workers; default 1); jobs × workers is kept
                       within the machine's cores (--jobs is lowered, and the log says so)
  --eval-every E       evaluate every E steps (default: the configuration's)
  --set KEY=VALUE      configuration override for every run; METHOD:KEY=VALUE for that method's runs only (repeatable)
  --preset NAME        defaults from configs/compare-NAME.json (or a .json path); the options above override it
  -h, --help           this help

Methods and their options (spec key=VALUE; the trainer's config key in brackets):
${methodsHelp({ flag: (e, o) => (e.fromTrainConfig?.[o] ? `(${o} = config ${e.fromTrainConfig[o]})` : `${o}=${optionValueName(o)} [${configKey(e, o)}]`), only: (e) => e.trainable, shorthands: true })}

Interrupted? Run the same command again: finished runs are skipped and the others resume from their checkpoints.`;

const PRESET_KEYS = ['config', 'methods', 'seeds', 'steps', 'evalEvery', 'jobs', 'set', 'out'] as const;

/** An integer from the command line or the preset (where it may be a JSON number). */
function int(name: string, v: string | number, min: number): number {
  return intFlag(name, String(v), min) as number;
}

/** Read a preset (configs/compare-NAME.json or a path); unknown keys are errors. */
export function readPreset(name: string): Record<string, unknown> {
  const file = name.endsWith('.json') ? name : join(PACKAGE_ROOT, 'configs', `compare-${name}.json`);
  if (!existsSync(file)) throw new CliError(`no preset '${name}' (looked for ${file})`);
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliError(`preset ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CliError(`preset ${file} must be a JSON object`);
  for (const k of Object.keys(v)) {
    if (!(PRESET_KEYS as readonly string[]).includes(k)) throw new CliError(`unknown key '${k}' in preset ${file}; keys: ${PRESET_KEYS.join(', ')}`);
  }
  return v as Record<string, unknown>;
}

/** Parse the command line (and preset) into orchestrator options; `undefined` means --help. */
export function parseCompareArgs(argv: string[]): CompareOptions | undefined {
  const { values } = parseFlags(argv, {
    config: { type: 'string' },
    methods: { type: 'string' },
    seeds: { type: 'string' },
    steps: { type: 'string' },
    out: { type: 'string' },
    jobs: { type: 'string' },
    workers: { type: 'string' },
    'eval-every': { type: 'string' },
    set: { type: 'string', multiple: true },
    preset: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return undefined;
  const p = values.preset ? readPreset(values.preset) : {};
  const pick = <T>(flag: string | undefined, key: (typeof PRESET_KEYS)[number]): T | string | undefined => flag ?? (p[key] as T | undefined);

  let config = pick<string>(values.config, 'config');
  if (typeof config !== 'string' || config === '') throw new CliError('--config is required (e.g. --config configs/moe16.json)');
  // A preset names its config relative to the package, so `npm start` works from anywhere.
  if (!values.config && !existsSync(config) && existsSync(join(PACKAGE_ROOT, config))) config = join(PACKAGE_ROOT, config);
  if (!existsSync(config)) throw new CliError(`config file not found: ${config}`);
  const methodsRaw = pick<string[]>(values.methods, 'methods');
  const methodsText = Array.isArray(methodsRaw) ? methodsRaw.map(String).join(' ') : typeof methodsRaw === 'string' ? methodsRaw : '';
  if (methodsText.trim() === '') throw new CliError('--methods is required (e.g. --methods auxloss,lossfree,bip)');
  const specs = parseMethodList(methodsText, { complete: false }); // the trainer supplies auxloss seqLen
  const named = specs.find((s) => s.label !== specLabel(s.method, s.options));
  if (named) throw new CliError(`method '${named.label}': compare names each run by its method spec, so as=NAME is not taken here`);
  const methods = specs.map((s) => s.label);
  const bad = checkMethods(methods);
  if (bad) throw new CliError(bad);
  const seedsRaw = pick<number[]>(values.seeds, 'seeds') ?? '1';
  const seeds = (Array.isArray(seedsRaw) ? seedsRaw : listFlag(String(seedsRaw))).map((s) => int('seeds', s, 0));
  if (new Set(seeds).size !== seeds.length) throw new CliError(`a seed is listed twice in --seeds ${seeds.join(',')}`);
  const stepsRaw = pick<number>(values.steps, 'steps');
  if (stepsRaw === undefined) throw new CliError('--steps is required');
  const steps = int('steps', stepsRaw, 1);
  const out = pick<string>(values.out, 'out');
  if (typeof out !== 'string' || out === '') throw new CliError('--out is required (the output folder)');
  checkOutDir(out);
  const jobs = int('jobs', pick<number>(values.jobs, 'jobs') ?? 1, 1);
  const workers = int('workers', values.workers ?? 1, 1);
  const evalRaw = pick<number>(values['eval-every'], 'evalEvery');
  const evalEvery = evalRaw === undefined ? undefined : int('eval-every', evalRaw, 0);
  const set = [...((p.set as string[] | undefined) ?? []), ...(values.set ?? [])];
  for (const s of set) if (!/^([A-Za-z0-9_-]+:)?[A-Za-z][A-Za-z0-9]*=/.test(s)) throw new CliError(`--set expects KEY=VALUE or METHOD:KEY=VALUE, got '${s}'`);
  return { config, methods, seeds, steps, out, jobs, workers, evalEvery, set, preset: values.preset, command: ['moe-balance', 'compare', ...argv].join(' ') };
}

export async function run(argv: string[]): Promise<number> {
  const o = parseCompareArgs(argv);
  if (!o) {
    console.log(COMPARE_HELP);
    return 0;
  }
  const n = o.methods.length * o.seeds.length;
  console.log(`compare: ${n} run${n === 1 ? '' : 's'} (${o.methods.join(', ')} × seed${o.seeds.length === 1 ? '' : 's'} ${o.seeds.join(', ')}), ${o.steps} steps each, ${o.jobs} at once${(o.workers ?? 1) > 1 ? ` × ${o.workers} workers each` : ''}, into ${o.out}`);
  const res = await runCompare(o);
  console.log('');
  console.log(res.report.markdown);
  console.log('');
  const rel = (f: string): string => relative(process.cwd(), f) || f;
  console.log(`Report: ${rel(res.report.htmlPath)}  (also ${rel(res.report.markdownPath)}, ${rel(res.report.jsonPath)})`);
  if (res.interrupted) {
    console.log('Interrupted: run the same command again to resume.');
    return 130;
  }
  if (res.failed > 0) {
    console.error(`${res.failed} run(s) failed; see DIR/runs/<run>/train.out`);
    return 1;
  }
  return 0;
}
