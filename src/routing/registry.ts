/**
 * The method registry: the one place that names each balancer method, declares its options (type,
 * default, range or values, one-line doc) and builds it. createBalancer, the method-spec grammar, the
 * `route` flags, the training config keys, simulate/compare/bench and every --help text derive from
 * METHODS. Adding a method is one entry here.
 *
 * Method spec grammar (simulate --methods, compare --methods, train --method, route --method):
 *
 *   spec      := method shorthand* [':' option (',' option)*]     e.g. lossfree:rate=0.01,update=linear
 *   shorthand := '-' word                                        bip-T8 = bip:iters=8,
 *                                                                 bip-T8-notrunc = bip:iters=8,truncate=false
 *   option    := key '=' value | 'as=' label                     values as parseOptionText reads them
 *
 * A spec's label (the name in logs, summaries and run folders) is its canonical form: the method, its
 * shorthands, then the other options in declaration order, so `bip:iters=8` and `bip-T8` are the same
 * label; `as=NAME` sets it explicitly.
 *
 * Import note: the balancer classes call resolveOptions from here and this module builds them; the
 * cycle is safe because each side only uses the other inside functions, never while loading.
 */
import { AuxLossBalancer } from './auxLoss.ts';
import { BipBalancer } from './bip.ts';
import { CapacityBalancer, type DropPolicy } from './capacityFactor.ts';
import { InputError } from './errors.ts';
import { ExactBalancer } from './exact.ts';
import { GroupExactBalancer } from './exactGroups.ts';
import { ExpertChoiceBalancer } from './expertChoice.ts';
import { GroupLimitedBalancer, type GroupMethod } from './groupLimited.ts';
import { LossFreeBalancer } from './lossFree.ts';
import { OnlineBalancer } from './online.ts';
import { describeOption, formatOptionValue, parseOptionText, resolveDeclared, type OptionDecl, type OptionDecls } from './options.ts';
import { QuantileBalancer } from './quantile.ts';
import { SinkhornBalancer } from './sinkhorn.ts';
import { TopKBalancer } from './topk.ts';
import { KERNEL_CHOICES } from './wasm/choice.ts';
import type { Balancer } from './types.ts';

/** A short form inside a spec's head: `-T8` (a prefix and an option's value) or `-notrunc` (a word that sets options). */
export type Shorthand = { prefix: string; option: string; doc: string } | { word: string; sets: Readonly<Record<string, unknown>>; doc: string };

export interface MethodEntry {
  readonly name: string;
  /** One line: what the method is, and its source. */
  readonly summary: string;
  readonly options: OptionDecls;
  /** The key of the state vector (one number per expert) in getState(), or null for a stateless method. */
  readonly state: string | null;
  /** Further state keys the balancer's setState checks itself (online's running spread). */
  readonly extraState?: readonly string[];
  /** Whether `train` (and so `compare`) can use it in a model. */
  readonly trainable: boolean;
  /** Prefix of its training config keys (default: the name): bipIters, auxAlpha, ... */
  readonly configPrefix?: string;
  /** Option values that the trainer takes from its own config (e.g. auxloss seqLen = the model's seqLen). */
  readonly fromTrainConfig?: Readonly<Record<string, string>>;
  readonly shorthands?: readonly Shorthand[];
  /** Cross-option rules that `needs` cannot say; throws InputError. */
  readonly check?: (o: Record<string, unknown>) => void;
  /** When set, the method must be built asynchronously (createBalancerAsync); the text says why. */
  readonly asyncOnly?: string;
  readonly create: (options: Record<string, unknown>) => Balancer | Promise<Balancer>;
}

/** Which implementation runs the hot loops (wasm/choice.ts): an option of topk, bip, lossfree and quantile. */
const KERNEL_OPTIONS: OptionDecls = {
  kernels: {
    configKey: 'kernels',
    type: 'choice',
    default: 'auto',
    values: KERNEL_CHOICES,
    doc: 'auto: the WebAssembly SIMD kernels where they run, else TypeScript (MOE_BALANCE_KERNELS overrides); wasm; typescript',
  },
};

/** Capacity with dropping (capacityFactor.ts): an option of every method but expertchoice and optimal. */
const CAPACITY_OPTIONS: OptionDecls = {
  capacityFactor: { configKey: 'capacityFactor', type: 'number', default: undefined, gt: 0, max: 1e6, example: 1.25, doc: 'capacity per expert = factor * kn/m; pairs over it are dropped' },
  dropPolicy: {
    configKey: 'dropPolicy',
    type: 'choice',
    default: 'score',
    values: ['score', 'position'],
    doc: 'which pairs go over capacity: the lowest scores, or the latest tokens',
    needs: { option: 'capacityFactor', test: (v) => v !== undefined, text: 'capacityFactor', example: 1.25 },
  },
};

/** Group-limited routing (groupLimited.ts; exactGroups.ts for exact): an option of topk, lossfree, bip and exact. */
const GROUP_OPTIONS: OptionDecls = {
  groups: {
    configKey: 'groups',
    type: 'int',
    default: undefined,
    min: 1,
    example: 2,
    doc: 'G expert groups (devices), dividing m',
    needs: { option: 'topkGroups', test: (v) => v !== undefined, text: 'topkGroups', example: 1 },
  },
  topkGroups: {
    configKey: 'topkGroups',
    type: 'int',
    default: undefined,
    min: 1,
    example: 1,
    doc: 'groups each token may use, 1..G',
    needs: { option: 'groups', test: (v) => v !== undefined, text: 'groups', example: 2 },
  },
};

/** METHOD-cf1.25 = METHOD:capacityFactor=1.25 (topk-cf1.25 is the Switch/GShard baseline). */
const CF: Shorthand = { prefix: 'cf', option: 'capacityFactor', doc: 'METHOD-cf1.25 = METHOD:capacityFactor=1.25' };

const checkGroups = (method: string) => (o: Record<string, unknown>) => {
  if (o.groups !== undefined && (o.topkGroups as number) > (o.groups as number)) {
    throw new InputError(`option 'topkGroups' of '${method}' must be an integer from 1 to groups=${String(o.groups)}, got ${String(o.topkGroups)}`);
  }
};

const EXTENSION_KEYS = [...Object.keys(CAPACITY_OPTIONS), ...Object.keys(GROUP_OPTIONS)];

/**
 * A method's balancer with the extensions its options ask for: group-limited routing in place of the
 * plain balancer, then capacity dropping around it. `plain` gets the method's own options only.
 */
function build(method: string, given: Record<string, unknown>, plain: (own: Record<string, unknown>) => Balancer): Balancer {
  const o = resolveOptions(method, given);
  const own = Object.fromEntries(Object.entries(given).filter(([key]) => !EXTENSION_KEYS.includes(key)));
  const inner =
    o.groups === undefined
      ? plain(own)
      : method === 'exact'
        ? new GroupExactBalancer(own, o.groups as number, o.topkGroups as number)
        : new GroupLimitedBalancer(method as GroupMethod, own, o.groups as number, o.topkGroups as number);
  return o.capacityFactor !== undefined ? new CapacityBalancer(inner, o.capacityFactor as number, o.dropPolicy as DropPolicy) : inner;
}

export const METHODS: readonly MethodEntry[] = [
  {
    name: 'topk',
    summary: 'plain top-k routing, no balancing (the baseline)',
    options: { ...KERNEL_OPTIONS, ...GROUP_OPTIONS, ...CAPACITY_OPTIONS },
    state: null,
    trainable: true,
    check: checkGroups('topk'),
    shorthands: [CF],
    create: (o) => build('topk', o, (own) => new TopKBalancer(own)),
  },
  {
    name: 'bip',
    summary: 'BIP-Based Balancing (Sun 2025, Algorithm 1): T dual iterations per batch, then top-k of s - q',
    options: {
      iters: { type: 'int', default: 4, min: 0, max: 10000, doc: 'dual iterations per batch, T' },
      truncate: {
        type: 'choice',
        default: true,
        values: [true, false, 'q'],
        doc: "true: p, q >= 0 (the paper's); q: q >= 0 only (no warm-start drift); false: none",
      },
      order: {
        type: 'choice',
        default: 'update-then-route',
        values: ['update-then-route', 'route-then-update'],
        doc: "update-then-route (the paper's) or route-then-update (causal)",
      },
      ...KERNEL_OPTIONS,
      ...GROUP_OPTIONS,
      ...CAPACITY_OPTIONS,
    },
    state: 'q',
    trainable: true,
    shorthands: [
      { prefix: 'T', option: 'iters', doc: 'bip-T8 = bip:iters=8' },
      { word: 'notrunc', sets: { truncate: false }, doc: 'bip-notrunc = bip:truncate=false' },
      { word: 'causal', sets: { order: 'route-then-update' }, doc: 'bip-causal = bip:order=route-then-update' },
      CF,
    ],
    check: checkGroups('bip'),
    create: (o) => build('bip', o, (own) => new BipBalancer(own)),
  },
  {
    name: 'lossfree',
    summary: 'Loss-Free Balancing (Wang et al. 2024): top-k of s + b, b moved towards balance after each batch',
    options: {
      // >= 0 everywhere: u = 0 keeps b fixed (a frozen bias), which is a valid ablation.
      rate: { type: 'number', default: 0.001, min: 0, doc: 'bias update rate u' },
      update: {
        type: 'choice',
        default: 'sign',
        values: ['sign', 'linear'],
        doc: 'sign: b += u*sign(mean - load); linear: b += u*(mean - load), loads as fractions',
      },
      ...KERNEL_OPTIONS,
      ...GROUP_OPTIONS,
      ...CAPACITY_OPTIONS,
    },
    state: 'b',
    trainable: true,
    check: checkGroups('lossfree'),
    // The paper's u = 0.001; lossfree-u0.01 puts a coefficient ablation beside it in one compare.
    shorthands: [{ prefix: 'u', option: 'rate', doc: 'lossfree-u0.01 = lossfree:rate=0.01' }, CF],
    create: (o) => build('lossfree', o, (own) => new LossFreeBalancer(own)),
  },
  {
    name: 'quantile',
    summary: 'Quantile Balancing (Su 2026): route with the previous beta, then one untruncated iteration',
    options: {
      bins: { type: 'int', default: 0, min: 0, max: 1 << 20, doc: '0: exact quantiles; B > 0: histogram with B bins' },
      range: {
        type: 'pair',
        default: [-2, 2],
        doc: 'histogram range of the required bias',
        needs: { option: 'bins', test: (v) => typeof v === 'number' && v > 0, text: 'bins > 0', example: 64 },
      },
      ...KERNEL_OPTIONS,
      ...CAPACITY_OPTIONS,
    },
    state: 'beta',
    trainable: true,
    shorthands: [CF],
    create: (o) => build('quantile', o, (own) => new QuantileBalancer(own)),
  },
  {
    name: 'auxloss',
    summary: 'auxiliary loss (Loss-Controlled): plain top-k plus alpha * sum_j f_j * P_j',
    options: {
      alpha: { type: 'number', default: 0.1, min: 0, doc: 'loss weight alpha' },
      form: { type: 'choice', default: 'global', values: ['global', 'sequence'], doc: 'global, or sequence (per sequence, then averaged)' },
      seqLen: {
        type: 'int',
        default: undefined,
        min: 1,
        example: 4,
        doc: 'tokens per sequence (n must be a multiple)',
        needs: { option: 'form', test: (v) => v === 'sequence', text: 'form=sequence', example: 'sequence' },
      },
      ...CAPACITY_OPTIONS,
    },
    state: null,
    trainable: true,
    configPrefix: 'aux',
    fromTrainConfig: { seqLen: 'seqLen' },
    check: (o) => {
      if (o.form === 'sequence' && o.seqLen === undefined) throw new InputError(`auxloss: form 'sequence' needs option 'seqLen'`);
    },
    // alpha = 0.1 is the usual weight; auxloss-a0.01 puts a coefficient ablation beside it in one compare.
    shorthands: [{ prefix: 'a', option: 'alpha', doc: 'auxloss-a0.01 = auxloss:alpha=0.01' }, CF],
    create: (o) => build('auxloss', o, (own) => new AuxLossBalancer(own)),
  },
  {
    name: 'sinkhorn',
    summary: 'Sinkhorn balancing (S-BASE, Clark et al. 2022): a balanced transport plan of the scores, then top-k of the plan',
    options: {
      iters: { type: 'int', default: 100, min: 1, max: 100000, doc: 'Sinkhorn iterations at most' },
      tau: { type: 'number', default: 1, min: 1e-3, max: 1e3, doc: 'temperature of the plan' },
      tol: { type: 'number', default: 1e-4, min: 0, doc: 'stop when the column sums are within tol of balance' },
      ...CAPACITY_OPTIONS,
    },
    state: null,
    trainable: true,
    shorthands: [CF],
    create: (o) => build('sinkhorn', o, (own) => new SinkhornBalancer(own)),
  },
  {
    name: 'expertchoice',
    summary: 'Expert Choice (Zhou et al. 2022): each expert takes its top-c tokens; a token gets 0..m experts',
    options: {
      capacityFactor: { configKey: 'capacityFactor', type: 'number', default: 1, gt: 0, max: 1e6, doc: 'capacity per expert c = factor * kn/m' },
    },
    state: null,
    trainable: true,
    create: (o) => new ExpertChoiceBalancer(o),
  },
  {
    name: 'online',
    summary: 'online BIP (algorithms.md 2b): token by token, a causal dual step on q, O(m) state',
    options: {
      // 0.1 = ONLINE_DEFAULT_RATE of online.ts, written out: this table is read while online.ts may still be loading.
      rate: { type: 'number', default: 0.1, min: 0, doc: 'step: eta = rate x the running score spread (or eta = rate with scale=none)' },
      scale: { type: 'choice', default: 'spread', values: ['spread', 'none'], doc: 'spread: the step scales with the running score spread; none: it does not' },
      truncate: { type: 'choice', default: true, values: [true, false], doc: 'true: q >= 0; false: none' },
      group: { type: 'int', default: 1, min: 1, doc: 'tokens routed with one q before the summed update (1: strictly online)' },
      ...CAPACITY_OPTIONS,
    },
    state: 'q',
    extraState: ['spread'],
    trainable: true,
    shorthands: [CF],
    create: (o) => build('online', o, (own) => new OnlineBalancer(own)),
  },
  {
    name: 'exact',
    summary: 'certified-optimal routing: the LP optimum with no expert over c, by eviction rounds and shortest paths',
    options: {
      warmIters: { type: 'int', default: 0, min: 0, max: 10000, doc: 'BIP dual iterations on the batch before the repair (0: the previous q alone)' },
      order: {
        type: 'choice',
        default: 'update-then-route',
        values: ['update-then-route', 'route-then-update'],
        doc: "update-then-route (the batch's own optimum) or route-then-update (causal)",
      },
      ...GROUP_OPTIONS,
      ...CAPACITY_OPTIONS,
    },
    state: 'q',
    // With groups: the group level's duals too (exactGroups.ts).
    extraState: ['qGroups'],
    trainable: true,
    check: checkGroups('exact'),
    shorthands: [CF],
    create: (o) => build('exact', o, (own) => new ExactBalancer(own)),
  },
  {
    name: 'optimal',
    summary: 'the exact BIP optimum as an LP (HiGHS); n*m <= 1,000,000',
    options: {},
    state: null,
    trainable: false,
    asyncOnly: "method 'optimal' needs the LP solver: use 'await createOptimalBalancer()' or createBalancerAsync",
    // Loaded only when asked for: it brings up the HiGHS wasm solver.
    create: async () => (await import('./optimal.ts')).createOptimalBalancer(),
  },
];

/** Every method name, in registry order. */
export const METHOD_NAMES: readonly string[] = METHODS.map((e) => e.name);

/** The entry of a method; an unknown name is an InputError listing the methods. */
export function getMethod(name: string): MethodEntry {
  const e = METHODS.find((x) => x.name === name);
  if (!e) throw new InputError(`unknown method '${name}' (methods: ${METHOD_NAMES.join(', ')})`);
  return e;
}

/** Checks a method's options and fills in its defaults (the one option rule, used by every balancer). */
export function resolveOptions(method: string, given: Readonly<Record<string, unknown>> = {}): Record<string, unknown> {
  const e = getMethod(method);
  const o = resolveDeclared(method, e.options, given);
  e.check?.(o);
  return o;
}

// ---------------------------------------------------------------- specs

export interface MethodSpec {
  /** Name in logs, summaries and run folders: the canonical spec, or as=NAME. */
  label: string;
  method: string;
  /** The options given (not the defaults), checked. */
  options: Record<string, unknown>;
}

/**
 * Parses one spec (grammar above); errors name the spec. `complete: false` leaves out the method's
 * cross-option check, for callers that add options of their own first (the trainer adds auxloss seqLen).
 */
export function parseMethodSpec(spec: string, { complete = true }: { complete?: boolean } = {}): MethodSpec {
  const text = spec.trim();
  if (text === '') throw new InputError('empty method spec');
  const colon = text.indexOf(':');
  const head = colon < 0 ? text : text.slice(0, colon);
  const tail = colon < 0 ? '' : text.slice(colon + 1);
  // A '-' before a digit is a value's sign or exponent (lossfree-u1e-3), not a new shorthand.
  const [name, ...shorts] = head.split(/-(?![\d.])/);
  const fail = (msg: string): never => {
    throw new InputError(`method '${text}': ${msg}`);
  };
  const e = METHODS.find((x) => x.name === name) ?? fail(`unknown method '${name}' (methods: ${METHOD_NAMES.join(', ')})`);
  const options: Record<string, unknown> = {};
  const put = (key: string, v: unknown): void => {
    if (key in options) fail(`option '${key}' given twice`);
    options[key] = v;
  };
  for (const s of shorts) {
    const sh = e.shorthands?.find((x) => ('word' in x ? x.word === s : s.startsWith(x.prefix)));
    if (!sh) fail(`unknown shorthand '-${s}' (${shorthandList(e)})`);
    else if ('word' in sh) for (const [k, v] of Object.entries(sh.sets)) put(k, v);
    else put(sh.option, parseOptionText(e.options[sh.option], s.slice(sh.prefix.length)));
  }
  // 'bip:' promises options and gives none: a truncated spec (a lost shell variable), not plain bip.
  if (colon >= 0 && tail.trim() === '') fail(`nothing after ':' (give key=value options, or leave out the ':')`);
  let label: string | undefined;
  for (const part of colon < 0 ? [] : tail.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) fail(`option '${part}' is not key=value`);
    const key = part.slice(0, eq).trim();
    const raw = part.slice(eq + 1).trim();
    if (raw === '') fail(`option '${key}' has no value`);
    if (key === 'as') label = raw;
    else if (!(key in e.options)) fail(`unknown option '${key}' (options of ${e.name}: ${Object.keys(e.options).join(', ') || 'none'})`);
    else put(key, parseOptionText(e.options[key], raw));
  }
  try {
    if (complete) resolveOptions(e.name, options);
    else resolveDeclared(e.name, e.options, options);
  } catch (err) {
    fail((err as Error).message);
  }
  return { label: label ?? specLabel(e.name, options), method: e.name, options };
}

/** The canonical label of a method with the given options: shorthands first, then key=value in declaration order. */
export function specLabel(method: string, options: Readonly<Record<string, unknown>>): string {
  const e = getMethod(method);
  const covered = new Set<string>();
  let head = e.name;
  for (const sh of e.shorthands ?? []) {
    if ('word' in sh) {
      const keys = Object.keys(sh.sets);
      if (keys.every((k) => !covered.has(k) && options[k] === sh.sets[k])) {
        head += `-${sh.word}`;
        keys.forEach((k) => covered.add(k));
      }
    } else if (options[sh.option] !== undefined && !covered.has(sh.option)) {
      head += `-${sh.prefix}${formatOptionValue(options[sh.option])}`;
      covered.add(sh.option);
    }
  }
  const rest = Object.keys(e.options)
    .filter((k) => options[k] !== undefined && !covered.has(k))
    .map((k) => `${k}=${formatOptionValue(options[k])}`);
  return rest.length > 0 ? `${head}:${rest.join(',')}` : head;
}

/**
 * Parses a list of specs separated by spaces, ';' or ','. A comma-separated piece of the form key=value
 * continues the spec before it (method names never hold '='), so `auxloss,lossfree:rate=0.01,update=linear`
 * is two specs.
 */
export function parseMethodList(text: string, opts: { complete?: boolean } = {}): MethodSpec[] {
  const pieces: string[] = [];
  for (const chunk of text.split(/[;\s]+/)) {
    for (const piece of chunk.split(',')) {
      if (piece === '') continue;
      const continues = /^[^:]*=/.test(piece) && pieces.length > 0 && pieces[pieces.length - 1].includes(':');
      if (continues) pieces[pieces.length - 1] += `,${piece}`;
      else pieces.push(piece);
    }
  }
  const specs = pieces.map((p) => parseMethodSpec(p, opts));
  if (specs.length === 0) throw new InputError('no methods given');
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.label)) throw new InputError(`method '${s.label}' is listed twice (use as=NAME to tell variants apart)`);
    seen.add(s.label);
  }
  return specs;
}

function shorthandList(e: MethodEntry): string {
  const list = (e.shorthands ?? []).map((s) => s.doc);
  return list.length > 0 ? `shorthands of ${e.name}: ${list.join(', ')}` : `${e.name} has no shorthands`;
}

// ---------------------------------------------------------------- training config keys

/** The training config key of a method option: configPrefix + Option (bipIters, auxAlpha, ...), or the shared key it declares (capacityFactor). */
export function configKey(e: MethodEntry, option: string): string {
  return e.options[option].configKey ?? (e.configPrefix ?? e.name) + option[0].toUpperCase() + option.slice(1);
}

/** Every method option that the training config holds as a key of its own (those not taken from the config). */
export function trainOptionKeys(): { key: string; method: MethodEntry; option: string; decl: OptionDecl }[] {
  return METHODS.filter((e) => e.trainable).flatMap((e) =>
    Object.entries(e.options)
      .filter(([option]) => !e.fromTrainConfig?.[option])
      .map(([option, decl]) => ({ key: configKey(e, option), method: e, option, decl })),
  );
}

// ---------------------------------------------------------------- help text

/**
 * The methods and their options, for --help. `flag(method, option)` renders an option the way the
 * command takes it (`--iters T`, `iters=T`, `bipIters`); every option line ends with its default.
 */
export function methodsHelp(o: { flag: (e: MethodEntry, option: string) => string; only?: (e: MethodEntry) => boolean; shorthands?: boolean }): string {
  const lines: string[] = [];
  for (const e of METHODS.filter(o.only ?? (() => true))) {
    lines.push(`  ${e.name}: ${e.summary}`);
    for (const [option, d] of Object.entries(e.options)) {
      const rule = d.type === 'choice' ? '' : `; ${describeOption(d)}`;
      const needs = d.needs ? `; with ${d.needs.text}` : '';
      lines.push(`    ${o.flag(e, option).padEnd(20)} ${d.doc}${rule}${needs} (default ${formatOptionValue(d.default)})`);
    }
    if (o.shorthands) for (const sh of e.shorthands ?? []) lines.push(`    ${'shorthand'.padEnd(20)} ${sh.doc}`);
  }
  return lines.join('\n');
}

/** Metavariable for an option in help: T, U, B, ... from the option name. */
export function optionValueName(option: string): string {
  return option.replace(/([A-Z])/g, '-$1').toUpperCase();
}

/** camelCase option name as a command-line flag: seqLen -> seq-len. */
export function optionFlag(option: string): string {
  return option.replace(/([A-Z])/g, '-$1').toLowerCase();
}
