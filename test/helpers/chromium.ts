/**
 * Headless Chromium for the browser tests: find it (or install it with scripts/ensure-chromium.sh, or
 * give the reason to skip), dump the DOM it builds from a page, or take a PNG screenshot of it. Each call
 * uses a fresh temporary profile and no network features, so nothing is shared between calls and nothing
 * is fetched.
 *
 *   const html = await dumpDom('runs/quick/report.html');
 *   await screenshot('runs/quick/report.html', '/tmp/report.png', { width: 1280, height: 3000 });
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface BrowserOptions {
  /** Chromium executable (default: findChromium()). */
  chromium?: string;
  /** Kill the browser after this many ms (default 90 000; the machine may be busy). */
  timeoutMs?: number;
  /** Viewport width in px (default 1280). */
  width?: number;
  /** Viewport height in px (default 2400); a screenshot shows exactly this much of the page. */
  height?: number;
  /** More Chromium flags, e.g. --allow-file-access-from-files for a page that imports ES modules from file: URLs. */
  args?: string[];
}

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/** The Chromium executable: $CHROMIUM_PATH if set, else the first Debian/Ubuntu location that exists. */
function findChromium(): string | undefined {
  const env = process.env.CHROMIUM_PATH;
  if (env) return existsSync(env) ? env : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

/** Flags that keep a headless run hermetic: no sandbox (containers run as root), no GPU, no background traffic. */
function baseFlags(profile: string, width: number, height: number): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    '--hide-scrollbars',
    `--user-data-dir=${profile}`,
    `--window-size=${width},${height}`,
  ];
}

function runChromium(args: string[], opts: BrowserOptions): Promise<string> {
  const exe = opts.chromium ?? findChromium();
  if (!exe) return Promise.reject(new Error('chromium not found (install it with scripts/ensure-chromium.sh or set CHROMIUM_PATH)'));
  const profile = mkdtempSync(join(tmpdir(), 'moe-balance-chromium-'));
  const flags = [...baseFlags(profile, opts.width ?? 1280, opts.height ?? 2400), ...(opts.args ?? []), ...args];
  return new Promise<string>((done, fail) => {
    execFile(exe, flags, { timeout: opts.timeoutMs ?? 90_000, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      rmSync(profile, { recursive: true, force: true });
      if (err) fail(new Error(`chromium failed: ${err.message}\n${stderr.slice(-2000)}`));
      else done(stdout);
    });
  });
}

/** The serialised DOM of an HTML file after Chromium has parsed and laid it out. */
export async function dumpDom(htmlPath: string, opts: BrowserOptions = {}): Promise<string> {
  const dom = await runChromium(['--dump-dom', pathToFileURL(resolve(htmlPath)).href], opts);
  if (!dom.includes('<html')) throw new Error('chromium returned no DOM');
  return dom;
}

/** Write a PNG screenshot of an HTML file (the top `height` pixels at `width`). */
export async function screenshot(htmlPath: string, pngPath: string, opts: BrowserOptions = {}): Promise<void> {
  await runChromium([`--screenshot=${resolve(pngPath)}`, pathToFileURL(resolve(htmlPath)).href], opts);
  if (!existsSync(pngPath)) throw new Error(`chromium wrote no screenshot at ${pngPath}`);
}

/** Chromium's path, after installing it with scripts/ensure-chromium.sh when missing; else the reason to skip. */
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
