/**
 * OUT/log.jsonl: one JSON object per line, in three kinds (others build reports on this schema):
 *   step:    {"step","loss","lmLoss","auxLoss","lr","tokensPerSec","stepMs","routingMs","layers":[{"loads","maxVio","minVio"}]}
 *            optional: "zLoss" (with zLoss > 0); per layer "dropped" (with a capacityFactor: pairs dropped),
 *            "unrouted" (ragged routings: share of tokens with no expert), "groupMaxVio" (with groups)
 *   eval:    {"eval":true,"step","valLoss","perplexity","maxVioGlobal":[one per layer]}
 *   summary: {"summary":true,"steps","tokens","perplexity","valLoss","avgMaxVio","supMaxVio","wallMs","method"}
 * Each line is appended with one write call, so a killed run leaves whole lines; a reader should still
 * skip a last line that does not parse. On resume the log is cut back to the checkpoint's step.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomicWrite.ts';
import { parseJsonLines } from '../io/json.ts';

export interface LayerLog {
  loads: number[];
  maxVio: number;
  minVio: number;
  /** (token, expert) pairs dropped over capacity (capacityFactor set). */
  dropped?: number;
  /** Share of the batch's tokens that got no expert (Expert Choice, dropping): residual only. */
  unrouted?: number;
  /** MaxVio over the expert groups (groups set). */
  groupMaxVio?: number;
}

export interface StepLine {
  step: number;
  loss: number;
  lmLoss: number;
  auxLoss: number;
  /** Sum over layers of the router z-loss (only when zLoss > 0). */
  zLoss?: number;
  lr: number;
  tokensPerSec: number;
  stepMs: number;
  routingMs: number;
  layers: LayerLog[];
}

export interface EvalLine {
  eval: true;
  step: number;
  valLoss: number;
  perplexity: number;
  maxVioGlobal: number[];
}

export interface SummaryLine {
  summary: true;
  steps: number;
  tokens: number;
  perplexity: number;
  valLoss: number;
  avgMaxVio: number;
  supMaxVio: number;
  wallMs: number;
  method: string;
}

export type LogLine = StepLine | EvalLine | SummaryLine;

export function appendLogLine(path: string, line: LogLine): void {
  appendFileSync(path, JSON.stringify(line) + '\n');
}

/** Every whole, parseable line of a log (a torn last line is skipped). */
export function readLog(path: string): LogLine[] {
  return existsSync(path) ? (parseJsonLines(readFileSync(path, 'utf8')) as LogLine[]) : [];
}

/** Keeps the step and eval lines up to `step` (drops later ones, any summary and any torn line). */
export function truncateLog(path: string, step: number): void {
  if (!existsSync(path)) return;
  const keep = readLog(path).filter((l) => !('summary' in l) && l.step <= step);
  writeFileAtomic(path, keep.map((l) => JSON.stringify(l) + '\n').join(''));
}
