/**
 * The package as a user gets it: `npm pack` (which builds dist/ with tsc), install the tarball into a
 * temporary project offline, then
 * - a plain `node` script imports moe-balance, moe-balance/node and moe-balance/tfjs and routes a batch
 *   with bip (and a deep import is refused by the exports map);
 * - the installed `moe-balance` command routes a JSON file;
 * - a small TypeScript consumer type-checks against the shipped .d.ts (with @ts-expect-error lines that
 *   fail if the types were missing or `any`);
 * - headless Chromium loads the ESM build and routes the same batch, with the same loads as Node.
 * The dependencies are the repository's own node_modules, linked into the temporary project (npm keeps
 * a linked package that satisfies the range, so nothing is fetched).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromiumOrReason, dumpDom } from './helpers/chromium.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const N = 256;
const M = 8;
const K = 2;

/** Skewed scores from integer arithmetic only (bit-identical in Node and the browser); low ids popular. */
const SCORES_JS = `function scores(n, m) {
  const s = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    let z = 0;
    for (let j = 0; j < m; j++) z += s[i * m + j] = (1 + ((i * 7919 + j * 104729) % 97)) * (m - j) * (m - j);
    for (let j = 0; j < m; j++) s[i * m + j] /= z;
  }
  return s;
}`;

const NODE_SCRIPT = `import * as tf from '@tensorflow/tfjs';
import { createBalancer, maxVio } from 'moe-balance';
import { readNpy, writeNpy } from 'moe-balance/node';
import { BalancedMoe, setBackend } from 'moe-balance/tfjs';
${SCORES_JS}
const [n, m, k] = [${N}, ${M}, ${K}];
const s = scores(n, m);
const r = createBalancer('bip').route(s, n, m, k);
const top = createBalancer('topk').route(s, n, m, k);
let distinct = true;
for (let i = 0; i < n; i++) distinct &&= new Set(r.experts.subarray(i * k, i * k + k)).size === k;
writeNpy('scores.npy', s, [n, m]);
const back = readNpy('scores.npy');
let deep = 'allowed';
try { await import('moe-balance/dist/routing/bip.js'); } catch (e) { deep = e.code; }
await setBackend('cpu');
const moe = new BalancedMoe({ dim: 16, numExperts: 4, expertHidden: 8, k: 2, method: 'bip' });
const out = moe.apply(tf.randomNormal([32, 16], 0, 1, 'float32', 1));
console.log(JSON.stringify({
  loads: Array.from(r.loads), maxVio: maxVio(r.loads, n, k), topkMaxVio: maxVio(top.loads, n, k), distinct,
  npy: back.shape.join('x') + ' ' + back.dtype + ' ' + back.data.every((v, x) => v === s[x]),
  deep, moe: { y: out.y.shape, loads: Array.from(out.route.loads), variables: moe.variables.length },
}));
`;

const CONSUMER_TS = `import * as tf from '@tensorflow/tfjs';
import { createBalancer, maxVio, parseNpy, type Balancer, type RouteResult } from 'moe-balance';
import { readNpy } from 'moe-balance/node';
import { BalancedMoe, type BalancedMoeOptions, type MoeOutput } from 'moe-balance/tfjs';

const b: Balancer = createBalancer('bip', { iters: 4 });
const r: RouteResult = b.route(new Float32Array(8), 4, 2, 1);
export const vio: number = maxVio(r.loads, 4, 1);
export const ids: Int32Array = r.experts;
export const shape: number[] = readNpy('scores.npy').shape;
export const parsed: number[] = parseNpy(new Uint8Array(0)).shape;
const opts: BalancedMoeOptions = { dim: 8, numExperts: 4, expertHidden: 16, k: 2, method: 'bip' };
const out: MoeOutput = new BalancedMoe(opts).apply(tf.zeros([4, 8]) as tf.Tensor2D);
export const y: tf.Tensor2D = out.y;
// @ts-expect-error: scores are a Float32Array, not a string
b.route('scores', 4, 2, 1);
// @ts-expect-error: BalancedMoeOptions needs experts
export const bad: BalancedMoeOptions = { dim: 8, expertHidden: 16, k: 2 };
`;

const PAGE = `<!doctype html><html><head><meta charset="utf-8">
<script type="importmap">{"imports":{"moe-balance":"./node_modules/moe-balance/dist/index.js"}}</script></head>
<body><pre id="out">not run</pre><script type="module">
import { createBalancer, maxVio } from 'moe-balance';
${SCORES_JS}
const [n, m, k] = [${N}, ${M}, ${K}];
const r = createBalancer('bip').route(scores(n, m), n, m, k);
document.getElementById('out').textContent = JSON.stringify({ loads: Array.from(r.loads), maxVio: maxVio(r.loads, n, k) });
</script></body></html>
`;

/** The environment without npm's per-run settings (npm test sets npm_config_* for its children). */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));
}

function link(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  symlinkSync(from, to, 'dir');
}

test('npm pack -> install offline -> node, the bin, tsc and Chromium all use the package', { timeout: 180_000 }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'moe-package-'));
  const env = cleanEnv();
  const npm = (args: string[], cwd: string) => run('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
  try {
    // Pack (prepare builds dist/); the tarball holds what a user needs and nothing else.
    const packed = JSON.parse((await npm(['pack', '--json', '--pack-destination', tmp], ROOT)).stdout.replace(/^[^[]*/, '')) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = packed[0].files.map((f) => f.path);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/tfjs.js', 'dist/tfjs.d.ts', 'dist/cli/main.js', 'bin/moe-balance.js', 'configs/moe16.json']) {
      assert.ok(files.includes(f), `${f} in the tarball`);
    }
    const stray = files.filter((f) => !/^(dist|bin|configs)\//.test(f) && !['package.json', 'README.md'].includes(f));
    assert.deepEqual(stray, [], 'nothing outside dist/, bin/, configs/ (no src, tests, bench, results)');

    // A fresh project that depends on the tarball; its dependencies are linked from this repository.
    const proj = join(tmp, 'project');
    mkdirSync(proj);
    writeFileSync(
      join(proj, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { 'moe-balance': `file:../${packed[0].filename}` } }),
    );
    const deps = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
    for (const d of deps) link(join(ROOT, 'node_modules', d), join(proj, 'node_modules', d));
    await npm(['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], proj);
    // What a TypeScript user has next to the package (after the install, which would prune it).
    link(join(ROOT, 'node_modules', '@types', 'node'), join(proj, 'node_modules', '@types', 'node'));
    assert.ok(!readFileSync(join(proj, 'node_modules', 'moe-balance', 'package.json'), 'utf8').includes('"src/index.ts"'));

    writeFileSync(join(proj, 'route.mjs'), NODE_SCRIPT);
    writeFileSync(join(proj, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(
      join(proj, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['consumer.ts'] }),
    );
    writeFileSync(join(proj, 'index.html'), PAGE);
    writeFileSync(join(proj, 'rows.json'), JSON.stringify([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.8, 0.1, 0.1]]));

    const { path: chromium, reason } = chromiumOrReason();
    const [nodeOut, binOut, tscOut, dom] = await Promise.all([
      run(process.execPath, ['route.mjs'], { cwd: proj, env }),
      run(join(proj, 'node_modules', '.bin', 'moe-balance'), ['route', '--method', 'bip', '--k', '1', '--input', 'rows.json', '--output', 'out.json'], { cwd: proj, env }),
      run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', proj], { cwd: proj, env }).catch((e: { stdout: string }) => ({ stdout: `tsc failed:\n${e.stdout}` })),
      chromium ? dumpDom(join(proj, 'index.html'), { chromium, args: ['--allow-file-access-from-files'] }) : Promise.resolve(undefined),
    ]);

    const got = JSON.parse(nodeOut.stdout) as {
      loads: number[];
      maxVio: number;
      topkMaxVio: number;
      distinct: boolean;
      npy: string;
      deep: string;
      moe: { y: number[]; loads: number[]; variables: number };
    };
    assert.equal(got.loads.reduce((a, b) => a + b, 0), N * K, 'loads sum to n*k');
    assert.ok(got.distinct, 'k distinct experts per token');
    assert.ok(got.topkMaxVio > 1 && got.maxVio < got.topkMaxVio / 2, `bip balances (MaxVio ${got.maxVio} vs top-k ${got.topkMaxVio})`);
    assert.equal(got.npy, `${N}x${M} float32 true`, '.npy written and read back through moe-balance/node');
    assert.equal(got.deep, 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'the exports map hides dist/ internals');
    assert.deepEqual(got.moe.y, [32, 16]);
    assert.equal(got.moe.loads.reduce((a, b) => a + b, 0), 64);
    assert.equal(got.moe.variables, 1 + 2 * 4);

    const routed = JSON.parse(readFileSync(join(proj, 'out.json'), 'utf8')) as { loads: number[] };
    assert.deepEqual(routed.loads.reduce((a, b) => a + b, 0), 4, `the installed bin routes (${binOut.stderr})`);

    assert.equal(tscOut.stdout.trim(), '', 'the consumer type-checks against the shipped .d.ts');

    if (!chromium) {
      console.log(`# browser part skipped: ${reason}`);
      t.diagnostic(`browser part skipped: ${reason}`);
      return;
    }
    const shown = /<pre id="out">([^<]*)<\/pre>/.exec(dom ?? '')?.[1] ?? '';
    assert.notEqual(shown, 'not run', 'the module ran in Chromium');
    const browser = JSON.parse(shown) as { loads: number[]; maxVio: number };
    assert.deepEqual(browser, { loads: got.loads, maxVio: got.maxVio }, 'Chromium routes the batch exactly as Node does');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
