/** Headless Chromium for the browser tests: found, or installed by scripts/ensure-chromium.sh, or a reason to skip. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findChromium } from '../../src/report/browser.ts';

export function chromiumOrReason(): { path?: string; reason?: string } {
  let path = findChromium();
  if (!path) {
    const script = fileURLToPath(new URL('../../scripts/ensure-chromium.sh', import.meta.url));
    const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 600_000 });
    const said = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').at(-1) ?? '';
    path = findChromium();
    if (!path) return { reason: `chromium is not installed and could not be installed (${said})` };
  }
  return { path };
}
