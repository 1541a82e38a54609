/**
 * moe-balance train: train a small MoE language model whose every MoE layer is routed by a balancer.
 *
 *   moe-balance train --config configs/tiny.json --method bip --out runs/tiny-bip
 *   moe-balance train --config configs/moe16.json --method bip --steps 300 --out runs/bip16
 *   moe-balance train --config configs/moe16.json --method auxloss --set auxAlpha=0.01 --out runs/aux16
 *   moe-balance train --out runs/bip16 --resume          (continues from runs/bip16/checkpoint.json)
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadDataset, checkSplits } from '../data/dataset.ts';
import { BackendError, setBackend } from '../model/backend.ts';
import { checkOutDir } from '../io/outputPaths.ts';
import { CheckpointError, hasCheckpoint, MANIFEST } from '../train/checkpoint.ts';
import { watchStopRequests } from '../train/stop.ts';
import { CONFIG_KEYS, ConfigError, methodSpecConfig, resolveConfig, TRAIN_METHODS, type TrainConfig } from '../train/config.ts';
import { configKey, methodsHelp } from '../routing/registry.ts';
import { train, TrainingError } from '../train/trainer.ts';
import { CliError } from './errors.ts';
import { intFlag, parseFlags } from '../util/args.ts';

export const TRAIN_HELP = `Usage: moe-balance train --out DIR [options]

Options:
  --config FILE          JSON config (presets: configs/tiny.json, configs/moe16.json, configs/moe64.json)
  --method SPEC          ${TRAIN_METHODS.join(' | ')} (default bip), or a spec METHOD[:key=value,...] such as
                         bip-T8-notrunc or lossfree:rate=0.01 (sets the method's config keys below)
  --steps N              training steps
  --out DIR              output folder: config.json, log.jsonl, checkpoint.json (required)
  --set KEY=VALUE        override any config key (repeatable), e.g. --set bipIters=8 --set lr=0.001
                         options of any method: capacityFactor=F (capacity ⌈F·k·n/m⌉, pairs over it dropped:
                         residual only), dropPolicy=score|position, groups=G topkGroups=T (group-limited
                         topk/lossfree/bip), zLoss=C (router z-loss coefficient, ST-MoE: 0.001);
                         sinkhorn: sinkhornIters, sinkhornTau
  --seed N               seed of the initial parameters and the data order
  --eval-every N         validation every N steps (0: only at the end)
  --checkpoint-every N   checkpoint every N steps (0: only at the end)
  --resume               continue the run in --out from its last checkpoint (its config.json is the base)
  --force                start afresh in an --out folder that holds an earlier run (its log and checkpoint go)
  --backend NAME         wasm (default) | cpu | tensorflow (needs @tensorflow/tfjs-node)
  --workers W            data-parallel threads, each on 1/W of the batch's sequences (default 1; auto = the
                         machine's cores); routing equals the single-process routing (sharded balancers),
                         gradients are summed, one AdamW step everywhere; a run may be resumed with another W
  --data FILE            train on this UTF-8 text file instead of the built-in corpus
  --quiet                no progress output
  --help                 this text

Without --config the defaults are the moe16 shape. Ctrl-C finishes the current step, writes a checkpoint
and exits (130); continue with --resume. Writes OUT/log.jsonl (one JSON line per step, eval and summary).

Method options (config keys, for --set or a config file; null or unset = the default):
${methodsHelp({ flag: (e, o) => (e.fromTrainConfig?.[o] ? `(${o} = config ${e.fromTrainConfig[o]})` : configKey(e, o)), only: (e) => e.trainable, shorthands: true })}

Config keys: ${CONFIG_KEYS.join(', ')}`;

/** --workers: a positive integer or 'auto' (the cores this process may use). */
function parseWorkers(v: string | undefined): number {
  if (v === undefined) return 1;
  if (v === 'auto') return availableParallelism();
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 1) throw new CliError(`--workers must be a positive integer or 'auto', got '${v}'`);
  return n;
}

export interface TrainArgs {
  cfg: TrainConfig;
  outDir: string;
  resume: boolean;
  quiet: boolean;
  workers: number;
}

/** Parses the command line into the effective configuration; undefined means --help. */
export function parseTrainArgs(argv: string[]): TrainArgs | undefined {
  const { values } = parseFlags(argv, {
    config: { type: 'string' },
    method: { type: 'string' },
    steps: { type: 'string' },
    out: { type: 'string' },
    set: { type: 'string', multiple: true },
    seed: { type: 'string' },
    'eval-every': { type: 'string' },
    'checkpoint-every': { type: 'string' },
    resume: { type: 'boolean' },
    force: { type: 'boolean' },
    backend: { type: 'string' },
    data: { type: 'string' },
    workers: { type: 'string' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return undefined;
  if (!values.out) throw new CliError('--out DIR is required (see --help)');
  const outDir = values.out;
  checkRunFolder(outDir, values.resume === true, values.force === true, values.config !== undefined);

  const flags: Record<string, unknown> = {};
  // Any integer here: the config check that follows holds each key's range and names the key.
  const int = (name: string, v: string | undefined, key: keyof TrainConfig) => {
    if (v !== undefined) flags[key] = intFlag(name, v);
  };
  int('steps', values.steps, 'steps');
  int('seed', values.seed, 'seed');
  int('eval-every', values['eval-every'], 'evalEvery');
  int('checkpoint-every', values['checkpoint-every'], 'checkpointEvery');
  if (values.backend !== undefined) flags.backend = values.backend;
  if (values.data !== undefined) flags.dataFile = values.data;
  const workers = parseWorkers(values.workers);

  let file = values.config;
  if (values.resume && file === undefined && existsSync(join(outDir, 'config.json'))) file = join(outDir, 'config.json');
  try {
    if (values.method !== undefined) Object.assign(flags, methodSpecConfig(values.method));
    const cfg = resolveConfig({ file, sets: values.set ?? [], flags, note: (line) => console.error(`moe-balance train: ${line}`) });
    return { cfg, outDir, resume: values.resume ?? false, quiet: values.quiet ?? false, workers };
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(e.message);
    throw e;
  }
}

export async function run(argv: string[]): Promise<number> {
  const args = parseTrainArgs(argv);
  if (!args) {
    console.log(TRAIN_HELP);
    return 0;
  }
  const { cfg, outDir, workers } = args;
  const values = { resume: args.resume, quiet: args.quiet };
  const say = (s: string) => {
    if (!values.quiet) console.log(s);
  };
  say(`effective configuration (saved to ${join(outDir, 'config.json')}):`);
  say(
    Object.entries(cfg)
      .map(([k, v]) => `  ${k} = ${JSON.stringify(v)}`)
      .join('\n'),
  );

  // The backend first: an unavailable one is reported before the data is tokenized.
  try {
    await setBackend(cfg.backend);
  } catch (e) {
    if (e instanceof BackendError) throw new CliError(e.message);
    throw e;
  }

  let data;
  try {
    data = await loadDataset({ dataFile: cfg.dataFile || undefined, vocabSize: cfg.vocabSize, log: say });
    checkSplits(data, cfg.seqLen, cfg.batchSize);
  } catch (e) {
    const what = cfg.dataFile ? `data file '${cfg.dataFile}'` : 'the built-in corpus';
    throw new CliError(`cannot use ${what}: ${(e as Error).message}`);
  }

  // Ctrl-C (or, under compare, the parent's end): finish the current step, write a checkpoint, exit 130.
  const stop = { requested: false };
  const unwatch = watchStopRequests(stop);
  try {
    const { summary, interrupted, lastStep } = await train({ config: cfg, outDir, data, resume: values.resume, quiet: values.quiet, stop, workers });
    if (interrupted) {
      console.log(`interrupted at step ${lastStep}: checkpoint written; continue with: moe-balance train --out ${outDir} --resume`);
      return 130;
    }
    if (summary) {
      console.log(
        `done: ${summary.steps} steps, ${summary.tokens} tokens, val perplexity ${summary.perplexity.toFixed(2)} ` +
          `(loss ${summary.valLoss.toFixed(4)}), AvgMaxVio ${summary.avgMaxVio.toFixed(4)}, SupMaxVio ${summary.supMaxVio.toFixed(4)}, ` +
          `wall ${(summary.wallMs / 1000).toFixed(1)} s -> ${join(outDir, 'log.jsonl')}`,
      );
    }
    return 0;
  } catch (e) {
    if (e instanceof TrainingError || e instanceof ConfigError || e instanceof CheckpointError) throw new CliError(e.message);
    throw e;
  } finally {
    unwatch();
  }
}

/**
 * Before anything is loaded or deleted: --out must be a folder on an ordinary file system; --resume needs
 * a checkpoint there (and the run's config.json unless --config names one); a fresh run does not replace
 * an earlier run's log and checkpoint unless --force says so.
 */
function checkRunFolder(outDir: string, resume: boolean, force: boolean, hasConfigFlag: boolean): void {
  checkOutDir(outDir);
  if (resume) {
    if (force) throw new CliError('--resume and --force contradict each other (continue the run, or replace it)');
    if (!hasCheckpoint(outDir)) throw new CliError(`--resume: ${outDir} holds no checkpoint (${MANIFEST}) to continue from`);
    const config = join(outDir, 'config.json');
    if (!hasConfigFlag && !existsSync(config)) {
      throw new CliError(`--resume: ${config} is missing (written when the run started); give the run's configuration with --config FILE and the same --set options`);
    }
    return;
  }
  const earlier = [MANIFEST, 'log.jsonl'].filter((f) => existsSync(join(outDir, f)));
  if (earlier.length > 0 && !force) {
    throw new CliError(`${outDir} holds an earlier run (${earlier.join(', ')}); continue it with --resume, or pass --force to replace it`);
  }
}
