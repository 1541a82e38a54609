/**
 * `moe-balance report DIR`: rebuild the report of an output folder from its logs, without running
 * anything. A compare folder (DIR/runs/<method>-s<seed>/log.jsonl) gets report.html, summary.md and
 * summary.json; a simulate folder (DIR/log.jsonl + DIR/run.json) gets report.html.
 *
 *   moe-balance report runs/quick
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CliError } from './errors.ts';
import { parseFlags } from '../util/args.ts';
import { checkOutDir } from '../io/outputPaths.ts';
import { buildCompareReport } from '../compare/report.ts';
import { listRunDirs } from '../compare/logs.ts';
import { isSimulateDir, writeSimulateReport } from '../simulate/report.ts';

const HELP = `Usage: moe-balance report DIR

Rebuild the report of a compare folder (DIR/runs/<method>-s<seed>/log.jsonl: writes DIR/report.html,
DIR/summary.md, DIR/summary.json and prints the table) or of a simulate folder (DIR/log.jsonl and
DIR/run.json: writes DIR/report.html). Everything is recomputed from the JSONL logs.`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { help: { type: 'boolean', short: 'h' } }, 1);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError('expects exactly one folder: moe-balance report DIR');
  const dir = positionals[0];
  if (!existsSync(dir)) throw new CliError(`no such folder: ${dir}`);
  checkOutDir(dir, 'report');
  const rel = (f: string): string => relative(process.cwd(), f) || f;
  let built = false;
  if (listRunDirs(dir).length > 0) {
    const rep = buildCompareReport(dir);
    console.log(rep.markdown);
    console.log('');
    console.log(`Report: ${rel(rep.htmlPath)}  (also ${rel(rep.markdownPath)}, ${rel(rep.jsonPath)})`);
    built = true;
  }
  if (isSimulateDir(dir)) {
    if (!existsSync(join(dir, 'run.json'))) throw new CliError(`${join(dir, 'run.json')} is missing (written by moe-balance simulate)`);
    const htmlPath = writeSimulateReport(dir);
    console.log(`Report: ${rel(htmlPath)}`);
    built = true;
  }
  if (!built) {
    throw new CliError(`${dir} is neither a compare folder (DIR/runs/<method>-s<seed>/log.jsonl) nor a simulate folder (DIR/log.jsonl with simulate lines)`);
  }
  return 0;
}
