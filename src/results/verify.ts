/**
 * Regenerate every results block of a Markdown file (see blocks.ts) from the committed folders under
 * results/ and compare it with the text: `npm run verify` fails on any difference, `npm run verify --
 * --write` rewrites the blocks. A block whose folder is not committed yet reads as a one-line
 * "pending" note, so the README can carry the marker before the runs land.
 *
 * Kinds: simulate, simulate-streams, simulate-grid, rate-sweep (simulateTables.ts); compare,
 * compare-balance, compare-ablations (compareTables.ts); compare-verdicts (verdicts.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../routing/errors.ts';
import { blockArgs, findBlocks, replaceBlocks, type Block } from './blocks.ts';
import { rateSweepTable, simulateGridTable, simulateStreamsTable, simulateTable } from './simulateTables.ts';
import { ablationTable, balanceTable, compareTable } from './compareTables.ts';
import { verdictLines } from './verdicts.ts';

type Render = (dirs: string[], options: Map<string, string>) => string;

const list = (options: Map<string, string>, key: string): string[] | undefined => options.get(key)?.split(',');
const one = (dirs: string[], kind: string): string => {
  if (dirs.length !== 1) throw new InputError(`'${kind}' takes one folder, got ${dirs.length}`);
  return dirs[0];
};

const KINDS: Record<string, Render> = {
  simulate: (d, o) => simulateTable(one(d, 'simulate'), list(o, 'methods')),
  'simulate-streams': (d, o) => simulateStreamsTable(d, list(o, 'methods')),
  'simulate-grid': (d, o) => simulateGridTable(d, list(o, 'methods'), list(o, 'cols')),
  'rate-sweep': (d, o) => rateSweepTable(one(d, 'rate-sweep'), o.get('cases') ?? '.*', o.get('ref') ?? 'bip-T4:truncate=q'),
  compare: (d, o) => compareTable(one(d, 'compare'), list(o, 'methods')),
  'compare-balance': (d, o) => balanceTable(one(d, 'compare-balance'), list(o, 'methods')),
  'compare-ablations': (d, o) => ablationTable(one(d, 'compare-ablations'), list(o, 'pairs') ?? []),
  'compare-verdicts': (d, o) => verdictLines(one(d, 'compare-verdicts'), list(o, 'methods') ?? ['bip']),
};

/** The body of a block whose folder is not committed yet. */
function pendingNote(paths: string[]): string {
  return `_Pending: ${paths.join(', ')} not committed yet; \`npm run verify -- --write\` fills this in._`;
}

export interface BlockResult {
  block: Block;
  expected: string;
  pending: boolean;
}

/** Regenerate one block; folders are relative to `root`. */
function renderBlock(block: Block, root: string): BlockResult {
  const render = KINDS[block.kind];
  if (!render) throw new InputError(`line ${block.line}: unknown results kind '${block.kind}' (known: ${Object.keys(KINDS).join(', ')})`);
  const { paths, options } = blockArgs(block.args);
  if (paths.length === 0) throw new InputError(`line ${block.line}: '${block.kind}' names no folder`);
  const missing = paths.filter((p) => !existsSync(join(root, p)));
  if (missing.length > 0) return { block, expected: pendingNote(missing), pending: true };
  try {
    return { block, expected: render(paths.map((p) => join(root, p)), options), pending: false };
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`line ${block.line} (${block.kind} ${block.args.join(' ')}): ${err.message}`);
    throw err;
  }
}

export interface Difference {
  line: number;
  what: string;
  /** First differing line of the text and of the regenerated block. */
  found: string;
  expected: string;
}

/** Every block of `text` regenerated, and the blocks whose text differs. */
export function verifyText(text: string, root: string): { results: BlockResult[]; differences: Difference[]; updated: string } {
  const blocks = findBlocks(text);
  const results = blocks.map((b) => renderBlock(b, root));
  const differences: Difference[] = [];
  for (const r of results) {
    if (r.block.body === r.expected) continue;
    const a = r.block.body.split('\n');
    const b = r.expected.split('\n');
    let i = 0;
    while (i < Math.max(a.length, b.length) && a[i] === b[i]) i++;
    differences.push({ line: r.block.line + 1 + i, what: `${r.block.kind} ${r.block.args.join(' ')}`, found: a[i] ?? '(nothing)', expected: b[i] ?? '(nothing)' });
  }
  return { results, differences, updated: replaceBlocks(text, blocks, results.map((r) => r.expected)) };
}
