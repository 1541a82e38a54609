/**
 * CPU time per call (process.cpuUsage, user + system) of online BIP against top-k, Loss-Free and BIP
 * T = 4 on the routing benchmark's inputs: on a shared machine CPU time is steadier than wall-clock time,
 * whose medians in `npm run bench` swing several-fold under load. Ratios are what to read.
 *
 *   node --import tsx bench/onlineCpu.ts
 */
import { loadavg } from 'node:os';
import { createBalancer } from '../src/routing/factory.ts';
import { syntheticScores } from './routing.ts';

const METHODS: [string, string, Record<string, unknown>][] = [
  ['topk', 'topk', {}],
  ['lossfree', 'lossfree', {}],
  ['bip T=4', 'bip', { iters: 4 }],
  ['online', 'online', {}],
  ['online group=64', 'online', { group: 64 }],
];

console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (const [n, m, k] of [[4096, 16, 2], [16384, 64, 4]]) {
  const batches = [0, 1, 2].map((b) => syntheticScores(n, m, 1000 + b, 7));
  const reps = Math.max(10, Math.round(250000 / n));
  const cells: string[] = [];
  for (const [name, method, options] of METHODS) {
    const b = createBalancer(method, options);
    for (let w = 0; w < 5; w++) b.route(batches[w % 3], n, m, k);
    const c0 = process.cpuUsage();
    for (let r = 0; r < reps; r++) b.route(batches[r % 3], n, m, k);
    const c = process.cpuUsage(c0);
    const ms = (c.user + c.system) / 1000 / reps;
    cells.push(`${name} ${ms.toFixed(2)} ms (${(n / ms / 1000).toFixed(2)} M tokens per CPU-s)`);
  }
  console.log(`(${n}, ${m}, ${k}): ${cells.join('; ')}`);
}
