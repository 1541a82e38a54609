/**
 * Reading optional JSON files (caches, run metadata, a run's config) and JSONL logs: one rule for
 * missing and broken files, one for torn lines.
 */
import { readFileSync } from 'node:fs';

/** The parsed JSON at path, or undefined if the file is missing or not JSON. */
export function readJsonOrUndefined(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The values of the whole, parseable lines of JSONL text, in order. A line that does not parse is
 * skipped: the last line of a log cut short by a kill (the run resumes from its checkpoint).
 */
export function parseJsonLines(text: string): unknown[] {
  const out: unknown[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a torn line
    }
  }
  return out;
}
