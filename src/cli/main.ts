/**
 * moe-balance command line: `moe-balance <command> [options]`.
 * Each command lives in its own file under src/cli/ and exports `run(argv): Promise<number>`.
 */
import { CliError } from './errors.ts';

type Command = { summary: string; load: () => Promise<{ run: (argv: string[]) => Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  route: { summary: 'route one batch of router scores (.npy or JSON) with a balancer', load: () => import('./route.ts') },
  simulate: { summary: 'run balancers over synthetic or recorded streams of router scores', load: () => import('./simulate.ts') },
  train: { summary: 'train a small MoE language model routed by a balancer', load: () => import('./train.ts') },
  compare: { summary: 'train one model per method and seed, then write the comparison report', load: () => import('./compare.ts') },
  bench: { summary: 'benchmark the balancers (same as npm run bench)', load: () => import('./bench.ts') },
  report: { summary: 'rebuild the HTML/Markdown report of a simulate or compare output folder', load: () => import('./report.ts') },
};

function usage(): string {
  const lines = ['Usage: moe-balance <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'Run `moe-balance <command> --help` for the options of a command.');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 1 : 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`moe-balance: unknown command '${name}'. Commands: ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  try {
    const mod = await cmd.load();
    return await mod.run(rest);
  } catch (err) {
    if (err instanceof CliError) {
      console.error(`moe-balance ${name}: ${err.message}`);
      return 2;
    }
    if (err instanceof Error && err.name === 'InputError') {
      console.error(`moe-balance ${name}: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
