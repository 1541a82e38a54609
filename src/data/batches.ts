/**
 * Language-model batches from a token array. A batch holds B windows of T tokens, row-major [B, T];
 * y is x shifted by one token (y[b, t] is the token after x[b, t]).
 *
 * Training (BatchSampler): each row starts at a uniform random offset in [0, N - T - 1], drawn from a
 * seeded Rng; the state is the Rng state plus the step count, so a resumed run sees the same batches.
 * Evaluation (evalBatches): non-overlapping windows from the start, window i at offset i * T, full
 * batches only, always the same for the same tokens.
 */
import { Rng } from '../util/rng.ts';

export interface Batch {
  /** Inputs, [B, T] row-major. */
  x: Int32Array;
  /** Targets, [B, T]: y[b, t] = token after x[b, t]. */
  y: Int32Array;
}

export interface SamplerState {
  rng: number;
  step: number;
}

export class BatchSampler {
  private readonly rng: Rng;
  private step = 0;

  constructor(
    private readonly tokens: Int32Array,
    private readonly batchSize: number,
    private readonly seqLen: number,
    seed: number,
  ) {
    checkShape('BatchSampler', tokens, batchSize, seqLen);
    this.rng = new Rng(seed);
  }

  next(): Batch {
    const B = this.batchSize;
    const T = this.seqLen;
    const x = new Int32Array(B * T); // [B, T]
    const y = new Int32Array(B * T); // [B, T]
    const starts = this.tokens.length - T; // valid starts: 0 .. N - T - 1, so start + T is in range
    for (let b = 0; b < B; b++) {
      const s = this.rng.int(starts);
      x.set(this.tokens.subarray(s, s + T), b * T);
      y.set(this.tokens.subarray(s + 1, s + T + 1), b * T);
    }
    this.step++;
    return { x, y };
  }

  getState(): SamplerState {
    return { rng: this.rng.getState(), step: this.step };
  }

  setState(s: SamplerState): void {
    if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`BatchSampler: bad step ${s.step} in state`);
    this.rng.setState(s.rng);
    this.step = s.step;
  }
}

/** The first maxBatches (default: all) full batches of non-overlapping windows, in order. */
export function evalBatches(tokens: Int32Array, batchSize: number, seqLen: number, maxBatches = Infinity): Batch[] {
  checkShape('evalBatches', tokens, batchSize, seqLen);
  if (!(maxBatches >= 1)) throw new Error(`evalBatches: maxBatches must be >= 1, got ${maxBatches}`);
  const T = seqLen;
  const windows = Math.floor((tokens.length - 1) / T);
  if (windows < batchSize) {
    throw new Error(
      `evalBatches: ${tokens.length} tokens give ${windows} windows of seqLen=${T}; ` +
        `one batch needs batchSize*seqLen+1=${batchSize * T + 1} tokens`,
    );
  }
  const nBatches = Math.min(Math.floor(windows / batchSize), Math.floor(maxBatches));
  const out: Batch[] = [];
  for (let i = 0; i < nBatches; i++) {
    const x = new Int32Array(batchSize * T); // [B, T]
    const y = new Int32Array(batchSize * T); // [B, T]
    for (let b = 0; b < batchSize; b++) {
      const s = (i * batchSize + b) * T;
      x.set(tokens.subarray(s, s + T), b * T);
      y.set(tokens.subarray(s + 1, s + T + 1), b * T);
    }
    out.push({ x, y });
  }
  return out;
}

function checkShape(who: string, tokens: Int32Array, batchSize: number, seqLen: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`${who}: batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new Error(`${who}: seqLen must be a positive integer, got ${seqLen}`);
  if (tokens.length < seqLen + 1) {
    throw new Error(`${who}: split too small: ${tokens.length} tokens, need at least seqLen+1=${seqLen + 1}`);
  }
}
