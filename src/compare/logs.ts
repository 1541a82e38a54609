/**
 * Reading the trainer's JSONL logs (one JSON object per line), as written to runs/<method>-s<seed>/log.jsonl:
 *
 *   step:    {"step","loss","lmLoss","auxLoss","lr","tokensPerSec","stepMs","routingMs","layers":[{"loads":[...],"maxVio","minVio"}]}
 *   eval:    {"eval":true,"step","valLoss","perplexity","maxVioGlobal":[per layer]}
 *   summary: {"summary":true,"steps","tokens","perplexity","valLoss","avgMaxVio","supMaxVio","wallMs","method"}
 *
 * A resumed run may log a step twice (from the checkpoint on): the last line for a step wins. A
 * truncated last line (the process was killed mid-write) is ignored; other lines of unknown shape too.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonLines } from '../io/json.ts';

// One schema, owned by the writer (src/train/log.ts); the report reads exactly what the trainer writes.
import type { EvalLine, LayerLog, StepLine, SummaryLine } from '../train/log.ts';
export type { EvalLine, StepLine, SummaryLine };
export type LayerLine = LayerLog;

export interface RunLog {
  /** Step lines in step order, one per step. */
  steps: StepLine[];
  /** Eval lines in step order, one per step. */
  evals: EvalLine[];
  /** The final summary line, present once the run has finished. */
  summary?: SummaryLine;
}

/** One run folder of a compare folder. */
export interface RunDir {
  method: string;
  seed: number;
  /** DIR/runs/<method>-s<seed> */
  path: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse the text of a log.jsonl. */
export function parseRunLog(text: string): RunLog {
  const steps = new Map<number, StepLine>();
  const evals = new Map<number, EvalLine>();
  let summary: SummaryLine | undefined;
  for (const v of parseJsonLines(text)) {
    if (!isObject(v)) continue;
    if (v.summary === true) summary = v as unknown as SummaryLine;
    else if (v.eval === true && typeof v.step === 'number') evals.set(v.step, v as unknown as EvalLine);
    else if (typeof v.step === 'number' && Array.isArray(v.layers)) steps.set(v.step, v as unknown as StepLine);
  }
  const byStep = <T extends { step: number }>(m: Map<number, T>): T[] => [...m.values()].sort((a, b) => a.step - b.step);
  return { steps: byStep(steps), evals: byStep(evals), summary };
}

/** Read DIR/log.jsonl of a run folder; an absent log reads as empty. */
export function readRunLog(runPath: string): RunLog {
  const file = join(runPath, 'log.jsonl');
  return existsSync(file) ? parseRunLog(readFileSync(file, 'utf8')) : { steps: [], evals: [] };
}

/** Split a run folder name "<method>-s<seed>" (the method may itself contain dashes, e.g. bip-T2-s3). */
export function parseRunName(name: string): { method: string; seed: number } | undefined {
  const m = /^(.+)-s(\d+)$/.exec(name);
  return m ? { method: m[1], seed: Number(m[2]) } : undefined;
}

/** The folder name of a run. */
export function runName(method: string, seed: number): string {
  return `${method}-s${seed}`;
}

/** The run folders under DIR/runs, sorted by method then seed. */
export function listRunDirs(dir: string): RunDir[] {
  const runs = join(dir, 'runs');
  if (!existsSync(runs)) return [];
  const out: RunDir[] = [];
  for (const name of readdirSync(runs)) {
    const path = join(runs, name);
    const parsed = parseRunName(name);
    if (parsed && statSync(path).isDirectory()) out.push({ ...parsed, path });
  }
  return out.sort((a, b) => a.method.localeCompare(b.method) || a.seed - b.seed);
}
