/**
 * Declared options of a balancer method: type, default, range or allowed values, one-line doc. The
 * method registry (registry.ts) declares each method's options with these; everything that takes an
 * option (createBalancer, the spec grammar, the CLIs' flags, the training config) checks, parses and
 * documents it through the functions here, so one rule holds everywhere.
 */
import { InputError } from './errors.ts';

interface OptionBase {
  /** One line for --help. */
  doc: string;
  /** Another option this one needs, e.g. auxloss seqLen needs form=sequence; checked by resolveOptions. */
  needs?: { option: string; test: (v: unknown) => boolean; text: string; example: unknown };
  /** A valid value to show (and to test with) when there is no default. */
  example?: unknown;
  /** The training config key, when several methods share one (capacityFactor, groups); else prefix + Name. */
  configKey?: string;
}

export type OptionDecl = OptionBase &
  (
    | { type: 'int'; default: number | undefined; min: number; max?: number }
    | { type: 'number'; default: number | undefined; min?: number; gt?: number; max?: number }
    /** A fixed set of values; booleans are allowed among them (e.g. truncate: true, false or 'q'). */
    | { type: 'choice'; default: string | boolean; values: readonly (string | boolean)[] }
    /** An interval [lo, hi] with lo < hi; written lo..hi (or lo,hi on a flag of its own). */
    | { type: 'pair'; default: [number, number] }
  );

export type OptionDecls = Readonly<Record<string, OptionDecl>>;

/** What a valid value looks like, for messages and help: "an integer from 0 to 10000". */
export function describeOption(d: OptionDecl): string {
  switch (d.type) {
    case 'int':
      return d.max !== undefined ? `an integer from ${d.min} to ${d.max}` : `an integer >= ${d.min}`;
    case 'number': {
      const parts = [d.gt !== undefined ? `> ${d.gt}` : '', d.min !== undefined ? `>= ${d.min}` : '', d.max !== undefined ? `<= ${d.max}` : ''];
      return ['a number', ...parts.filter(Boolean)].join(' ');
    }
    case 'choice': {
      const words = d.values.map((v) => (typeof v === 'boolean' ? String(v) : `'${v}'`));
      if (d.values.some((v) => typeof v === 'boolean')) return `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
      return `one of ${d.values.join(', ')}`;
    }
    case 'pair':
      return 'lo..hi with lo < hi';
  }
}

/** The default as written in help and specs ("4", "true", "-2..2", "none"). */
export function formatOptionValue(v: unknown): string {
  if (v === undefined) return 'none';
  if (Array.isArray(v)) return `${String(v[0])}..${String(v[1])}`;
  return String(v);
}

/** Whether v is a valid value of the declaration (no cross-option rules). */
export function isValidOption(d: OptionDecl, v: unknown): boolean {
  switch (d.type) {
    case 'int':
      return typeof v === 'number' && Number.isInteger(v) && v >= d.min && (d.max === undefined || v <= d.max);
    case 'number':
      return (
        typeof v === 'number' &&
        Number.isFinite(v) &&
        (d.gt === undefined || v > d.gt) &&
        (d.min === undefined || v >= d.min) &&
        (d.max === undefined || v <= d.max)
      );
    case 'choice':
      return (d.values as readonly unknown[]).includes(v);
    case 'pair':
      return Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) && v[0] < v[1];
  }
}

/**
 * Parses an option typed on a command line or in a spec: numbers for int/number, true/false for the
 * boolean values of a choice, lo..hi (or lo,hi) for a pair. Returns the raw text when it does not
 * parse, so that the check that follows names the bad value.
 */
export function parseOptionText(d: OptionDecl, raw: string): unknown {
  const text = raw.trim();
  switch (d.type) {
    case 'int':
    case 'number':
      return text !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
    case 'choice':
      if ((text === 'true' || text === 'false') && d.values.includes(text === 'true')) return text === 'true';
      return text;
    case 'pair': {
      const m = /^(.+?)(?:\.\.|,)(.+)$/.exec(text);
      if (!m || !isNumberText(m[1]) || !isNumberText(m[2])) return text;
      return [Number(m[1]), Number(m[2])];
    }
  }
}

function isNumberText(s: string): boolean {
  return s.trim() !== '' && Number.isFinite(Number(s));
}

/**
 * Checks `given` against the declarations and fills in the defaults: an unknown key, a value of the
 * wrong type or range, or an option without the one it needs is an InputError naming it. Undefined
 * values count as not given.
 */
export function resolveDeclared(method: string, decls: OptionDecls, given: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const names = Object.keys(decls);
  for (const key of Object.keys(given)) {
    if (given[key] !== undefined && !names.includes(key)) {
      throw new InputError(`unknown option '${key}' for method '${method}' (options: ${names.length > 0 ? names.join(', ') : 'none'})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, d] of Object.entries(decls)) {
    const v = given[key];
    if (v === undefined) {
      out[key] = d.default;
      continue;
    }
    if (!isValidOption(d, v)) throw new InputError(`option '${key}' of '${method}' must be ${describeOption(d)}, got ${JSON.stringify(v)}`);
    out[key] = v;
  }
  for (const [key, d] of Object.entries(decls)) {
    if (given[key] !== undefined && d.needs && !d.needs.test(out[d.needs.option])) {
      throw new InputError(`option '${key}' of '${method}' applies only with ${d.needs.text}`);
    }
  }
  return out;
}
