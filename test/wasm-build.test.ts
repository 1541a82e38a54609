/**
 * The committed kernels (src/routing/wasm/kernelsWasm.ts) must be what their C source builds to: when
 * clang is installed (CI installs it: .ci/run), rebuild with scripts/build-wasm.sh and require the same
 * bytes. Without clang the comparison is skipped, and the test says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const COMMITTED = join(ROOT, 'src/routing/wasm/kernelsWasm.ts');

function hasClang(): boolean {
  return spawnSync('clang', ['--version'], { encoding: 'utf8' }).status === 0;
}

test('the committed wasm kernels equal a rebuild of src/routing/wasm/c (when clang is installed)', (t) => {
  if (!hasClang()) {
    t.skip('clang is not installed: the rebuild comparison was skipped (apt-get install -y clang lld)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'moe-wasm-build-'));
  try {
    const out = join(dir, 'kernelsWasm.ts');
    const r = spawnSync('bash', [join(ROOT, 'scripts/build-wasm.sh'), out], { encoding: 'utf8' });
    assert.equal(r.status, 0, `scripts/build-wasm.sh failed:\n${r.stdout}\n${r.stderr}`);
    const rebuilt = readFileSync(out, 'utf8');
    const committed = readFileSync(COMMITTED, 'utf8');
    assert.ok(rebuilt === committed, 'src/routing/wasm/kernelsWasm.ts differs from a rebuild of its C source: run `npm run build:wasm` and commit the result');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
