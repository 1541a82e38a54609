/**
 * `moe-balance bench`: the routing benchmark (the same as `npm run bench`; see bench/routing.ts).
 *
 *   moe-balance bench --quick
 */
import { runRoutingBench } from '../../bench/routing.ts';
import { CliError } from './errors.ts';

export async function run(argv: string[]): Promise<number> {
  try {
    return await runRoutingBench(argv);
  } catch (err) {
    // Bad flags are usage errors (one line); anything else is a real failure and keeps its stack.
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new CliError((err as Error).message);
    throw err;
  }
}
