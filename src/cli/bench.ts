/**
 * `moe-balance bench`: the routing benchmark (the same as `npm run bench`; see bench/routing.ts).
 *
 *   moe-balance bench --quick
 *   moe-balance bench sinkhorn [--quick]     Sinkhorn against BIP at the same passes (bench/sinkhorn.ts)
 *
 * The benchmark lives in bench/, which the installed package does not carry (it needs the numpy peer
 * and writes bench/results/): it runs from a clone of the repository. The import goes through a URL so
 * that the package build (rootDir src/) does not pull bench/ in.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CliError } from './errors.ts';

interface RoutingBench {
  runRoutingBench(argv: string[]): Promise<number>;
}

interface SinkhornBench {
  runSinkhornBench(argv: string[]): Promise<number>;
}

export async function run(argv: string[]): Promise<number> {
  const sinkhorn = argv[0] === 'sinkhorn';
  const bench = new URL(sinkhorn ? '../../bench/sinkhorn.ts' : '../../bench/routing.ts', import.meta.url);
  if (!existsSync(fileURLToPath(bench))) {
    throw new CliError('the routing benchmark runs from a clone of the repository (npm run bench); the installed package does not carry bench/');
  }
  // Bad flags are InputErrors (src/util/args.ts): one line; anything else is a real failure and keeps its stack.
  if (sinkhorn) return await ((await import(bench.href)) as SinkhornBench).runSinkhornBench(argv.slice(1));
  return await ((await import(bench.href)) as RoutingBench).runRoutingBench(argv);
}
