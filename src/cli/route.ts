/**
 * `moe-balance route`: route one batch of router scores with a balancer and print the routing as JSON.
 *
 *   moe-balance route --method bip --k 2 --iters 4 --input scores.npy --state state.json --output out.json
 *   moe-balance route --method lossfree --k 2 --input logits.npy --input-kind logits --gate softmax
 *
 * With --state the balancer's state (bip q, lossfree b, quantile beta) is read from the file when it
 * exists and the new state is written back atomically, so that successive batches can be chained.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ExactRouteResult } from '../routing/exact.ts';
import { createBalancer } from '../routing/factory.ts';
import { groupMaxVio, maxVio, minVio } from '../routing/metrics.ts';
import { expertsPerToken, pairEnd, pairStart } from '../routing/ragged.ts';
import { METHOD_NAMES, type AuxLossResult, type Balancer, type BalancerState, type MethodName, type RouteResult } from '../routing/types.ts';
import { writeFileAtomic } from '../io/atomicWrite.ts';
import { checkReplaceable, sameFile } from '../io/outputPaths.ts';
import { applyGate as applyGateInPlace } from '../simulate/gate.ts';
import { float32Text } from '../io/floatText.ts';
import { readScoreMatrix, ScoreInputError } from '../io/scoreMatrix.ts';
import { CliError } from './errors.ts';

export const ROUTE_OPTIONS = {
  method: { type: 'string' },
  k: { type: 'string' },
  input: { type: 'string' },
  'input-kind': { type: 'string' },
  gate: { type: 'string' },
  state: { type: 'string' },
  output: { type: 'string' },
  iters: { type: 'string' },
  truncate: { type: 'string' },
  order: { type: 'string' },
  rate: { type: 'string' },
  update: { type: 'string' },
  bins: { type: 'string' },
  range: { type: 'string' },
  alpha: { type: 'string' },
  form: { type: 'string' },
  'seq-len': { type: 'string' },
  'warm-iters': { type: 'string' },
  scale: { type: 'string' },
  group: { type: 'string' },
  tau: { type: 'string' },
  tol: { type: 'string' },
  'capacity-factor': { type: 'string' },
  'drop-policy': { type: 'string' },
  groups: { type: 'string' },
  'topk-groups': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The options that only one method takes; giving one to another method is an error. */
const METHOD_OPTIONS: Record<MethodName, readonly string[]> = {
  topk: ['groups', 'topk-groups'],
  bip: ['iters', 'truncate', 'order', 'groups', 'topk-groups'],
  lossfree: ['rate', 'update', 'groups', 'topk-groups'],
  quantile: ['bins', 'range'],
  auxloss: ['alpha', 'form', 'seq-len'],
  online: ['rate', 'scale', 'truncate', 'group'],
  optimal: [],
  sinkhorn: ['iters', 'tau', 'tol'],
  expertchoice: [],
  exact: ['order', 'warm-iters'],
};

/** The state key each stateful method keeps (one number per expert). */
const STATE_KEY: Partial<Record<MethodName, string>> = { bip: 'q', lossfree: 'b', quantile: 'beta', online: 'q', exact: 'q' };

/** Further state keys a method may keep (checked by the balancer's setState): online's running spread. */
const EXTRA_STATE_KEYS: Partial<Record<MethodName, readonly string[]>> = { online: ['spread'] };

export const ROUTE_HELP = `Usage: moe-balance route --input FILE [options]

Route one batch of n tokens over m experts and print the routing as JSON.

Input
  --input FILE          n x m router scores (or logits): a 2-D float32/float64 .npy file, or a JSON
                        array of n rows of m numbers; '-' reads standard input. Required.
  --input-kind KIND     scores (default): used as they are; logits: the gate is applied first
  --gate GATE           with --input-kind logits: softmax (default, per row) or sigmoid
  --k K                 experts per token, 1 <= K < m (default 2)

Method
  --method METHOD       topk | bip | lossfree | quantile | auxloss | online | sinkhorn | expertchoice | optimal
                        (default bip)
  --method METHOD       topk | bip | lossfree | quantile | auxloss | online | exact | optimal (default bip)
  bip (BIP-Based Balancing, Sun 2025):
    --iters T           dual iterations per batch (default 4)
    --truncate MODE     true (default): p, q >= 0 as in the paper; q: q >= 0 only (p free: the dual
                        of routing every token to exactly k experts; no warm-start drift); false: none
    --order ORDER       update-then-route (default, the paper's) | route-then-update (causal)
  lossfree (Loss-Free Balancing, Wang et al. 2024):
    --rate U            bias update rate u (default 0.001)
    --update RULE       sign (default): b += u*sign(mean - load); linear: b += u*(mean - load), loads as fractions
  quantile (Quantile Balancing, Su 2026):
    --bins B            0 (default): exact quantiles; B > 0: histogram with B bins
    --range LO,HI       histogram range of the required bias, with --bins (default -2,2)
  auxloss (auxiliary loss; plain top-k, plus the loss value):
    --alpha A           loss weight (default 0.1)
    --form FORM         global (default) | sequence (per sequence, then averaged)
    --seq-len L         tokens per sequence, with --form sequence (n must be a multiple of L)
  online (online BIP: token by token, causal, O(m) state):
    --rate R            step: eta = R x the running score spread (default 0.1), or eta = R with --scale none
    --scale MODE        spread (default) | none
    --truncate BOOL     true (default): q >= 0; false: none
    --group B           tokens routed with one q before the summed update (default 1: strictly online)
  sinkhorn (S-BASE, Clark et al. 2022; Megatron's sinkhorn router): top-k of the Sinkhorn-normalised
  exp(log s / tau), rows summing to k and columns to kn/m; weights from the original scores:
    --iters T           maximum iterations, one row and one column pass each (default 100)
    --tau X             temperature (default 1)
    --tol X             stop when every column sum is within X (relative) of kn/m (default 1e-4)
  expertchoice (Zhou et al. 2022): each expert takes its top ceil(F*k*n/m) tokens (F = --capacity-factor,
    default 1); a token gets 0..m experts, weights are its raw scores. Nothing is dropped.
  topk, lossfree, bip: group-limited routing (DeepSeek-V3's n_group / topk_group):
    --groups G          experts in G groups of m/G (devices); each token first keeps its best groups
    --topk-groups T     groups per token (group score = sum of the token's top-2 scores in the group)
  any method but optimal: capacity with dropping (Switch, GShard, Megatron):
    --capacity-factor F at most ceil(F*k*n/m) tokens per expert; the other pairs are dropped
    --drop-policy P     score (default: keep the highest scores) | position (keep the first tokens)
  topk (no balancing) and optimal (exact LP optimum, HiGHS) take no options of their own.
  exact (the LP optimum, no expert over c = ceil(kn/m), with a dual certificate; src/routing/exact.ts):
    --warm-iters T      BIP dual iterations before the exact repair (default 0: the state's q alone)
    --order ORDER       update-then-route (default) | route-then-update (causal: routed with the previous q)
  topk (no balancing) and optimal (exact LP optimum, HiGHS) take no options.
  An option of another method is an error.

State and output
  --state FILE          read the balancer state from FILE if it exists, write the new state there
                        (atomically) after routing: chains batches. JSON: bip {"q": [m]},
                        lossfree {"b": [m]}, quantile {"beta": [m]}, exact {"q": [m]}, online {"q": [m], "spread": [s]},
                        other methods {}.
  --output FILE         where to write the JSON result; '-' or absent: standard output
  -h, --help            this help

Output (JSON)
  method, n, m, k; experts: n arrays of k expert ids (best first); weights: n arrays of k combine
  weights (the chosen scores, renormalised when k > 1); loads: m tokens per expert;
  maxVio, minVio: (max or min load - kn/m) / (kn/m); state: the balancer state after this batch;
  auxLoss (auxloss only); groupMaxVio (with --groups: over the G groups); dropped (with
  --capacity-factor: pairs over capacity); with a capacity factor or expertchoice a token's arrays hold
  0..m entries, plus expertsPerToken: how many tokens got 0, 1, ..., m experts.
  auxLoss (auxloss only); certificate (exact, update-then-route: feasible, worstViolation,
  objective, dualBound, ok).

Exit status: 0 on success; 2 with a one-line message on bad usage or bad input.`;

export async function run(argv: string[]): Promise<number> {
  let values: Partial<Record<keyof typeof ROUTE_OPTIONS, string | boolean>>;
  try {
    ({ values } = parseArgs({ args: argv, options: ROUTE_OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  if (values.help) {
    console.log(ROUTE_HELP);
    return 0;
  }
  const opt = values as Partial<Record<keyof typeof ROUTE_OPTIONS, string>>;

  const method = (opt.method ?? 'bip') as MethodName;
  if (!METHOD_NAMES.includes(method)) throw new CliError(`unknown method '${opt.method}' (methods: ${METHOD_NAMES.join(', ')})`);
  for (const name of new Set(Object.values(METHOD_OPTIONS).flat())) {
    if (opt[name as keyof typeof opt] === undefined || METHOD_OPTIONS[method].includes(name)) continue;
    const owners = METHOD_NAMES.filter((x) => METHOD_OPTIONS[x].includes(name));
    throw new CliError(`--${name} is an option of method ${owners.join(' and ')}, not of ${method}`);
  }
  const inputKind = choice(opt['input-kind'], 'input-kind', ['scores', 'logits'], 'scores');
  if (opt.gate !== undefined && inputKind !== 'logits') throw new CliError('--gate applies only with --input-kind logits');
  const gate = choice(opt.gate, 'gate', ['softmax', 'sigmoid'], 'softmax');
  const k = integer(opt.k, 'k', 1) ?? 2;
  const balancerOptions = methodOptions(method, opt);
  if (opt.input === undefined) throw new CliError('--input FILE is required (see --help)');
  if (opt.state === '-') throw new CliError('--state needs a file name');
  checkTargets(opt.input, opt.state, opt.output);

  const matrix = (() => {
    try {
      return readScoreMatrix(opt.input);
    } catch (err) {
      if (err instanceof ScoreInputError) throw new CliError(err.message);
      throw err;
    }
  })();
  const { n, m } = matrix;
  if (k >= m) throw new CliError(`--k ${k} must be smaller than the number of experts m = ${m} (the input has ${m} columns)`);
  const scores = inputKind === 'logits' ? applyGate(matrix.data, n, m, gate) : matrix.data;

  const balancer = await makeBalancer(method, balancerOptions);
  if (opt.state !== undefined && existsSync(opt.state)) {
    try {
      balancer.setState(readState(opt.state, method, m));
    } catch (err) {
      if (err instanceof Error && err.name === 'InputError') throw new CliError(`state file ${opt.state}: ${err.message}`);
      throw err;
    }
  }

  const result = balancer.route(scores, n, m, k);
  const state = balancer.getState();

  // Output first, state last: if the output cannot be written the state has not moved on, so the
  // same command can simply be run again.
  const text = formatResult(method, result, state, balancerOptions.groups as number | undefined);
  if (opt.output === undefined || opt.output === '-') process.stdout.write(text);
  else writeOrFail(opt.output, text, 'output');
  if (opt.state !== undefined) writeOrFail(opt.state, JSON.stringify(state) + '\n', 'state');
  return 0;
}

async function makeBalancer(method: MethodName, options: Record<string, unknown>): Promise<Balancer> {
  if (method !== 'optimal') return createBalancer(method, options);
  // Loaded only when asked for: it brings up the HiGHS wasm solver.
  const { createOptimalBalancer } = await import('../routing/optimal.ts');
  return createOptimalBalancer();
}

function methodOptions(method: MethodName, opt: Partial<Record<string, string>>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const set = (key: string, v: unknown): void => {
    if (v !== undefined) o[key] = v;
  };
  if (method === 'bip') {
    set('iters', integer(opt.iters, 'iters', 0));
    set('truncate', opt.truncate === undefined ? undefined : opt.truncate === 'q' ? 'q' : boolean(opt.truncate, 'truncate', ', false or q'));
    set('order', opt.order === undefined ? undefined : choice(opt.order, 'order', ['update-then-route', 'route-then-update'], ''));
  } else if (method === 'exact') {
    set('warmIters', integer(opt['warm-iters'], 'warm-iters', 0));
    set('order', opt.order === undefined ? undefined : choice(opt.order, 'order', ['update-then-route', 'route-then-update'], ''));
  } else if (method === 'lossfree') {
    set('rate', positive(opt.rate, 'rate'));
    set('update', opt.update === undefined ? undefined : choice(opt.update, 'update', ['sign', 'linear'], ''));
  } else if (method === 'online') {
    set('rate', positive(opt.rate, 'rate'));
    set('scale', opt.scale === undefined ? undefined : choice(opt.scale, 'scale', ['spread', 'none'], ''));
    set('truncate', boolean(opt.truncate, 'truncate'));
    set('group', integer(opt.group, 'group', 1));
  } else if (method === 'sinkhorn') {
    set('iters', integer(opt.iters, 'iters', 1));
    set('tau', positive(opt.tau, 'tau'));
    set('tol', positive(opt.tol, 'tol'));
  } else if (method === 'quantile') {
    set('bins', integer(opt.bins, 'bins', 0));
    if (opt.range !== undefined) {
      const parts = opt.range.split(',').map((s) => Number(s.trim()));
      if (parts.length !== 2 || !parts.every(Number.isFinite) || !(parts[0] < parts[1])) {
        throw new CliError(`--range must be LO,HI with LO < HI, got '${opt.range}'`);
      }
      if (opt.bins === undefined || Number(opt.bins) === 0) throw new CliError('--range applies only with --bins B > 0');
      set('range', parts);
    }
  } else if (method === 'auxloss') {
    if (opt.alpha !== undefined) {
      const a = Number(opt.alpha);
      if (opt.alpha.trim() === '' || !Number.isFinite(a) || a < 0) throw new CliError(`--alpha must be a number >= 0, got '${opt.alpha}'`);
      set('alpha', a);
    }
    const form = opt.form === undefined ? undefined : choice(opt.form, 'form', ['global', 'sequence'], '');
    set('form', form);
    set('seqLen', integer(opt['seq-len'], 'seq-len', 1));
    if (form === 'sequence' && opt['seq-len'] === undefined) throw new CliError('--form sequence needs --seq-len L');
    if (form !== 'sequence' && opt['seq-len'] !== undefined) throw new CliError('--seq-len applies only with --form sequence');
  }
  // Options of any method (the routing core checks which methods take them).
  set('capacityFactor', positive(opt['capacity-factor'], 'capacity-factor'));
  set('dropPolicy', opt['drop-policy'] === undefined ? undefined : choice(opt['drop-policy'], 'drop-policy', ['score', 'position'], ''));
  set('groups', integer(opt.groups, 'groups', 1));
  set('topkGroups', integer(opt['topk-groups'], 'topk-groups', 1));
  return o;
}

/** Reads and checks a state file before the balancer sees it, so the message can name the file. */
function readState(path: string, method: MethodName, m: number): BalancerState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CliError(`state file ${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CliError(`state file ${path}: expected a JSON object`);
  const want = STATE_KEY[method];
  const extra = EXTRA_STATE_KEYS[method] ?? [];
  const keys = Object.keys(parsed).filter((x) => !extra.includes(x));
  if (want === undefined) {
    if (keys.length > 0) throw new CliError(`state file ${path}: method ${method} keeps no state, but the file has ${keys.map((x) => `'${x}'`).join(', ')}`);
    return {};
  }
  if (keys.length !== 1 || keys[0] !== want) {
    throw new CliError(`state file ${path}: method ${method} expects {"${want}": [${m} numbers]}, the file has keys ${keys.map((x) => `'${x}'`).join(', ') || '(none)'}`);
  }
  const v: unknown = (parsed as Record<string, unknown>)[want];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new CliError(`state file ${path}: "${want}" must be an array of finite numbers`);
  }
  if (v.length !== m) throw new CliError(`state file ${path}: "${want}" has ${v.length} values but the input has m = ${m} experts`);
  const state: BalancerState = { [want]: v as number[] };
  for (const x of extra) if (x in parsed) state[x] = (parsed as Record<string, number[]>)[x];
  return state;
}

/** Before anything is read or written: no two of input, state and output are one file, and no write replaces a non-file. */
function checkTargets(input: string, state: string | undefined, output: string | undefined): void {
  const named = { input: input === '-' ? undefined : input, state, output: output === '-' ? undefined : output };
  for (const [a, b] of [['output', 'input'], ['output', 'state'], ['state', 'input']] as const) {
    const pa = named[a];
    const pb = named[b];
    if (pa !== undefined && pb !== undefined && sameFile(pa, pb)) {
      throw new CliError(`--${a} ${pa} and --${b} ${pb} are the same file; writing the ${a} would destroy the ${b}`);
    }
  }
  try {
    for (const p of [named.output, named.state]) if (p !== undefined) checkReplaceable(p);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

function writeOrFail(path: string, text: string, what: string): void {
  try {
    writeFileAtomic(path, text);
  } catch (err) {
    throw new CliError(`cannot write the ${what} file ${path}: ${(err as Error).message}`);
  }
}

/** Scores from logits (a new array; the logits are left as they are): the shared gate of src/simulate/gate.ts. */
export function applyGate(logits: Float32Array, n: number, m: number, gate: string): Float32Array {
  return applyGateInPlace(logits.slice(), n, m, gate === 'sigmoid' ? 'sigmoid' : 'softmax');
}

/** The result as JSON: small fields first, then one line per token. */
function formatResult(method: MethodName, r: RouteResult, state: BalancerState, groups: number | undefined): string {
  const { n, m, k } = r;
  const lines = [
    `  "method": ${JSON.stringify(method)}`,
    `  "n": ${n}`,
    `  "m": ${m}`,
    `  "k": ${k}`,
    `  "maxVio": ${JSON.stringify(maxVio(r.loads, n, k))}`,
    `  "minVio": ${JSON.stringify(minVio(r.loads, n, k))}`,
  ];
  if (method === 'auxloss') lines.push(`  "auxLoss": ${JSON.stringify((r as AuxLossResult).auxLoss)}`);
  if (groups !== undefined) lines.push(`  "groupMaxVio": ${JSON.stringify(groupMaxVio(r.loads, groups, n, k))}`);
  if (r.dropped !== undefined) lines.push(`  "dropped": ${r.dropped}`);
  if (r.offsets) lines.push(`  "expertsPerToken": [${Array.from(expertsPerToken(r)).join(', ')}]`);
  const cert = (r as Partial<ExactRouteResult>).certificate;
  if (cert !== undefined) lines.push(`  "certificate": ${JSON.stringify(cert)}`);
  lines.push(`  "loads": [${Array.from(r.loads).join(', ')}]`);
  lines.push(`  "state": ${JSON.stringify(state)}`);
  const rows = (f: (x: number) => string, a: ArrayLike<number>): string => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const cells: string[] = [];
      for (let x = pairStart(r, i); x < pairEnd(r, i); x++) cells.push(f(a[x]));
      out.push(`    [${cells.join(', ')}]`);
    }
    return `[\n${out.join(',\n')}\n  ]`;
  };
  lines.push(`  "experts": ${rows(String, r.experts)}`);
  lines.push(`  "weights": ${rows(float32Text, r.weights)}`);
  return `{\n${lines.join(',\n')}\n}\n`;
}

function choice(v: string | undefined, name: string, allowed: string[], dflt: string): string {
  if (v === undefined) return dflt;
  if (!allowed.includes(v)) throw new CliError(`--${name} must be one of ${allowed.join(', ')}; got '${v}'`);
  return v;
}

function integer(v: string | undefined, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
    throw new CliError(`--${name} must be an integer >= ${min}, got '${v}'`);
  }
  return Number(v);
}

function positive(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || x <= 0) throw new CliError(`--${name} must be a number > 0, got '${v}'`);
  return x;
}

function boolean(v: string | undefined, name: string, others = ' or false'): boolean | undefined {
  if (v === undefined) return undefined;
  if (v !== 'true' && v !== 'false') throw new CliError(`--${name} must be true${others}, got '${v}'`);
  return v === 'true';
}
