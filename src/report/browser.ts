/**
 * Headless Chromium for tests and previews: dump the DOM a browser builds from a report page, or
 * take a PNG screenshot of it. Each call uses a fresh temporary profile and no network features,
 * so nothing is shared between calls and nothing is fetched.
 *
 *   const html = await dumpDom('runs/quick/report.html');
 *   await screenshot('runs/quick/report.html', '/tmp/report.png', { width: 1280, height: 3000 });
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface BrowserOptions {
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
export function findChromium(): string | undefined {
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
