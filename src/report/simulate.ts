/**
 * The simulate report, for `moe-balance report DIR`: DIR/log.jsonl (lines {step, layer, method, maxVio,
 * minVio, retention, routingMs}) and DIR/run.json -> DIR/report.html, with MaxVio per step (one line
 * per method, a panel per layer) and score retention. The page itself is built by the simulate
 * command's own report module (src/simulate/report.ts), so `simulate` and `report` give the same page.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSimulateReport } from '../simulate/report.ts';

/** True when DIR/log.jsonl starts with a simulate line (step, layer, method, maxVio). */
export function isSimulateDir(dir: string): boolean {
  const file = join(dir, 'log.jsonl');
  if (!existsSync(file)) return false;
  const first = readFileSync(file, 'utf8').split('\n', 1)[0];
  try {
    const o = JSON.parse(first) as Record<string, unknown>;
    return typeof o.step === 'number' && typeof o.layer === 'number' && typeof o.method === 'string' && typeof o.maxVio === 'number';
  } catch {
    return false;
  }
}

/** Rebuild DIR/report.html of a simulate folder; returns its path. */
export function buildSimulateReport(dir: string): { htmlPath: string } {
  return { htmlPath: writeSimulateReport(dir) };
}
