/**
 * Method specs: how a user names a balancer variant on the command line and in the log.
 *
 *   spec    := method [':' option (',' option)*]   e.g. lossfree:rate=0.01,update=linear
 *   method  := topk | bip | lossfree | quantile | auxloss | optimal | 'bip-T' N  (bip-T2 = bip:iters=2)
 *   option  := key '=' value                        numbers, true/false, lo..hi (a range), or words
 *
 * The label used in the log is `bip-T<iters>` for bip with an iteration count, else the method name,
 * followed by ':' and any other options as written; `as=NAME` sets the label explicitly.
 */
import { InputError } from '../routing/errors.ts';

export interface MethodSpec {
  /** Name in the log and the summary, unique within a run. */
  label: string;
  /** Balancer method passed to createBalancer (or 'optimal'). */
  method: string;
  /** Options passed to createBalancer. */
  options: Record<string, unknown>;
}

/** The simulator's default methods. */
export const DEFAULT_METHODS: readonly string[] = ['topk', 'lossfree', 'quantile', 'bip-T1', 'bip-T2', 'bip-T4'];

export function parseMethodSpec(spec: string): MethodSpec {
  const text = spec.trim();
  if (text === '') throw new InputError('empty method spec');
  const colon = text.indexOf(':');
  const head = colon < 0 ? text : text.slice(0, colon);
  const tail = colon < 0 ? '' : text.slice(colon + 1);
  const options: Record<string, unknown> = {};
  const shown: string[] = [];
  let method = head;
  const bipT = /^bip-T(.*)$/.exec(head);
  if (bipT) {
    const iters = Number(bipT[1]);
    if (!Number.isInteger(iters) || iters < 1) throw new InputError(`method '${spec}': bip-T needs a positive integer, e.g. bip-T4`);
    method = 'bip';
    options.iters = iters;
  }
  if (!/^[a-z][a-z0-9]*$/i.test(method)) throw new InputError(`method '${spec}': bad method name '${head}'`);
  let label: string | undefined;
  if (tail !== '') {
    for (const part of tail.split(',')) {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new InputError(`method '${spec}': option '${part}' is not key=value`);
      const key = part.slice(0, eq).trim();
      const raw = part.slice(eq + 1).trim();
      if (raw === '') throw new InputError(`method '${spec}': option '${key}' has no value`);
      if (key === 'as') {
        label = raw;
        continue;
      }
      if (key in options) throw new InputError(`method '${spec}': option '${key}' given twice`);
      options[key] = parseValue(raw);
      if (!(method === 'bip' && key === 'iters')) shown.push(`${key}=${raw}`);
    }
  }
  if (label === undefined) {
    const base = method === 'bip' && options.iters !== undefined ? `bip-T${String(options.iters)}` : method;
    label = shown.length > 0 ? `${base}:${shown.join(',')}` : base;
  }
  return { label, method, options };
}

/** Parses a list of specs; specs are separated by spaces or semicolons (commas belong to options). */
export function parseMethodList(text: string): MethodSpec[] {
  const specs = text
    .split(/[;\s]+/)
    .filter((s) => s !== '')
    .map(parseMethodSpec);
  if (specs.length === 0) throw new InputError('no methods given');
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.label)) throw new InputError(`method '${s.label}' is listed twice (use as=NAME to tell variants apart)`);
    seen.add(s.label);
  }
  return specs;
}

function parseValue(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  const range = /^(.+)\.\.(.+)$/.exec(raw);
  if (range && isNumber(range[1]) && isNumber(range[2])) return [Number(range[1]), Number(range[2])];
  if (isNumber(raw)) return Number(raw);
  return raw;
}

function isNumber(s: string): boolean {
  return s.trim() !== '' && Number.isFinite(Number(s));
}
