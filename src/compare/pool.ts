/**
 * compare's process pool: the training children, at most `atOnce` at a time, the first alone until it
 * is under way; Ctrl-C and SIGTERM passed on to each child exactly once; a child that outlives this
 * process stops at its next step (its stdin ends). What a run means (records, logs, the report) stays in
 * run.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { STOP_ON_STDIN_END } from '../train/stop.ts';

export interface PoolChild {
  child: ChildProcess;
  /** Resolves with the exit status (128 for a signal, null if it could not start) and the start error. */
  exited: Promise<{ code: number | null; err?: Error }>;
}

/**
 * Starts one child: its stdout and stderr appended to outFile; stdin a pipe that this process never
 * writes, so that when this process dies, even by SIGKILL, the child reads end-of-file and stops as on
 * Ctrl-C (STOP_ON_STDIN_END) instead of training on unattended. Detached (a process group of its own):
 * a Ctrl-C at the terminal reaches only this process, which passes on one SIGINT (stopSignals).
 */
export function startChild(command: readonly string[], outFile: string): PoolChild {
  const outFd = openSync(outFile, 'a');
  const child = spawn(command[0], command.slice(1), {
    stdio: ['pipe', outFd, outFd],
    cwd: process.cwd(),
    detached: true,
    env: { ...process.env, [STOP_ON_STDIN_END]: '1' },
  });
  const exited = new Promise<{ code: number | null; err?: Error }>((resolve) => {
    let done = false;
    const finish = (code: number | null, err?: Error): void => {
      if (done) return;
      done = true;
      closeSync(outFd);
      resolve({ code, err });
    };
    child.on('error', (err) => finish(null, err));
    child.on('exit', (code, signal) => finish(code ?? (signal ? 128 : -1)));
  });
  return { child, exited };
}

/**
 * Until the returned function is called, SIGINT and SIGTERM call onStop and send each running child
 * exactly one SIGINT: it finishes its step, writes its checkpoint and exits (a second SIGINT would make
 * it quit at once, without one). A second Ctrl-C here is passed on too, for when quitting at once is wanted.
 */
export function stopSignals(running: () => Iterable<ChildProcess>, onStop: (sig: NodeJS.Signals) => void): () => void {
  const on = (sig: NodeJS.Signals): void => {
    onStop(sig);
    for (const child of running()) child.kill('SIGINT');
  };
  const sigint = (): void => on('SIGINT');
  const sigterm = (): void => on('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  return () => {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  };
}

/**
 * Runs `run` over the jobs in order, `atOnce` at a time, until `stopped()`. The first job runs alone
 * until `underWay(job)` resolves (or it ends): on a fresh checkout the first run builds the tokenizer
 * and token cache, which the other runs then read instead of building it again.
 */
export async function runPool<J>(jobs: J[], atOnce: number, run: (job: J) => Promise<void>, underWay: (job: J, firstDone: () => boolean) => Promise<void>, stopped: () => boolean): Promise<void> {
  let firstDone = false;
  let gate: Promise<void> | undefined;
  const lanes = Array.from({ length: Math.min(atOnce, jobs.length) }, async (_, lane) => {
    if (lane > 0) await gate;
    for (let job = jobs.shift(); job !== undefined && !stopped(); job = jobs.shift()) {
      const p = run(job);
      if (lane === 0 && gate === undefined) {
        gate = Promise.race([underWay(job, () => firstDone), p]);
        void p.then(() => (firstDone = true));
      }
      await p;
    }
  });
  await Promise.all(lanes);
}
