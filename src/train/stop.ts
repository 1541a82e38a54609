/**
 * How a training run is asked to stop: Ctrl-C (SIGINT) or, under `compare`, the end of stdin. Either
 * way the trainer finishes the current step, writes a checkpoint and the command exits 130; a second
 * SIGINT quits at once (without that checkpoint).
 *
 * Under compare, each train child's stdin is a pipe the parent never writes: when the parent dies, even
 * by SIGKILL, the child reads end-of-file and stops, instead of training on unattended.
 */

/** Environment variable set by compare: stop when stdin ends. */
export const STOP_ON_STDIN_END = 'MOE_BALANCE_STOP_ON_STDIN_END';

export interface StopRequest {
  requested: boolean;
}

/** Installs the handlers; call the returned function to remove the SIGINT handler when training is over. */
export function watchStopRequests(stop: StopRequest, say: (line: string) => void = (l) => console.error(l)): () => void {
  const onSigint = () => {
    if (stop.requested) process.exit(130);
    stop.requested = true;
    say('\ninterrupt: stopping after this step (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);
  if (process.env[STOP_ON_STDIN_END] === '1') {
    const onParentGone = () => {
      if (stop.requested) return;
      stop.requested = true;
      say('\nthe parent process is gone: stopping after this step');
    };
    process.stdin.on('end', onParentGone);
    process.stdin.on('error', onParentGone);
    process.stdin.resume();
    // Watching stdin must not keep the process alive once training is over.
    (process.stdin as { unref?: () => void }).unref?.();
  }
  return () => process.off('SIGINT', onSigint);
}
