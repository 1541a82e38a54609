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

test('examples/tfjs-layer.ts trains a TensorFlow.js model through the balanced MoE layer, balanced throughout', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/tfjs-layer.ts'], { encoding: 'utf8' });
  const steps = [...out.matchAll(/step (\d+): loss ([0-9.]+), MaxVio ([0-9.]+)/g)].map((x) => ({ loss: Number(x[2]), vio: Number(x[3]) }));
  assert.equal(steps.length, 4, out);
  assert.ok(steps[3].loss < steps[0].loss / 4, `loss falls: ${steps.map((s) => s.loss).join(' -> ')}`);
  for (const s of steps) assert.ok(s.vio < 0.2, `MaxVio ${s.vio}`);
  assert.match(out, /balancer state after training: \{"q":\[/);
});
