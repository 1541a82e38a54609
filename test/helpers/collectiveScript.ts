/**
 * A script of collectives for test/worker-group.test.ts: collective c contributes values known from
 * (rank, c) alone, so every rank can compute the expected merge; before each one a rank works for a
 * pseudo-random 0–300 µs, so that the ranks arrive in every order.
 */
import { mergeCollective, type Collective, type CollectiveOp } from '../../src/routing/collective.ts';
import type { WorkerGroup } from '../../src/train/workerGroup.ts';

const OPS: CollectiveOp[] = ['sum', 'max', 'gather'];

function contribution(rank: number, c: number): Collective {
  const op = OPS[c % 3];
  // gather: a length that differs by rank; sum / max: the same length on every rank.
  const len = op === 'gather' ? 1 + ((rank + c) % 4) : 1 + (c % 5);
  const data = Float64Array.from({ length: len }, (_, x) => Math.sin(1 + rank * 1000 + c * 7 + x));
  return { op, data };
}

/** Runs `count` collectives on this rank; returns how many results differed from the expected merge. */
export function runScript(group: WorkerGroup, count: number): number {
  let wrong = 0;
  let seed = 12345 + group.rank * 777;
  for (let c = 0; c < count; c++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const until = performance.now() + (seed % 300) / 1000;
    while (performance.now() < until);
    const got = group.transport(contribution(group.rank, c));
    const want = mergeCollective(Array.from({ length: group.W }, (_, w) => contribution(w, c)));
    if (JSON.stringify(Array.isArray(got) ? got.map((a) => Array.from(a)) : Array.from(got)) !== JSON.stringify(Array.isArray(want) ? want.map((a) => Array.from(a)) : Array.from(want))) wrong++;
  }
  return wrong;
}
