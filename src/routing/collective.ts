/**
 * Collectives for sharded balancing (the paper's Algorithm 4 setting: a batch split over W shards, each
 * holding the scores of its own tokens). A shard's part of a balancer call is written as a generator, a
 * `ShardProgram`: every `yield` is one collective (what this shard contributes), and the value the
 * generator receives back is the merged result, identical on every shard. The same program then runs
 *
 *   - in one process, W programs in lockstep (`runShards`, used by the tests and `simulate --shards`), or
 *   - in W threads or processes, each calling its own transport at every yield (`runProgram`).
 *
 * The three collectives are the torch.distributed / NCCL ones of the same name:
 *   sum    → all_reduce(SUM)   elementwise sum of equal-length arrays (integer counts: exact)
 *   max    → all_reduce(MAX)   elementwise maximum
 *   gather → all_gather        (variable length) every shard's array, in shard order
 */
import { InputError } from './errors.ts';

export type CollectiveOp = 'sum' | 'max' | 'gather';
export type NumArray = Float64Array | Int32Array;

/** One shard's contribution to one collective. */
export interface Collective {
  op: CollectiveOp;
  data: NumArray;
}

/** The merged result: an array like the contribution for sum / max, every shard's array for gather. */
export type CollectiveResult = NumArray | NumArray[];

/** One shard's part of a sharded computation with result R. */
export type ShardProgram<R> = Generator<Collective, R, CollectiveResult>;

/** all_reduce(SUM): `const total = yield* allReduceSum(local)`. */
export function* allReduceSum<T extends NumArray>(data: T): Generator<Collective, T, CollectiveResult> {
  return (yield { op: 'sum', data }) as T;
}

/** all_reduce(MAX). */
export function* allReduceMax(data: Float64Array): Generator<Collective, Float64Array, CollectiveResult> {
  return (yield { op: 'max', data }) as Float64Array;
}

/** all_gather of variable-length arrays: every shard's contribution, in shard order. */
export function* allGather(data: Float64Array): Generator<Collective, Float64Array[], CollectiveResult> {
  return (yield { op: 'gather', data }) as Float64Array[];
}

/** Merges the W contributions to one collective (shard order fixed, so the result is deterministic). */
export function mergeCollective(parts: Collective[]): CollectiveResult {
  const op = parts[0].op;
  for (const p of parts) {
    if (p.op !== op) throw new InputError(`sharded programs out of step: collective '${p.op}' against '${op}'`);
    if (op !== 'gather' && (p.data.length !== parts[0].data.length || p.data.constructor !== parts[0].data.constructor)) {
      throw new InputError(`sharded programs out of step: '${op}' of ${p.data.length} against ${parts[0].data.length} elements`);
    }
  }
  if (op === 'gather') return parts.map((p) => p.data);
  const out = parts[0].data.slice();
  for (let w = 1; w < parts.length; w++) {
    const d = parts[w].data;
    if (op === 'sum') for (let x = 0; x < out.length; x++) out[x] += d[x];
    else for (let x = 0; x < out.length; x++) if (d[x] > out[x]) out[x] = d[x];
  }
  return out;
}

/** What the shards exchanged. */
export interface CommStats {
  /** Collectives run (each is one synchronisation of all shards). */
  rounds: number;
  /** Bytes each shard contributed, summed over the collectives. */
  bytesSent: number[];
}

/**
 * Runs W shard programs in lockstep in this process: at each step every program yields one collective,
 * they are merged and the result is handed back to each. All must finish at the same step.
 */
export function runShards<R>(programs: ShardProgram<R>[]): { results: R[]; comm: CommStats } {
  const W = programs.length;
  if (W < 1) throw new InputError('runShards: no shards');
  const bytesSent = new Array<number>(W).fill(0);
  let rounds = 0;
  let steps = programs.map((p) => p.next(undefined as unknown as CollectiveResult));
  for (;;) {
    const done = steps.filter((s) => s.done).length;
    if (done === W) return { results: steps.map((s) => s.value as R), comm: { rounds, bytesSent } };
    if (done > 0) throw new InputError('sharded programs out of step: some shards finished before others');
    const parts = steps.map((s) => s.value as Collective);
    parts.forEach((p, w) => (bytesSent[w] += p.data.byteLength));
    rounds++;
    const merged = mergeCollective(parts);
    steps = programs.map((p) => p.next(merged));
  }
}

/** A shard's link to the others: performs one collective and returns the merged result (blocking). */
export type Transport = (c: Collective) => CollectiveResult;

/** Runs one shard's program over a transport (threads, processes, a cluster's collectives). */
export function runProgram<R>(program: ShardProgram<R>, transport: Transport): R {
  let step = program.next(undefined as unknown as CollectiveResult);
  while (!step.done) step = program.next(transport(step.value));
  return step.value;
}
