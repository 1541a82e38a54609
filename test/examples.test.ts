/** The README's runnable example runs and shows BIP balancing a skewed batch. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

test('examples/quickstart.ts runs and BIP beats plain top-k on MaxVio', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/quickstart.ts'], { encoding: 'utf8' });
  const [plain, bip] = [...out.matchAll(/MaxVio ([0-9.]+)/g)].map((x) => Number(x[1]));
  assert.ok(plain > 1, `plain top-k MaxVio ${plain}`);
  assert.ok(bip < 0.1, `BIP MaxVio ${bip}`);
});
