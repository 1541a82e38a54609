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
import { describeOption, isValidOption, parseOptionText, type OptionDecl } from '../routing/options.ts';
import { configKey, getMethod, METHODS, parseMethodSpec, resolveOptions, trainOptionKeys } from '../routing/registry.ts';

/** Methods a model can be trained with (the registry's trainable ones). */
export const TRAIN_METHODS: readonly string[] = METHODS.filter((e) => e.trainable).map((e) => e.name);

/**
 * Method options: one key per option of each trainable method, named by the registry's configKey
 * (bipIters, bipTruncate, lossfreeRate, quantileBins, quantileRange, auxAlpha, auxForm, ...); null = not set.
 */
export type MethodOptionValues = Record<string, unknown>;

export type TrainConfig = TrainBaseConfig & MethodOptionValues;

export interface TrainBaseConfig extends ModelConfig {
  /** Balancing method for every MoE layer (a registry name). */
  method: string;
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
  /** Seed of the initial parameters and of the data order (identical across methods). */
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
  /** Router z-loss coefficient (ST-MoE; 0 = off). */
  zLoss: number;
}

const METHOD_OPTION_KEYS = trainOptionKeys();

export const DEFAULT_CONFIG: TrainConfig = {
  vocabSize: 4096,
  dim: 128,
  layers: 4,
  heads: 4,
  seqLen: 128,
  numExperts: 16,
  expertHidden: 256,
  topK: 2,
  numSharedExperts: 0,
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
  zLoss: 0,
  ...Object.fromEntries(METHOD_OPTION_KEYS.map((o) => [o.key, null])),
};

/** A config key's rule: the registry's option declarations (one rule for options everywhere), or a string. */
type Spec = { decl: OptionDecl; methods?: readonly string[] } | { decl: 'string' };

const rule = (d: Partial<OptionDecl> & Pick<OptionDecl, 'type'>): Spec => ({ decl: { doc: '', default: undefined, ...d } as OptionDecl });
const int = (min: number, max?: number): Spec => rule({ type: 'int', min, max });
const num = (bounds: { min?: number; gt?: number; max?: number }): Spec => rule({ type: 'number', ...bounds });
const choice = (values: readonly string[]): Spec => rule({ type: 'choice', values });

const SPECS: Record<string, Spec> = {
  vocabSize: int(2, 65536),
  dim: int(2),
  layers: int(1),
  heads: int(1),
  seqLen: int(2),
  numExperts: int(2),
  expertHidden: int(1),
  topK: int(1),
  numSharedExperts: int(0),
  gate: choice(['softmax', 'sigmoid']),
  ropeTheta: num({ gt: 0 }),
  normEps: num({ gt: 0 }),
  initStd: num({ gt: 0 }),
  method: choice(TRAIN_METHODS),
  batchSize: int(1),
  steps: int(1),
  lr: num({ gt: 0 }),
  minLr: num({ min: 0 }),
  warmupSteps: int(0),
  weightDecay: num({ min: 0 }),
  beta1: num({ min: 0, max: 0.999999 }),
  beta2: num({ min: 0, max: 0.999999 }),
  adamEps: num({ gt: 0 }),
  gradClip: num({ min: 0 }),
  seed: int(0, 0xffffffff),
  evalEvery: int(0),
  evalBatches: int(0),
  checkpointEvery: int(0),
  logEvery: int(1),
  backend: choice(['wasm', 'cpu', 'tensorflow']),
  dataFile: { decl: 'string' },
  zLoss: num({ min: 0 }),
  // One key per method option; a shared key (capacityFactor, groups, ...) lists every method that takes it.
  ...Object.fromEntries(
    METHOD_OPTION_KEYS.map((o) => [o.key, { decl: o.decl, methods: METHOD_OPTION_KEYS.filter((x) => x.key === o.key).map((x) => x.method.name) }]),
  ),
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const CONFIG_KEYS = Object.keys(SPECS) as (keyof TrainConfig)[];

/**
 * Config keys renamed since earlier runs were written: a count of experts is numExperts (numSharedExperts),
 * because `experts` means expert ids everywhere else (a routing's experts, route's output). A config file
 * or a checkpoint's config holding an old key is read under the new name (with a note); --set and the
 * flags take only the new names, and an old one there is an error that names its successor.
 */
const RENAMED_KEYS: Readonly<Record<string, string>> = { experts: 'numExperts', sharedExperts: 'numSharedExperts' };

/** rec with every renamed key under its new name; `note` hears one line per key moved. Both names at once is an error. */
export function renameOldKeys(rec: Record<string, unknown>, source: string, note?: (line: string) => void): Record<string, unknown> {
  const out = { ...rec };
  for (const [old, now] of Object.entries(RENAMED_KEYS)) {
    if (!(old in out)) continue;
    if (now in out) throw new ConfigError(`config key '${old}' is the old name of '${now}', and both are set (${source})`);
    out[now] = out[old];
    delete out[old];
    note?.(`${source}: config key '${old}' is read as '${now}' (its new name; write '${now}')`);
  }
  return out;
}

function describeSpec(s: Spec): string {
  return s.decl === 'string' ? 'a string' : describeOption(s.decl);
}

function unknownKeyMessage(key: string, source: string): string {
  const now = Object.hasOwn(RENAMED_KEYS, key) ? RENAMED_KEYS[key] : undefined;
  if (now !== undefined) return `config key '${key}' is now '${now}' (${source})`;
  return `unknown config key '${key}' (${source}); known keys: ${CONFIG_KEYS.join(', ')}`;
}

/** Checks one value against its key's spec; `source` says where it came from (for the message). */
function checkValue(key: string, v: unknown, source: string): void {
  const spec = SPECS[key];
  if (!spec) throw new ConfigError(unknownKeyMessage(key, source));
  if (v === null && 'methods' in spec) return; // a method option left unset
  const ok = spec.decl === 'string' ? typeof v === 'string' : isValidOption(spec.decl, v);
  if (!ok) throw new ConfigError(`config key '${key}' must be ${describeSpec(spec)}, got ${JSON.stringify(v)} (${source})`);
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

/** Reads a JSON config file (an object of keys to values); old key names are read as their new ones (renameOldKeys). */
export function readConfigFile(path: string, note?: (line: string) => void): Record<string, unknown> {
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
  return renameOldKeys(rec, `config file '${path}'`, note);
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
    if (!spec) throw new ConfigError(unknownKeyMessage(key, '--set'));
    out[key] = parseTyped(key, raw, spec);
  }
  return out;
}

function parseTyped(key: string, raw: string, spec: Spec): unknown {
  if (raw === 'null' && 'methods' in spec) return null;
  if (spec.decl === 'string') return raw;
  const v = parseOptionText(spec.decl, raw);
  if (!isValidOption(spec.decl, v)) throw new ConfigError(`config key '${key}' must be ${describeSpec(spec)}, got '${raw}' (--set)`);
  return v;
}

/**
 * Cross-key checks, then fills the chosen method's unset options with their defaults. Returns a new
 * object: the effective configuration of the run.
 */
export function finalizeConfig(cfg: TrainConfig): TrainConfig {
  for (const key of CONFIG_KEYS) checkValue(key, cfg[key], 'effective configuration');
  const c = { ...cfg };
  if (c.topK >= c.numExperts) throw new ConfigError(`config key 'topK' must be < numExperts: topK=${c.topK}, numExperts=${c.numExperts}`);
  if (c.dim % c.heads !== 0) throw new ConfigError(`config key 'dim' must be divisible by heads: dim=${c.dim}, heads=${c.heads}`);
  if ((c.dim / c.heads) % 2 !== 0) {
    throw new ConfigError(`config key 'heads': the head size dim/heads=${c.dim / c.heads} must be even (rotary pairs)`);
  }
  if (c.minLr > c.lr) throw new ConfigError(`config key 'minLr' (${c.minLr}) must not exceed lr (${c.lr})`);
  for (const o of METHOD_OPTION_KEYS) {
    const owners = (SPECS[o.key] as { methods: readonly string[] }).methods;
    if (!owners.includes(c.method) && c[o.key] !== null) {
      throw new ConfigError(`config key '${o.key}' is an option of method${owners.length > 1 ? 's' : ''} ${owners.map((x) => `'${x}'`).join(', ')}, but method is '${c.method}'`);
    }
    // The default of an option that needs another one (quantileRange needs bins > 0) only when that holds.
    const needs = o.decl.needs;
    const needed = !needs || needs.test(c[configKey(o.method, needs.option)] ?? undefined);
    if (o.method.name === c.method && c[o.key] === null && needed) c[o.key] = o.decl.default ?? null;
  }
  try {
    resolveOptions(c.method, balancerOptions(c));
  } catch (e) {
    throw new ConfigError(`method '${c.method}': ${(e as Error).message}`);
  }
  const groups = c.groups as number | null | undefined;
  if (groups != null && (c.numExperts % groups !== 0 || (((c.topkGroups as number | null) ?? 0) * c.numExperts) / groups < c.topK)) {
    throw new ConfigError(`config key 'groups': ${c.groups} groups must divide numExperts=${c.numExperts} and topkGroups groups must hold topK=${c.topK} experts`);
  }
  return c;
}

/**
 * The routing core's options object for the configured method: its config keys, plus the options the
 * trainer takes from the config itself (auxloss seqLen = the model's seqLen, when its form needs one).
 */
export function balancerOptions(c: TrainConfig): Record<string, unknown> {
  const e = getMethod(c.method);
  const o: Record<string, unknown> = {};
  for (const k of METHOD_OPTION_KEYS) if (k.method === e && c[k.key] !== null) o[k.option] = c[k.key];
  for (const [option, key] of Object.entries(e.fromTrainConfig ?? {})) {
    const needs = e.options[option].needs;
    if (!needs || needs.test(o[needs.option] ?? e.options[needs.option].default)) o[option] = c[key];
  }
  return o;
}

/**
 * The config keys a method spec sets: `method` and one key per option given (bip-T8-notrunc sets
 * method bip, bipIters 8, bipTruncate false). A method the trainer cannot use is a ConfigError.
 */
export function methodSpecConfig(text: string): Record<string, unknown> {
  let spec;
  try {
    spec = parseMethodSpec(text, { complete: false }); // the config supplies some options (auxloss seqLen)
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  const e = getMethod(spec.method);
  if (!e.trainable) throw new ConfigError(`method '${spec.method}' cannot be trained with (methods: ${TRAIN_METHODS.join(', ')})`);
  const out: Record<string, unknown> = { method: spec.method };
  for (const [option, v] of Object.entries(spec.options)) {
    if (e.fromTrainConfig?.[option]) throw new ConfigError(`method '${text}': option '${option}' is the config's ${e.fromTrainConfig[option]} in training`);
    out[configKey(e, option)] = v;
  }
  return out;
}

/** Default config, then file, then --set, then flags; validated and finalized. */
export function resolveConfig(layers: { file?: string; sets?: string[]; flags?: Record<string, unknown>; note?: (line: string) => void }): TrainConfig {
  let c = { ...DEFAULT_CONFIG };
  if (layers.file) c = applyOverrides(c, readConfigFile(layers.file, layers.note), `config file ${layers.file}`);
  if (layers.sets && layers.sets.length > 0) c = applyOverrides(c, parseSetArgs(layers.sets), '--set');
  if (layers.flags) c = applyOverrides(c, layers.flags, 'command-line flag');
  return finalizeConfig(c);
}
