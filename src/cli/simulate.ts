/**
 * `moe-balance simulate`: run balancers over a stream of router scores (synthetic or recorded) and
 * report how balanced each one keeps the experts, step by step.
 *
 *   moe-balance simulate --stream collapse --steps 30 --seed 1 --out runs/collapse
 *   moe-balance simulate --stream drift --methods "topk lossfree:rate=0.01 bip-T2" --layers 4
 *   moe-balance simulate --replay scores.npy --gate none --out runs/replay
 *
 * Writes DIR/log.jsonl (one line per step, layer and method), DIR/summary.md, DIR/summary.json,
 * DIR/run.json (the command and full configuration) and DIR/report.html; prints the summary table.
 */
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { checkOutDir } from '../io/outputPaths.ts';
import { OPTIMAL_MAX_VARIABLES } from '../routing/optimal.ts';
import { GATES, type Gate } from '../routing/gate.ts';
import { methodsHelp, optionValueName, parseMethodList, type MethodSpec } from '../routing/registry.ts';
import { simulateIntoFolder } from '../simulate/folder.ts';
import { replayStream } from '../simulate/replay.ts';
import type { RunInfo } from '../simulate/report.ts';
import { DEFAULT_METHODS, OPTIMAL_AUTO_LIMIT, createMethodBalancers, usesOptimal } from '../simulate/run.ts';
import { STREAM_DEFAULTS, STREAM_DOCS, STREAM_KINDS, syntheticStream, type ScoreStream, type StreamParams } from '../simulate/streams.ts';
import { CliError } from './errors.ts';
import { choiceFlag, intFlag, numberFlag, parseFlags } from '../util/args.ts';

export const SIMULATE_OPTIONS = {
  stream: { type: 'string' },
  replay: { type: 'string' },
  n: { type: 'string' },
  m: { type: 'string' },
  k: { type: 'string' },
  steps: { type: 'string' },
  layers: { type: 'string' },
  gate: { type: 'string' },
  seed: { type: 'string' },
  dim: { type: 'string' },
  'logit-std': { type: 'string' },
  zipf: { type: 'string' },
  drift: { type: 'string' },
  dominant: { type: 'string' },
  strength: { type: 'string' },
  clusters: { type: 'string' },
  concentration: { type: 'string' },
  spread: { type: 'string' },
  methods: { type: 'string' },
  method: { type: 'string', multiple: true },
  optimal: { type: 'string' },
  threshold: { type: 'string' },
  groups: { type: 'string' },
  timing: { type: 'string' },
  shards: { type: 'string' },
  out: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const D = STREAM_DEFAULTS;
const DEFAULTS = { n: 4096, m: 16, k: 2, steps: 100, layers: 1, seed: 0, threshold: 0.1 };

export const SIMULATE_HELP = `Usage: moe-balance simulate [options]

Runs every balancer over the same stream of router scores, one balancer per method and layer, each
carrying its own state (BIP's q, Loss-Free's b, Quantile's beta) from step to step. Prints a Markdown
summary table on stdout; progress goes to stderr. Writes to --out DIR:
  log.jsonl     one line per step, layer and method: step, layer, method, maxVio, minVio, retention,
                retentionOpt (when the LP was solved), dropped and droppedShare (capacityFactor), unrouted
                and perToken (expertchoice, dropping: share of tokens with no expert, tokens with 0..m
                experts), groupMaxVio (--groups or a groups option), routingMs
  summary.md    the summary table;  summary.json  the same numbers;  run.json  the command and configuration
  report.html   MaxVio and retention per step, one line per method (offline, no network needed)

Synthetic streams (seeded; logits = x·W + b, x ~ N(0, I_dim), scores = gate(logits)):
  --stream NAME         skewed (default) | drift | collapse | clustered
${STREAM_KINDS.map((s) => `                          ${s.padEnd(10)} ${STREAM_DOCS[s]}`).join('\n')}
  --n N                 tokens per batch (default ${DEFAULTS.n})
  --m M                 number of experts (default ${DEFAULTS.m})
  --k K                 experts per token, 1 <= K < m (default ${DEFAULTS.k})
  --steps S             batches (default ${DEFAULTS.steps})
  --layers L            independent streams, one per MoE layer (default ${DEFAULTS.layers})
  --gate GATE           softmax (default) | sigmoid
  --seed SEED           integer seed; the same options and seed give the same scores (default ${DEFAULTS.seed})
 Model parameters:
  --dim D               feature dimension of the linear router (default ${D.dim})
  --logit-std X         std of the token-dependent part of each logit (default ${D.logitStd})
  --zipf S              skewed, drift: Zipf exponent of expert popularity, b_j = -S·ln(rank_j) (default ${D.zipf})
  --drift X             drift: random-walk step of W and b per batch (default ${D.drift})
  --dominant D          collapse: number of dominant experts (default ${D.dominant})
  --strength X          collapse: logit bias of the dominant experts (default ${D.strength})
  --clusters C          clustered: number of topic clusters (default ${D.clusters})
  --concentration A     clustered: Dirichlet concentration of each batch's topic mix; small = peaked (default ${D.concentration})
  --spread R            clustered: within-cluster spread of the features, 0..1 (default ${D.spread})

Replay (instead of --stream):
  --replay PATH         a .npy of shape (steps, n, m) or (steps, layers, n, m), or a folder of per-step
                        .npy files of shape (n, m) or (layers, n, m), in natural name order. n, m and
                        layers come from the data; --steps uses only the first S steps.
  --gate GATE           none (default: the values are scores) | softmax | sigmoid (the values are logits)

Methods:
  --methods LIST        specs separated by spaces or ';' (default "${DEFAULT_METHODS.join(' ')}")
  --method SPEC         one spec; repeat to list several (instead of --methods)
                        SPEC = METHOD[-SHORTHAND...][:key=value,...]; as=NAME sets the label in the log and table.
${methodsHelp({ flag: (_e, o) => `${o}=${optionValueName(o)}`, shorthands: true })}
                        e.g. bip-T2   lossfree:rate=0.01,update=linear   bip-T4:order=route-then-update
                        Every method sees identical scores; state is never shared between methods.

Metrics (per step and layer; L = k*n/m, the mean load):
  MaxVio = (max load - L) / L, MinVio = (min load - L) / L; retention = sum of the chosen scores over
  that of plain top-k; retentionOpt = the same over the LP optimum at capacity ceil(L) (an unbalanced
  method can exceed 1). The table adds AvgMaxVio / SupMaxVio (mean / max over steps and layers),
  the final step's MaxVio, and ms/step (route() time summed over layers, mean over steps).
  --optimal WHEN        exact LP optimum per step and layer, for retentionOpt: auto (default: when
                        n*m <= ${OPTIMAL_AUTO_LIMIT}) | on | off. Solved once per step and layer, shared by all methods;
                        it dominates the run time (about 0.5 s per solve at n*m = 65536 here): --optimal off is fast.
  --groups G            also report MaxVio over G groups of m/G experts (devices) for every method
                        (methods with their own groups option report it anyway)
  --threshold X         MaxVio level for "steps to MaxVio<X": the first step from which MaxVio stays
                        below X through the last step, on every layer ('never' if the last step is not) (default ${DEFAULTS.threshold})
  --timing on|off       time each route() call with performance.now() (default on). routingMs is the only
                        value in log.jsonl that differs between runs with the same options and seed; with
                        --timing off it is written as null and log.jsonl is byte-identical across runs.

Sharding (the paper's Algorithm 4; see README "Past one machine"):
  --shards W            also route every batch as W data-parallel shards that exchange only statistics
                        (default 1: off); stops with an error if any token's experts or the state differ
                        from the single-process run; adds bytes/shard/call and collectives/call to the
                        table and shardBytes, shardRounds to log.jsonl (optimal has no sharded form)

Output:
  --out DIR             output folder (default runs/simulate-<stream>-seed<seed>)
  --quiet               no progress output
  -h, --help            this help
`;

type Values = ReturnType<typeof parseFlags<typeof SIMULATE_OPTIONS>>['values'];

const STREAM_FLAGS: [keyof Values, keyof StreamParams][] = [
  ['dim', 'dim'],
  ['logit-std', 'logitStd'],
  ['zipf', 'zipf'],
  ['drift', 'drift'],
  ['dominant', 'dominant'],
  ['strength', 'strength'],
  ['clusters', 'clusters'],
  ['concentration', 'concentration'],
  ['spread', 'spread'],
];

interface Config {
  stream: ScoreStream;
  k: number;
  seed: number | null;
  gate: Gate;
  params: StreamParams | null;
  methods: MethodSpec[];
  optimal: 'auto' | 'on' | 'off';
  threshold: number;
  groups: number | undefined;
  timing: boolean;
  shards: number;
  out: string;
  quiet: boolean;
}

/** Turns the parsed options into a checked configuration (every error here, before any work). */
function configure(values: Values): Config {
  const replay = values.replay;
  const k = intFlag('k', values.k, 1) ?? DEFAULTS.k;
  const steps = intFlag('steps', values.steps, 1);
  const threshold = numberFlag('threshold', values.threshold, (x) => x > 0, 'a number > 0') ?? DEFAULTS.threshold;
  const optimal = choiceFlag('optimal', values.optimal, ['auto', 'on', 'off']) ?? 'auto';
  const timing = (choiceFlag('timing', values.timing, ['on', 'off']) ?? 'on') === 'on';
  if (values.methods !== undefined && values.method !== undefined) throw new CliError('give either --methods or --method, not both');
  const methods = parseMethodList(values.method !== undefined ? values.method.join(';') : (values.methods ?? DEFAULT_METHODS.join(' ')));

  let stream: ScoreStream;
  let gate: Gate;
  let seed: number | null = null;
  let params: StreamParams | null = null;
  if (replay !== undefined) {
    const synthetic = ['stream', 'n', 'm', 'layers', 'seed', ...STREAM_FLAGS.map(([f]) => f)].filter((f) => values[f as keyof Values] !== undefined);
    if (synthetic.length > 0) {
      throw new CliError(`--replay takes n, m and layers from the data; it cannot be combined with ${synthetic.map((f) => `--${f}`).join(', ')}`);
    }
    gate = choiceFlag('gate', values.gate, GATES) ?? 'none';
    stream = replayStream(replay, { steps, gate });
  } else {
    const kind = choiceFlag('stream', values.stream, STREAM_KINDS) ?? 'skewed';
    gate = choiceFlag('gate', values.gate, ['softmax', 'sigmoid']) ?? 'softmax';
    seed = intFlag('seed', values.seed, 0) ?? DEFAULTS.seed;
    params = { ...STREAM_DEFAULTS };
    for (const [flag, key] of STREAM_FLAGS) {
      if (values[flag] === undefined) continue;
      const integer = key === 'dim' || key === 'dominant' || key === 'clusters';
      const raw = values[flag] as string | undefined;
      params[key] = (integer ? intFlag(flag, raw, 1) : numberFlag(flag, raw, (x) => x >= 0, 'a number >= 0')) ?? D[key];
    }
    stream = syntheticStream({
      kind,
      n: intFlag('n', values.n, 1) ?? DEFAULTS.n,
      m: intFlag('m', values.m, 2) ?? DEFAULTS.m,
      steps: steps ?? DEFAULTS.steps,
      layers: intFlag('layers', values.layers, 1) ?? DEFAULTS.layers,
      gate,
      seed,
      ...params,
    });
  }
  if (k >= stream.m) throw new CliError(`--k must be smaller than m = ${stream.m}, got ${k}`);
  const shards = intFlag('shards', values.shards, 1) ?? 1;
  if (shards > stream.n) throw new CliError(`--shards must be at most n = ${stream.n}, got ${shards}`);
  const lpWanted = optimal === 'on' || methods.some((s) => s.method === 'optimal');
  if (lpWanted && stream.n * stream.m > OPTIMAL_MAX_VARIABLES) {
    throw new CliError(`the LP optimum is limited to n*m <= ${OPTIMAL_MAX_VARIABLES} variables, this stream has ${stream.n * stream.m}; use --optimal auto/off and drop 'optimal' from the methods`);
  }
  const defaultOut = join('runs', `simulate-${replay !== undefined ? 'replay' : stream.name}${seed === null ? '' : `-seed${seed}`}`);
  const groups = intFlag('groups', values.groups, 1);
  if (groups !== undefined && stream.m % groups !== 0) throw new CliError(`--groups ${groups} must divide m = ${stream.m}`);
  return { stream, k, seed, gate, params, methods, optimal, threshold, groups, timing, shards, out: values.out ?? defaultOut, quiet: values.quiet ?? false };
}

/** The command line as typed (quoted where needed), recorded in run.json and the report. */
function commandLine(argv: string[]): string {
  const q = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['moe-balance', 'simulate', ...argv.map(q)].join(' ');
}

/** Runs the command; `write` receives what goes to stdout (the help or the summary table). */
export async function run(argv: string[], write: (text: string) => void = (t) => process.stdout.write(t)): Promise<number> {
  const { values } = parseFlags(argv, SIMULATE_OPTIONS);
  if (values.help) {
    write(SIMULATE_HELP);
    return 0;
  }
  const cfg = configure(values);
  checkOutDir(cfg.out);
  const { stream, k, methods } = cfg;
  // Build every balancer once before any work, so a bad method option fails here with a clear message.
  await createMethodBalancers(methods, 1);
  const lp = usesOptimal(stream, cfg.optimal);

  const runInfo: RunInfo = {
    command: commandLine(argv),
    stream: stream.name,
    seed: cfg.seed,
    n: stream.n,
    m: stream.m,
    k,
    steps: stream.steps,
    layers: stream.layers,
    gate: cfg.gate,
    params: cfg.params,
    methods: methods.map((s) => ({ label: s.label, method: s.method, options: s.options })),
    optimal: lp,
    threshold: cfg.threshold,
    ...(cfg.groups !== undefined ? { groups: cfg.groups } : {}),
    timing: cfg.timing,
    shards: cfg.shards,
  };
  const log = (msg: string) => {
    if (!cfg.quiet) process.stderr.write(`${msg}\n`);
  };
  log(
    `simulate: ${stream.name} n=${stream.n} m=${stream.m} k=${k} steps=${stream.steps} layers=${stream.layers} gate=${cfg.gate}` +
      `${cfg.seed === null ? '' : ` seed=${cfg.seed}`} LP=${lp ? 'on' : 'off'}${cfg.shards > 1 ? ` shards=${cfg.shards}` : ''} methods=${methods.map((s) => s.label).join(',')} -> ${cfg.out}`,
  );

  const bar = cfg.quiet
    ? null
    : new cliProgress.SingleBar(
        { stream: process.stderr, noTTYOutput: true, notTTYSchedule: 5000, format: 'simulate [{bar}] {value}/{total} steps | {duration_formatted} elapsed | eta {eta_formatted}' },
        cliProgress.Presets.shades_classic,
      );
  bar?.start(stream.steps, 0);
  let table: string;
  try {
    ({ table } = await simulateIntoFolder(stream, {
      k,
      methods,
      optimal: lp ? 'on' : 'off',
      timing: cfg.timing,
      shards: cfg.shards,
      groups: cfg.groups,
      out: cfg.out,
      info: runInfo,
      threshold: cfg.threshold,
      onStep: (done) => bar?.update(done),
    }));
  } finally {
    bar?.stop();
  }
  write(`${table}\n`);
  log(`wrote ${join(cfg.out, 'log.jsonl')}, summary.md, summary.json, run.json, report.html`);
  return 0;
}
