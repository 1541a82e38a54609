/**
 * `npm run verify [-- --write] [FILE]`: recompute every results block of FILE (default README.md) from
 * the committed logs under results/ (src/results/verify.ts). Exits 1 on any difference, naming the line;
 * with --write, rewrites the blocks in place (atomically) instead.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseFlags } from '../src/util/args.ts';
import { writeFileAtomic } from '../src/io/atomicWrite.ts';
import { InputError } from '../src/routing/errors.ts';
import { verifyText } from '../src/results/verify.ts';

function main(): number {
  const { values, positionals } = parseFlags(process.argv.slice(2), { write: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, 1);
  if (values.help) {
    console.log('Usage: npm run verify [-- --write] [FILE]   (FILE: default README.md; folders are relative to its directory)');
    return 0;
  }
  const file = resolve(positionals[0] ?? 'README.md');
  const text = readFileSync(file, 'utf8');
  const { results, differences, updated } = verifyText(text, dirname(file));
  for (const r of results.filter((x) => x.pending)) console.log(`pending: line ${r.block.line}: ${r.block.kind} ${r.block.args.join(' ')} (folder not committed)`);
  if (values.write) {
    if (updated !== text) writeFileAtomic(file, updated);
    console.log(`${file}: ${results.length} blocks regenerated, ${differences.length} changed`);
    return 0;
  }
  for (const d of differences) {
    console.log(`line ${d.line} (${d.what}):\n  README:     ${d.found}\n  from logs:  ${d.expected}`);
  }
  console.log(`${results.length} results blocks checked against results/: ${differences.length === 0 ? 'all match' : `${differences.length} differ (npm run verify -- --write regenerates them)`}`);
  return differences.length === 0 ? 0 : 1;
}

try {
  process.exitCode = main();
} catch (err) {
  if (!(err instanceof InputError)) throw err;
  console.error(`verify: ${err.message}`);
  process.exitCode = 2;
}
