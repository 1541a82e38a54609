// `moe-balance route` with sinkhorn, expertchoice, a capacity factor and group-limited routing: the CLI's
// JSON against the routing core on the same fixture, and the option checks (one line, exit 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readNpy } from '../src/io/npy.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { groupMaxVio } from '../src/routing/metrics.ts';
import { expertsPerToken, pairEnd, pairStart } from '../src/routing/ragged.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SCORES = join(ROOT, 'test', 'fixtures', 'route_scores_64x8.npy');
const S = readNpy(SCORES).data as Float32Array;
const [N, M] = [64, 8];

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'moe-balance.js'), 'route', '--input', SCORES, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('route: sinkhorn, expertchoice and topk with capacity factor and groups match the routing core', () => {
  const cases: [string[], string, Record<string, unknown>, number][] = [
    [['--method', 'sinkhorn', '--iters', '3', '--tau', '0.5'], 'sinkhorn', { iters: 3, tau: 0.5 }, 2],
    [['--method', 'expertchoice', '--capacity-factor', '1.5', '--k', '1'], 'expertchoice', { capacityFactor: 1.5 }, 1],
    [['--method', 'topk', '--capacity-factor', '1', '--drop-policy', 'position', '--groups', '4', '--topk-groups', '2'], 'topk', { capacityFactor: 1, dropPolicy: 'position', groups: 4, topkGroups: 2 }, 2],
  ];
  for (const [args, method, options, k] of cases) {
    const r = cli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { experts: number[][]; loads: number[]; dropped?: number; expertsPerToken?: number[]; groupMaxVio?: number };
    const ref = createBalancer(method, options).route(S, N, M, k);
    assert.deepEqual(out.experts, Array.from({ length: N }, (_, i) => Array.from(ref.experts.subarray(pairStart(ref, i), pairEnd(ref, i)))), args.join(' '));
    assert.deepEqual(out.loads, Array.from(ref.loads));
    assert.equal(out.dropped, ref.dropped);
    assert.deepEqual(out.expertsPerToken, ref.offsets ? Array.from(expertsPerToken(ref)) : undefined);
    if (options.groups) assert.equal(out.groupMaxVio, groupMaxVio(ref.loads, 4, N, k));
  }
});

test('route: a new option on the wrong method is one line and exit 2', () => {
  for (const [args, re] of [
    [['--method', 'quantile', '--groups', '4', '--topk-groups', '2'], /--groups is an option of method/],
    [['--method', 'sinkhorn', '--truncate', 'q'], /--truncate is an option of method/],
    [['--method', 'expertchoice', '--drop-policy', 'score'], /--drop-policy is an option of methods .*, not of expertchoice/],
    [['--method', 'topk', '--groups', '3', '--topk-groups', '1'], /does not divide/],
  ] as [string[], RegExp][]) {
    const r = cli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${r.stderr}`);
  }
});
