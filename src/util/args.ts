/**
 * The one argument helper of the commands (route, simulate, train, compare, report, bench): Node's
 * `util.parseArgs` in strict mode, with each of its errors turned into one InputError line that names
 * the flag (a flag without its value, a value on a switch, an unknown flag, a stray argument), and the
 * readers for flag values (integer, number, choice, comma list) whose messages all read
 * "--NAME must be ..., got 'RAW'".
 *
 * InputError (not the CLI's own error) so that bench/ can use it without importing cli/; the command
 * line prints either as one line and exits 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError } from '../routing/errors.ts';

type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/** What parseArgs returns for these flags (written out: the package's .d.ts cannot name util's inner types). */
export type ParsedFlags<O extends FlagOptions> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>>;

/**
 * Parses argv against the declared flags. `positionals`: how many bare arguments the command takes
 * (default 0); more is an error naming the first extra one.
 */
export function parseFlags<const O extends FlagOptions>(argv: string[], options: O, positionals = 0): ParsedFlags<O> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new InputError(parseErrorLine(err, argv));
  }
  if (parsed.positionals.length > positionals) {
    throw new InputError(`unexpected argument '${parsed.positionals[positionals]}' (see --help)`);
  }
  return parsed;
}

/** parseArgs explains itself over several lines and in its own words; the commands say one line. */
function parseErrorLine(err: unknown, argv: string[]): string {
  const e = err as { code?: string; message?: string };
  if (!e.code?.startsWith('ERR_PARSE_ARGS')) throw err;
  const message = e.message ?? '';
  // The flag as parseArgs names it: '--out', or '-o, --out' for one with a short form.
  const names = /'(-[^']*?)(?: <value>)?'/.exec(message)?.[1].split(', ') ?? ['?'];
  const flag = names[names.length - 1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option '${flag}' (see --help)`;
  if (message.includes('does not take an argument')) {
    const given = argv.find((a) => a.startsWith(`${flag}=`)) ?? flag;
    return `${flag} is a switch and takes no value, got '${given}'`;
  }
  if (message.includes('ambiguous')) {
    const at = argv.findIndex((a) => names.includes(a));
    const next = argv[at + 1];
    return `${flag} needs a value, got '${next}', which reads as an option (a value that starts with '-' is written ${flag}=${next})`;
  }
  if (message.includes('argument missing')) return `${flag} needs a value (see --help)`;
  return message.split('\n')[0];
}

/** An integer flag (undefined when absent), within [min, max] where they are given. */
export function intFlag(name: string, raw: string | undefined, min?: number, max?: number): number | undefined {
  if (raw === undefined) return undefined;
  const x = Number(raw);
  // Digits only: Number() would also take 0x10, 1e3 and 2.0.
  if (!/^\s*[+-]?\d+\s*$/.test(raw) || !Number.isSafeInteger(x) || (min !== undefined && x < min) || (max !== undefined && x > max)) {
    const range = min !== undefined && max !== undefined ? ` from ${min} to ${max}` : min !== undefined ? ` >= ${min}` : max !== undefined ? ` <= ${max}` : '';
    throw new InputError(`--${name} must be an integer${range}, got '${raw}'`);
  }
  return x;
}

/** A finite number flag (undefined when absent) that passes `ok`; `what` says the rule ("a number > 0"). */
export function numberFlag(name: string, raw: string | undefined, ok: (x: number) => boolean, what: string): number | undefined {
  if (raw === undefined) return undefined;
  const x = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new InputError(`--${name} must be ${what}, got '${raw}'`);
  return x;
}

/** A flag with a fixed set of values (undefined when absent). */
export function choiceFlag<const T extends string>(name: string, raw: string | undefined, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) throw new InputError(`--${name} must be one of ${allowed.join(', ')}, got '${raw}'`);
  return raw as T;
}

/** A comma-separated list, blanks dropped. */
export function listFlag(raw: string): string[] {
  return raw
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}
