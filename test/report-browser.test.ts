/**
 * End-to-end: build a compare report from synthetic logs, open it in headless Chromium as a person
 * would, and check in the rendered DOM that the table and every chart are there and drawn.
 * Installs Chromium (scripts/ensure-chromium.sh) when it is missing; skips, saying why, only when that fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCompareReport } from '../src/compare/report.ts';
import { writeSyntheticRun } from './fixtures/compareLogs.ts';
import { chromiumOrReason, dumpDom, screenshot } from './helpers/chromium.ts';

const METHODS = ['auxloss', 'lossfree', 'bip'];
const LAYERS = 3;

/** The charts of a rendered page: data-chart name and the d attributes of their series paths. */
function renderedCharts(dom: string): { name: string; ds: string[] }[] {
  return [...dom.matchAll(/<svg\b([^>]*)>([\s\S]*?)<\/svg>/g)]
    .filter((m) => /class="chart"/.test(m[1]))
    .map((m) => ({
      name: /data-chart="([^"]*)"/.exec(m[1])?.[1] ?? '?',
      ds: [...m[2].matchAll(/<path\b[^>]*class="series"[^>]*>/g)].map((p) => /\sd="([^"]*)"/.exec(p[0])?.[1] ?? ''),
    }));
}

test('the compare report renders in headless Chromium with its table and every chart drawn', async (t) => {
  const { path, reason } = chromiumOrReason();
  if (!path) {
    console.log(`# skipped: ${reason}`);
    t.skip(reason);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'moe-report-browser-'));
  try {
    for (const method of METHODS) writeSyntheticRun(dir, { method, seed: 1, steps: 25, layers: LAYERS });
    const rep = buildCompareReport(dir);
    const dom = await dumpDom(rep.htmlPath, { chromium: path });

    // The results table: one row per method, every cell filled.
    const results = /<section id="results">([\s\S]*?)<\/section>/.exec(dom)?.[1] ?? '';
    const table = /<table>([\s\S]*?)<\/table>/.exec(results)?.[1] ?? '';
    const rows = [...table.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) => [...r[1].matchAll(/<t[dh][^>]*>([\s\S]*?)<\/t[dh]>/g)].map((c) => c[1].replace(/<[^>]+>/g, '')));
    assert.equal(rows.length, 1 + METHODS.length, 'header + one row per method');
    assert.deepEqual(rows.slice(1).map((r) => r[0]), METHODS);
    for (const r of rows.slice(1)) {
      assert.equal(r.length, rows[0].length);
      assert.match(r[2], /^\d+\.\d\d$/, 'perplexity');
      assert.match(r[3], /^\d+\.\d{3}$/, 'AvgMaxVio');
    }

    // Every chart: a MaxVio panel per layer, validation and training loss (two panels each), step time.
    const charts = renderedCharts(dom);
    const names = charts.map((c) => c.name);
    for (let l = 0; l < LAYERS; l++) assert.ok(names.includes(`layer-${l}`), `MaxVio panel of layer ${l}`);
    for (const n of ['validation-loss-all-steps', 'validation-loss-second-half', 'training-loss-all-steps', 'training-loss-second-half', 'training-step-time']) {
      assert.ok(names.includes(n), `chart ${n} in ${names.join(', ')}`);
    }
    assert.equal(charts.length, LAYERS + 5);
    for (const c of charts) {
      const drawn = c.ds.filter((d) => /^M[\d.]+,[\d.]+L/.test(d));
      assert.equal(drawn.length, METHODS.length, `chart ${c.name}: one drawn line per method`);
    }
    // Nothing the page would fetch from elsewhere.
    assert.ok(!/<script|<link\b|<img\b|<iframe/i.test(dom));

    // And it paints: a PNG of a real size.
    const png = join(dir, 'report.png');
    await screenshot(rep.htmlPath, png, { chromium: path, width: 1280, height: 1600 });
    const bytes = readFileSync(png);
    assert.equal(bytes.subarray(1, 4).toString('ascii'), 'PNG');
    assert.ok(bytes.length > 20_000, `screenshot of ${bytes.length} bytes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
