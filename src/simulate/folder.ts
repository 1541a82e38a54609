/**
 * A simulation run into its output folder: DIR/log.jsonl (one line per step, layer and method),
 * DIR/run.json (the command and full configuration), DIR/summary.json, DIR/summary.md and
 * DIR/report.html. The command line only parses, shows progress and prints the table.
 *
 * The log is streamed to log.jsonl.partial and renamed when complete, so log.jsonl only ever holds
 * whole runs. Nothing else is written before that: a failed run leaves an earlier run in the folder as
 * it was (run.json, log, summary and report all of the earlier run) and no partial file.
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomicWrite.ts';
import { recordLine, type StepRecord } from './record.ts';
import { writeSimulateReport, type RunInfo } from './report.ts';
import { simulate, type SimulateOptions } from './run.ts';
import type { ScoreStream } from './streams.ts';
import { summarize, summaryTable, type MethodSummary } from './summary.ts';

export interface SimulateFolderOptions extends Omit<SimulateOptions, 'onRecord'> {
  /** The output folder (created if needed). */
  out: string;
  /** What run.json records. */
  info: RunInfo;
  /** MaxVio threshold of the summary's settled step. */
  threshold: number;
}

/** Runs the simulation and writes the folder; returns the summary and its Markdown table. */
export async function simulateIntoFolder(stream: ScoreStream, opts: SimulateFolderOptions): Promise<{ summary: MethodSummary[]; table: string }> {
  const { out, info, threshold, onStep, ...simOptions } = opts;
  mkdirSync(out, { recursive: true });
  const logPath = join(out, 'log.jsonl');
  const partial = `${logPath}.partial`;
  const fd = openSync(partial, 'w');
  const records: StepRecord[] = [];
  try {
    let pending: string[] = [];
    await simulate(stream, {
      ...simOptions,
      onRecord: (r) => {
        records.push(r);
        pending.push(recordLine(r));
      },
      onStep: (done) => {
        writeSync(fd, `${pending.join('\n')}\n`);
        pending = [];
        onStep?.(done);
      },
    });
  } catch (err) {
    closeSync(fd);
    rmSync(partial, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(partial, logPath);
  writeFileAtomic(join(out, 'run.json'), `${JSON.stringify(info, null, 2)}\n`);
  const summary = summarize(records, threshold);
  const table = summaryTable(summary, threshold);
  writeFileAtomic(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileAtomic(join(out, 'summary.md'), `${table}\n`);
  writeSimulateReport(out);
  return { summary, table };
}
