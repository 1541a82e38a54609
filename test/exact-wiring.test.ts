/**
 * `exact` wired into the tools: `route --method exact` on a .npy (loads <= c, certificate in the JSON,
 * state chained through --state), the trainer's config (method and options), compare's method list and
 * simulate's method specs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capacity } from '../src/routing/assign.ts';
import { createBalancer } from '../src/routing/factory.ts';
import { balancerOptions, resolveConfig } from '../src/train/config.ts';
import { checkMethods } from '../src/compare/run.ts';
import { parseMethodSpec } from '../src/routing/registry.ts';
import { readNpy } from '../src/io/npy.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SCORES = join(ROOT, 'test', 'fixtures', 'route_scores_64x8.npy'); // expert 0 favoured
const DIR = mkdtempSync(join(tmpdir(), 'exact-wiring-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

function route(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'moe-balance.js'), 'route', ...args], { cwd: DIR, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('route --method exact: loads within c, the certificate in the output, the state chained, options checked', () => {
  const state = join(DIR, 'state.json');
  const { data } = readNpy(SCORES);
  const scores = Float32Array.from(data as ArrayLike<number>);
  const [n, m, k] = [64, 8, 3]; // kn/m = 24
  for (let call = 0; call < 2; call++) {
    const r = route(['--method', 'exact', '--k', String(k), '--input', SCORES, '--state', state, ...(call === 1 ? ['--warm-iters', '1'] : [])]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { loads: number[]; certificate: { ok: boolean; feasible: boolean }; state: { q: number[] }; experts: number[][] };
    assert.ok(out.loads.every((l) => l <= capacity(n, m, k)), `loads ${out.loads}`);
    assert.ok(out.certificate.ok && out.certificate.feasible);
    assert.deepEqual(JSON.parse(readFileSync(state, 'utf8')), out.state);
    // The same routing as the balancer in-process, from the same state.
    const b = createBalancer('exact', call === 1 ? { warmIters: 1 } : {});
    if (call === 1) b.setState({ q: prevQ });
    assert.deepEqual(out.experts.flat(), Array.from(b.route(scores, n, m, k).experts));
    prevQ = out.state.q;
  }
  const bad = route(['--method', 'exact', '--input', SCORES, '--warm-iters', '1.5']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--warm-iters must be an integer from 0 to 10000, got '1.5'/);
  const other = route(['--method', 'bip', '--input', SCORES, '--warm-iters', '1']);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /--warm-iters is an option of method exact, not of bip/);
});
let prevQ: number[] = [];

test('train config: method exact with its options; compare and simulate know exact', () => {
  const c = resolveConfig({ flags: { method: 'exact' }, sets: ['exactOrder=route-then-update'] });
  const o = balancerOptions(c);
  assert.deepEqual([o.warmIters, o.order], [0, 'route-then-update']);
  assert.throws(() => resolveConfig({ flags: { method: 'bip' }, sets: ['exactWarmIters=2'] }), /option of method 'exact'/);
  assert.equal(checkMethods(['exact', 'bip']), undefined);
  const spec = parseMethodSpec('exact:order=route-then-update,warmIters=1');
  assert.equal(spec.method, 'exact');
  const b = createBalancer(spec.method, spec.options);
  assert.equal(b.method, 'exact');
});
