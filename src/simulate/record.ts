/**
 * One line of log.jsonl: the metrics of one method on one layer at one step.
 * Key order is fixed (it is part of the byte-identical log). Numbers are rounded (see `round`) so that
 * the log is compact and a report rebuilt from it shows exactly what the run printed.
 */
export interface StepRecord {
  /** 1-based step. */
  step: number;
  /** 0-based layer. */
  layer: number;
  /** Method label, e.g. 'bip-T2'. */
  method: string;
  /** (max_j load_j - L̄) / L̄, L̄ = k·n/m. */
  maxVio: number;
  /** (min_j load_j - L̄) / L̄ (-1 means a dead expert). */
  minVio: number;
  /** Σ chosen scores / Σ scores chosen by plain top-k on the same batch. */
  retention: number;
  /** Σ chosen scores / the exact LP optimum at capacity ceil(k·n/m); present only when the LP was solved. */
  retentionOpt?: number;
  /** With a capacity factor: (token, expert) pairs dropped over capacity, and their share of n·k. */
  dropped?: number;
  droppedShare?: number;
  /** Ragged routings (Expert Choice, dropping): share of tokens with no expert, and tokens with 0..m experts. */
  unrouted?: number;
  perToken?: number[];
  /** MaxVio over expert groups (devices), with --groups G or a method's own groups option. */
  groupMaxVio?: number;
  /** Wall-clock ms of the route() call (performance.now()), or null with --timing off. */
  routingMs: number | null;
  /** With --shards W: the most bytes one shard sent in this call, and the collectives it took. */
  shardBytes?: number;
  shardRounds?: number;
}

/** Rounds to 6 decimals: metrics are ratios of integers or of sums of n·k floats, 1e-6 is below their noise. */
export function round(x: number, decimals = 6): number {
  const f = 10 ** decimals;
  const r = Math.round(x * f) / f;
  return Object.is(r, -0) ? 0 : r;
}

/** The JSON line for a record, with keys in the documented order. */
export function recordLine(r: StepRecord): string {
  const o: Record<string, unknown> = {
    step: r.step,
    layer: r.layer,
    method: r.method,
    maxVio: r.maxVio,
    minVio: r.minVio,
    retention: r.retention,
  };
  if (r.retentionOpt !== undefined) o.retentionOpt = r.retentionOpt;
  for (const key of ['dropped', 'droppedShare', 'unrouted', 'perToken', 'groupMaxVio'] as const) if (r[key] !== undefined) o[key] = r[key];
  o.routingMs = r.routingMs;
  if (r.shardBytes !== undefined) {
    o.shardBytes = r.shardBytes;
    o.shardRounds = r.shardRounds;
  }
  return JSON.stringify(o);
}

/** Parses log.jsonl text back into records (for reports); throws on a malformed line. */
export function parseLog(text: string): StepRecord[] {
  const out: StepRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let r: StepRecord;
    try {
      r = JSON.parse(line) as StepRecord;
    } catch {
      throw new Error(`log line ${i + 1} is not JSON`);
    }
    for (const key of ['step', 'layer', 'maxVio', 'minVio', 'retention'] as const) {
      if (typeof r[key] !== 'number') throw new Error(`log line ${i + 1}: '${key}' is missing or not a number`);
    }
    if (typeof r.method !== 'string') throw new Error(`log line ${i + 1}: 'method' is missing`);
    out.push(r);
  });
  return out;
}
