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
import type { ExactRouteResult } from '../routing/exact.ts';
import { createBalancerAsync } from '../routing/factory.ts';
import { getMethod, METHOD_NAMES, METHODS, methodsHelp, optionFlag, optionValueName, parseMethodSpec, resolveOptions } from '../routing/registry.ts';
import { describeOption, isValidOption, parseOptionText } from '../routing/options.ts';
import { groupMaxVio, maxVio, minVio } from '../routing/metrics.ts';
import { expertsPerToken, pairEnd, pairStart } from '../routing/ragged.ts';
import type { AuxLossResult, BalancerState, RouteResult } from '../routing/types.ts';
import { writeFileAtomic } from '../io/atomicWrite.ts';
import { checkReplaceable, sameFile } from '../io/outputPaths.ts';
import { applyGate } from '../routing/gate.ts';
import { float32Text } from '../io/floatText.ts';
import { readScoreMatrix, ScoreInputError } from '../io/scoreMatrix.ts';
import { CliError } from './errors.ts';
import { choiceFlag, intFlag, parseFlags } from '../util/args.ts';

/** Every method option as a flag of its own (--iters, --seq-len, ...), from the registry. */
const OPTION_FLAGS: Record<string, { type: 'string' }> = Object.fromEntries(
  METHODS.flatMap((e) => Object.keys(e.options).map((o) => [optionFlag(o), { type: 'string' as const }])),
);

export const ROUTE_OPTIONS = {
  method: { type: 'string' },
  k: { type: 'string' },
  input: { type: 'string' },
  'input-kind': { type: 'string' },
  gate: { type: 'string' },
  state: { type: 'string' },
  output: { type: 'string' },
  ...OPTION_FLAGS,
  help: { type: 'boolean', short: 'h' },
} as const;

export const ROUTE_HELP = `Usage: moe-balance route --input FILE [options]

Route one batch of n tokens over m experts and print the routing as JSON.

Input
  --input FILE          n x m router scores (or logits): a 2-D float32/float64 .npy file, or a JSON
                        array of n rows of m numbers; '-' reads standard input. Required.
  --input-kind KIND     scores (default): used as they are; logits: the gate is applied first
  --gate GATE           with --input-kind logits: softmax (default, per row) or sigmoid
  --k K                 experts per token, 1 <= K < m (default 2)

Method
  --method SPEC         ${METHOD_NAMES.join(' | ')} (default bip), or a spec METHOD[:key=value,...] such as
                        bip-T8 or lossfree:rate=0.01; each option is also a flag of its own:
${methodsHelp({ flag: (_e, o) => `--${optionFlag(o)} ${optionValueName(o)}`, shorthands: true })}
  An option of another method is an error.

State and output
  --state FILE          read the balancer state from FILE if it exists, write the new state there
                        (atomically) after routing: chains batches. JSON: ${METHODS.map((e) => `${e.name} {${[e.state, ...(e.extraState ?? [])].filter(Boolean).map((x) => `"${x}": [...]`).join(', ')}}`).join(', ')}.
  --output FILE         where to write the JSON result; '-' or absent: standard output
  -h, --help            this help

Output (JSON)
  method, options (every option's value, defaults included), n, m, k; experts: n arrays of k expert ids (best first); weights: n arrays of k combine
  weights (the chosen scores, renormalised when k > 1); loads: m tokens per expert;
  maxVio, minVio: (max or min load - kn/m) / (kn/m); state: the balancer state after this batch;
  auxLoss (auxloss only); groupMaxVio (with --groups: over the G groups); dropped (with
  --capacity-factor: pairs over capacity); with a capacity factor or expertchoice a token's arrays hold
  0..m entries, plus expertsPerToken: how many tokens got 0, 1, ..., m experts; certificate (exact,
  update-then-route: feasible, worstViolation, objective, dualBound, ok).

Exit status: 0 on success; 2 with a one-line message on bad usage or bad input.`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, ROUTE_OPTIONS);
  if (values.help) {
    console.log(ROUTE_HELP);
    return 0;
  }
  const opt = values as Partial<Record<keyof typeof ROUTE_OPTIONS, string>>;

  const { method, options: balancerOptions } = methodFromArgs(opt);
  const inputKind = choiceFlag('input-kind', opt['input-kind'], ['scores', 'logits']) ?? 'scores';
  if (opt.gate !== undefined && inputKind !== 'logits') throw new CliError('--gate applies only with --input-kind logits');
  const gate = choiceFlag('gate', opt.gate, ['softmax', 'sigmoid']) ?? 'softmax';
  const k = intFlag('k', opt.k, 1) ?? 2;
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
  const scores = inputKind === 'logits' ? applyGate(matrix.data, n, m, gate) : matrix.data; // in place: the logits are not needed again

  const balancer = await createBalancerAsync(method, balancerOptions);
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
  const text = formatResult(method, resolveOptions(method, balancerOptions), result, state, balancerOptions.groups as number | undefined);
  if (opt.output === undefined || opt.output === '-') process.stdout.write(text);
  else writeOrFail(opt.output, text, 'output');
  if (opt.state !== undefined) writeOrFail(opt.state, JSON.stringify(state) + '\n', 'state');
  return 0;
}

/** The method and its options from --method SPEC and the option flags, checked against the registry. */
function methodFromArgs(opt: Partial<Record<string, string>>): { method: string; options: Record<string, unknown> } {
  const spec = parseMethodSpec(opt.method ?? 'bip');
  const entry = getMethod(spec.method);
  const options = { ...spec.options };
  for (const [option, decl] of Object.entries(entry.options)) {
    const flag = optionFlag(option);
    const raw = opt[flag];
    if (raw === undefined) continue;
    if (options[option] !== undefined) throw new CliError(`--${flag} is given twice (in --method ${opt.method} and as a flag)`);
    const v = parseOptionText(decl, raw);
    if (!isValidOption(decl, v)) throw new CliError(`--${flag} must be ${describeOption(decl)}, got '${raw}'`);
    options[option] = v;
  }
  for (const flag of Object.keys(OPTION_FLAGS)) {
    if (opt[flag] !== undefined && !Object.keys(entry.options).some((o) => optionFlag(o) === flag)) {
      const owners = METHODS.filter((e) => Object.keys(e.options).some((o) => optionFlag(o) === flag)).map((e) => e.name);
      throw new CliError(`--${flag} is an option of method${owners.length > 1 ? 's' : ''} ${owners.join(' and ')}, not of ${entry.name}`);
    }
  }
  resolveOptions(entry.name, options);
  return { method: entry.name, options };
}

/**
 * Reads a state file. Its keys and values are the balancer's to check (setState: the same rule as for
 * any caller; its message gets the file's name); this adds the one thing only the command knows, m.
 */
function readState(path: string, method: string, m: number): BalancerState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CliError(`state file ${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CliError(`state file ${path}: expected a JSON object`);
  const key = getMethod(method).state;
  const v = key ? (parsed as Record<string, unknown>)[key] : undefined;
  if (Array.isArray(v) && v.length !== m) throw new CliError(`state file ${path}: "${key}" has ${v.length} values but the input has m = ${m} experts`);
  return parsed as BalancerState;
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

/** The result as JSON: small fields first, then one line per token. */
function formatResult(method: string, options: Record<string, unknown>, r: RouteResult, state: BalancerState, groups: number | undefined): string {
  const { n, m, k } = r;
  const lines = [
    `  "method": ${JSON.stringify(method)}`,
    `  "options": ${JSON.stringify(options)}`,
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
