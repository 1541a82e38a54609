/** Reading optional JSON files (caches, run metadata, a run's config): one rule for missing and broken files. */
import { readFileSync } from 'node:fs';

/** The parsed JSON at path, or undefined if the file is missing or not JSON. */
export function readJsonOrUndefined(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}
