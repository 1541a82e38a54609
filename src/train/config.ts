/**
 * Training configuration: one flat object of defaults, overridden by a JSON config file, then by
 * `--set key=value`, then by the dedicated flags (--method, --steps, ...). Every key has a declared type;
 * an unknown key, a value of the wrong type or out of range, or an incompatible combination (k >= m,
 * dim not divisible by heads, a method option set for another method, ...) is rejected before training
 * starts, with a message naming the key.
 *
 * Method options are null unless set; only the chosen method's may be set, and after validation they hold
 * the values the run actually uses (the routing core's defaults when not set).
 */
import { readFileSync } from 'node:fs';
import type { ModelConfig } from '../model/config.ts';
import { InputError } from '../routing/errors.ts';
import { createBalancer } from '../routing/factory.ts';
import { ONLINE_DEFAULT_RATE } from '../routing/online.ts';

export type TrainMethod = 'topk' | 'bip' | 'lossfree' | 'quantile' | 'auxloss' | 'sinkhorn' | 'expertchoice' | 'online' | 'exact';
export const TRAIN_METHODS: readonly TrainMethod[] = ['topk', 'bip', 'lossfree', 'quantile', 'auxloss', 'sinkhorn', 'expertchoice', 'online', 'exact'];

export interface TrainConfig extends ModelConfig {
  /** Balancing method for every MoE layer. */
  method: TrainMethod;
  // --- optimisation ---
  batchSize: number;
  steps: number;
  /** Peak learning rate (after warm-up), cosine-decayed to minLr at the last step. */
  lr: number;
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  gradClip: number;
  /** Seed of the initial weights and of the data order (identical across methods). */
  seed: number;
  // --- evaluation, checkpoints, output ---
  /** Evaluate every this many steps (0: only at the end). */
  evalEvery: number;
  /** Validation batches per evaluation (0: the whole validation split). */
  evalBatches: number;
  /** Checkpoint every this many steps (0: only at the end). */
  checkpointEvery: number;
  /** Plain progress line every this many steps when not on a terminal. */
  logEvery: number;
  backend: 'wasm' | 'cpu' | 'tensorflow';
  /** A UTF-8 text file to train on instead of the built-in corpus ('' = built-in). */
  dataFile: string;
  // --- method options (null = not set) ---
  bipIters: number | null;
  /** true (paper's: p, q >= 0), 'q' (experts only), false (none). */
  bipTruncate: boolean | 'q' | null;
  bipOrder: 'update-then-route' | 'route-then-update' | null;
  lossfreeRate: number | null;
  lossfreeUpdate: 'sign' | 'linear' | null;
  quantileBins: number | null;
  auxAlpha: number | null;
  auxForm: 'global' | 'sequence' | null;
  exactWarmIters: number | null;
  exactOrder: 'update-then-route' | 'route-then-update' | null;
  sinkhornIters: number | null;
  sinkhornTau: number | null;
  /** Online BIP: step (relative to the score spread unless onlineScale = 'none'), scale, truncation, group. */
  onlineRate: number | null;
  onlineScale: 'spread' | 'none' | null;
  onlineTruncate: boolean | null;
  onlineGroup: number | null;
  // --- options of any method (null = not set; see src/routing/factory.ts) ---
  /** Capacity ⌈f·k·n/m⌉ per expert, pairs over it dropped (expertchoice: its capacity, nothing dropped). */
  capacityFactor: number | null;
  dropPolicy: 'score' | 'position' | null;
  /** Group-limited routing (topk, lossfree, bip): experts in `groups` groups, `topkGroups` per token. */
  groups: number | null;
  topkGroups: number | null;
  /** Router z-loss coefficient (ST-MoE; 0 = off). */
  zLoss: number;
}

export const DEFAULT_CONFIG: TrainConfig = {
  vocabSize: 4096,
  dim: 128,
  layers: 4,
  heads: 4,
  seqLen: 128,
  experts: 16,
  expertHidden: 256,
  topK: 2,
  sharedExperts: 0,
  gate: 'softmax',
  ropeTheta: 10000,
  normEps: 1e-5,
  initStd: 0.02,
  method: 'bip',
  batchSize: 16,
  steps: 300,
  lr: 2e-3,
  minLr: 2e-4,
  warmupSteps: 30,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  adamEps: 1e-8,
  gradClip: 1,
  seed: 1,
  evalEvery: 50,
  evalBatches: 8,
  checkpointEvery: 50,
  logEvery: 10,
  backend: 'wasm',
  dataFile: '',
  bipIters: null,
  bipTruncate: null,
  bipOrder: null,
  lossfreeRate: null,
  lossfreeUpdate: null,
  quantileBins: null,
  auxAlpha: null,
  auxForm: null,
  exactWarmIters: null,
  exactOrder: null,
  sinkhornIters: null,
  sinkhornTau: null,
  onlineRate: null,
  onlineScale: null,
  onlineTruncate: null,
  onlineGroup: null,
  capacityFactor: null,
  dropPolicy: null,
  groups: null,
  topkGroups: null,
  zLoss: 0,
};

// `nullable`: an option of any method that may be left unset (null).
type Spec =
  | { type: 'int'; min: number; max?: number; method?: TrainMethod; nullable?: true }
  | { type: 'number'; min?: number; max?: number; gt?: number; method?: TrainMethod; nullable?: true }
  | { type: 'bool'; method?: TrainMethod; or?: readonly string[] }
  | { type: 'enum'; values: readonly string[]; method?: TrainMethod; nullable?: true }
  | { type: 'string' };

const SPECS: Record<keyof TrainConfig, Spec> = {
  vocabSize: { type: 'int', min: 2, max: 65536 },
  dim: { type: 'int', min: 2 },
  layers: { type: 'int', min: 1 },
  heads: { type: 'int', min: 1 },
  seqLen: { type: 'int', min: 2 },
  experts: { type: 'int', min: 2 },
  expertHidden: { type: 'int', min: 1 },
  topK: { type: 'int', min: 1 },
  sharedExperts: { type: 'int', min: 0 },
  gate: { type: 'enum', values: ['softmax', 'sigmoid'] },
  ropeTheta: { type: 'number', gt: 0 },
  normEps: { type: 'number', gt: 0 },
  initStd: { type: 'number', gt: 0 },
  method: { type: 'enum', values: TRAIN_METHODS },
  batchSize: { type: 'int', min: 1 },
  steps: { type: 'int', min: 1 },
  lr: { type: 'number', gt: 0 },
  minLr: { type: 'number', min: 0 },
  warmupSteps: { type: 'int', min: 0 },
  weightDecay: { type: 'number', min: 0 },
  beta1: { type: 'number', min: 0, max: 0.999999 },
  beta2: { type: 'number', min: 0, max: 0.999999 },
  adamEps: { type: 'number', gt: 0 },
  gradClip: { type: 'number', min: 0 },
  seed: { type: 'int', min: 0, max: 0xffffffff },
  evalEvery: { type: 'int', min: 0 },
  evalBatches: { type: 'int', min: 0 },
  checkpointEvery: { type: 'int', min: 0 },
  logEvery: { type: 'int', min: 1 },
  backend: { type: 'enum', values: ['wasm', 'cpu', 'tensorflow'] },
  dataFile: { type: 'string' },
  bipIters: { type: 'int', min: 0, max: 10000, method: 'bip' },
  bipTruncate: { type: 'bool', or: ['q'], method: 'bip' },
  bipOrder: { type: 'enum', values: ['update-then-route', 'route-then-update'], method: 'bip' },
  lossfreeRate: { type: 'number', gt: 0, method: 'lossfree' },
  lossfreeUpdate: { type: 'enum', values: ['sign', 'linear'], method: 'lossfree' },
  quantileBins: { type: 'int', min: 0, method: 'quantile' },
  auxAlpha: { type: 'number', min: 0, method: 'auxloss' },
  auxForm: { type: 'enum', values: ['global', 'sequence'], method: 'auxloss' },
  exactWarmIters: { type: 'int', min: 0, max: 10000, method: 'exact' },
  exactOrder: { type: 'enum', values: ['update-then-route', 'route-then-update'], method: 'exact' },
  sinkhornIters: { type: 'int', min: 1, max: 100000, method: 'sinkhorn' },
  sinkhornTau: { type: 'number', min: 0.001, max: 1000, method: 'sinkhorn' },
  onlineRate: { type: 'number', min: 0, method: 'online' },
  onlineScale: { type: 'enum', values: ['spread', 'none'], method: 'online' },
  onlineTruncate: { type: 'bool', method: 'online' },
  onlineGroup: { type: 'int', min: 1, method: 'online' },
  capacityFactor: { type: 'number', gt: 0, nullable: true },
  dropPolicy: { type: 'enum', values: ['score', 'position'], nullable: true },
  groups: { type: 'int', min: 1, nullable: true },
  topkGroups: { type: 'int', min: 1, nullable: true },
  zLoss: { type: 'number', min: 0 },
};

/** Unset is allowed: an option of one method, or of any method. */
function maySkip(spec: Spec): boolean {
  return ('method' in spec && spec.method !== undefined) || ('nullable' in spec && spec.nullable === true);
}

/** The routing core's defaults for the method options (filled in when not set). */
const METHOD_DEFAULTS: Partial<TrainConfig> = {
  bipIters: 4,
  bipTruncate: true,
  bipOrder: 'update-then-route',
  lossfreeRate: 0.001,
  lossfreeUpdate: 'sign',
  quantileBins: 0,
  auxAlpha: 0.1,
  auxForm: 'global',
  exactWarmIters: 0,
  exactOrder: 'update-then-route',
  sinkhornIters: 100,
  sinkhornTau: 1,
  onlineRate: ONLINE_DEFAULT_RATE,
  onlineScale: 'spread',
  onlineTruncate: true,
  onlineGroup: 1,
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const CONFIG_KEYS = Object.keys(SPECS) as (keyof TrainConfig)[];

function describeSpec(s: Spec): string {
  switch (s.type) {
    case 'int':
      return `an integer >= ${s.min}${s.max !== undefined ? ` and <= ${s.max}` : ''}`;
    case 'number':
      return `a number${s.gt !== undefined ? ` > ${s.gt}` : ''}${s.min !== undefined ? ` >= ${s.min}` : ''}${s.max !== undefined ? ` <= ${s.max}` : ''}`;
    case 'bool':
      return s.or ? `true, false or ${s.or.map((v) => `'${v}'`).join(', ')}` : 'true or false';
    case 'enum':
      return `one of ${s.values.join(', ')}`;
    case 'string':
      return 'a string';
  }
}

/** Checks one value against its key's spec; `source` says where it came from (for the message). */
function checkValue(key: string, v: unknown, source: string): void {
  const spec = SPECS[key as keyof TrainConfig];
  if (!spec) {
    throw new ConfigError(`unknown config key '${key}' (${source}); known keys: ${CONFIG_KEYS.join(', ')}`);
  }
  if (v === null && maySkip(spec)) return; // an option left unset
  const bad = () => new ConfigError(`config key '${key}' must be ${describeSpec(spec)}, got ${JSON.stringify(v)} (${source})`);
  switch (spec.type) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min || (spec.max !== undefined && v > spec.max)) throw bad();
      return;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad();
      if ((spec.gt !== undefined && !(v > spec.gt)) || (spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) throw bad();
      return;
    case 'bool':
      if (typeof v !== 'boolean' && !(typeof v === 'string' && spec.or?.includes(v))) throw bad();
      return;
    case 'enum':
      if (typeof v !== 'string' || !spec.values.includes(v)) throw bad();
      return;
    case 'string':
      if (typeof v !== 'string') throw bad();
  }
}

/** Applies an object of overrides (from a file or flags), checking every key and value. */
export function applyOverrides(cfg: TrainConfig, overrides: Record<string, unknown>, source: string): TrainConfig {
  const out: Record<string, unknown> = { ...cfg };
  for (const [key, v] of Object.entries(overrides)) {
    checkValue(key, v, source);
    out[key] = v;
  }
  return out as unknown as TrainConfig;
}

/** Reads a JSON config file (an object of keys to values). */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file '${path}': ${(e as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file '${path}' is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new ConfigError(`config file '${path}' must hold a JSON object of key: value`);
  }
  // A "//" or "_comment" key documents a preset without being configuration.
  const rec = { ...(obj as Record<string, unknown>) };
  for (const k of Object.keys(rec)) if (k.startsWith('//') || k === '_comment') delete rec[k];
  return rec;
}

/**
 * Parses `key=value` strings typed by the key's spec: numbers for int/number keys, true/false for
 * booleans, the raw text for strings and enums, `null` to unset a method option.
 */
export function parseSetArgs(sets: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set expects key=value, got '${s}'`);
    const key = s.slice(0, eq).trim();
    const raw = s.slice(eq + 1).trim();
    const spec = SPECS[key as keyof TrainConfig];
    if (!spec) throw new ConfigError(`unknown config key '${key}' (--set); known keys: ${CONFIG_KEYS.join(', ')}`);
    out[key] = parseTyped(key, raw, spec);
  }
  return out;
}

function parseTyped(key: string, raw: string, spec: Spec): unknown {
  if (raw === 'null' && maySkip(spec)) return null;
  switch (spec.type) {
    case 'int':
    case 'number': {
      const v = raw === '' ? NaN : Number(raw);
      if (!Number.isFinite(v)) throw new ConfigError(`config key '${key}' must be ${describeSpec(spec)}, got '${raw}' (--set)`);
      return v;
    }
    case 'bool':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      if (spec.or?.includes(raw)) return raw;
      throw new ConfigError(`config key '${key}' must be ${describeSpec(spec)}, got '${raw}' (--set)`);
    default:
      return raw;
  }
}

/**
 * Cross-key checks, then fills the chosen method's unset options with their defaults. Returns a new
 * object: the effective configuration of the run.
 */
export function finalizeConfig(cfg: TrainConfig): TrainConfig {
  for (const key of CONFIG_KEYS) checkValue(key, cfg[key], 'effective configuration');
  const c = { ...cfg };
  if (c.topK >= c.experts) throw new ConfigError(`config key 'topK' must be < experts: topK=${c.topK}, experts=${c.experts}`);
  if (c.dim % c.heads !== 0) throw new ConfigError(`config key 'dim' must be divisible by heads: dim=${c.dim}, heads=${c.heads}`);
  if ((c.dim / c.heads) % 2 !== 0) {
    throw new ConfigError(`config key 'heads': the head size dim/heads=${c.dim / c.heads} must be even (rotary pairs)`);
  }
  if (c.minLr > c.lr) throw new ConfigError(`config key 'minLr' (${c.minLr}) must not exceed lr (${c.lr})`);
  for (const key of CONFIG_KEYS) {
    const spec = SPECS[key];
    if ('method' in spec && spec.method) {
      if (spec.method !== c.method && c[key] !== null) {
        throw new ConfigError(`config key '${key}' is an option of method '${spec.method}', but method is '${c.method}'`);
      }
      if (spec.method === c.method && c[key] === null) (c as Record<string, unknown>)[key] = METHOD_DEFAULTS[key];
    }
  }
  // The options of any method (capacity, groups) are checked by the routing core, before training.
  try {
    createBalancer(c.method, balancerOptions(c));
  } catch (e) {
    if (e instanceof InputError) throw new ConfigError(`config: ${e.message}`);
    throw e;
  }
  if (c.groups !== null && (c.experts % c.groups !== 0 || ((c.topkGroups ?? 0) * c.experts) / c.groups < c.topK)) {
    throw new ConfigError(`config key 'groups': ${c.groups} groups must divide experts=${c.experts} and topkGroups groups must hold topK=${c.topK} experts`);
  }
  return c;
}

/** The routing core's options object for the configured method. */
export function balancerOptions(c: TrainConfig): Record<string, unknown> {
  const any = {
    capacityFactor: c.capacityFactor ?? undefined,
    dropPolicy: c.dropPolicy ?? undefined,
    groups: c.groups ?? undefined,
    topkGroups: c.topkGroups ?? undefined,
  };
  return { ...ownOptions(c), ...any };
}

function ownOptions(c: TrainConfig): Record<string, unknown> {
  switch (c.method) {
    case 'bip':
      return { iters: c.bipIters ?? undefined, truncate: c.bipTruncate ?? undefined, order: c.bipOrder ?? undefined };
    case 'lossfree':
      return { rate: c.lossfreeRate ?? undefined, update: c.lossfreeUpdate ?? undefined };
    case 'quantile':
      return { bins: c.quantileBins ?? undefined };
    case 'online':
      return { rate: c.onlineRate ?? undefined, scale: c.onlineScale ?? undefined, truncate: c.onlineTruncate ?? undefined, group: c.onlineGroup ?? undefined };
    case 'exact':
      return { warmIters: c.exactWarmIters ?? undefined, order: c.exactOrder ?? undefined };
    case 'auxloss':
      return { alpha: c.auxAlpha ?? undefined, form: c.auxForm ?? undefined, seqLen: c.auxForm === 'sequence' ? c.seqLen : undefined };
    case 'sinkhorn':
      return { iters: c.sinkhornIters ?? undefined, tau: c.sinkhornTau ?? undefined };
    default:
      return {};
  }
}

/** Default config, then file, then --set, then flags; validated and finalized. */
export function resolveConfig(layers: { file?: string; sets?: string[]; flags?: Record<string, unknown> }): TrainConfig {
  let c = { ...DEFAULT_CONFIG };
  if (layers.file) c = applyOverrides(c, readConfigFile(layers.file), `config file ${layers.file}`);
  if (layers.sets && layers.sets.length > 0) c = applyOverrides(c, parseSetArgs(layers.sets), '--set');
  if (layers.flags) c = applyOverrides(c, layers.flags, 'command-line flag');
  return finalizeConfig(c);
}
