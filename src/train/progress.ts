/**
 * Progress of a training run: a cli-progress bar on a terminal, plain lines every `every` steps
 * otherwise (logs, CI, pipes), nothing when quiet.
 */
import cliProgress from 'cli-progress';

export interface ProgressInfo {
  step: number;
  loss: number;
  tokensPerSec: number;
  maxVio: number;
  lr: number;
}

export interface Progress {
  start(total: number, from: number): void;
  update(p: ProgressInfo): void;
  message(text: string): void;
  stop(): void;
}

export function makeProgress(opts: { quiet?: boolean; every: number; stream?: NodeJS.WriteStream }): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { start() {}, update() {}, message() {}, stop() {} };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: 'train [{bar}] {value}/{total} | loss {loss} | {tps} tok/s | maxVio {vio} | eta {eta_formatted}',
        stream,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    return {
      start: (total, from) => bar.start(total, from, { loss: '-', tps: '-', vio: '-' }),
      update: (p) => bar.update(p.step, { loss: p.loss.toFixed(3), tps: Math.round(p.tokensPerSec), vio: p.maxVio.toFixed(2) }),
      message: (text) => {
        // Print above the bar without breaking it.
        stream.write('\r\x1b[K' + text + '\n');
        bar.render();
      },
      stop: () => bar.stop(),
    };
  }
  let total = 0;
  return {
    start: (t, from) => {
      total = t;
      stream.write(`train: steps ${from + 1}..${t}\n`);
    },
    update: (p) => {
      if (p.step % opts.every === 0 || p.step === total) {
        stream.write(
          `step ${p.step}/${total} loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(2)} ` +
            `${Math.round(p.tokensPerSec)} tok/s maxVio ${p.maxVio.toFixed(3)}\n`,
        );
      }
    },
    message: (text) => stream.write(text + '\n'),
    stop: () => {},
  };
}
