import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineChart, escapeXml, legendSvg } from '../src/report/svg.ts';
import { seriesColor, sortMethods, METHOD_COLORS } from '../src/report/colors.ts';
import { markdownTable } from '../src/report/markdown.ts';
import { fmtMeanSd, fmtPercent, fmtDuration, mean, sd, fmtNum } from '../src/report/format.ts';
import { renderPage, htmlTable, chartGrid } from '../src/report/html.ts';

/** The d attributes of the series paths of an SVG string. */
function seriesPaths(svg: string): { name: string; d: string }[] {
  return [...svg.matchAll(/<path class="series" data-series="([^"]*)" d="([^"]*)"/g)].map((m) => ({ name: m[1], d: m[2] }));
}

test('lineChart draws one path per series with its method colour', () => {
  const svg = lineChart({
    title: 'MaxVio',
    xLabel: 'step',
    yLabel: 'MaxVio',
    series: [
      { name: 'bip', x: [1, 2, 3], y: [0.5, 0.2, 0.1] },
      { name: 'auxloss', x: [1, 2, 3], y: [1.5, 1.2, 0.9] },
    ],
  });
  assert.ok(svg.startsWith('<svg'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const paths = seriesPaths(svg);
  assert.deepEqual(paths.map((p) => p.name), ['bip', 'auxloss']);
  for (const p of paths) assert.match(p.d, /^M[\d.]+,[\d.]+L[\d.]+,[\d.]+L[\d.]+,[\d.]+$/);
  assert.ok(svg.includes(`stroke="${METHOD_COLORS.bip}"`));
  assert.ok(svg.includes(`stroke="${METHOD_COLORS.auxloss}"`));
  // The higher series is drawn higher on the page (smaller y coordinate) at every step.
  const ys = (d: string) => [...d.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
  const [bipY, auxY] = [ys(paths[0].d), ys(paths[1].d)];
  bipY.forEach((v, i) => assert.ok(auxY[i] < v));
  // No external references or scripts.
  assert.ok(!/<script|href=|@import|url\(/i.test(svg));
});

test('lineChart leaves gaps at NaN and draws isolated points as dots', () => {
  const svg = lineChart({
    title: 'gaps',
    xLabel: 'x',
    yLabel: 'y',
    series: [
      { name: 'a', x: [1, 2, 3, 4, 5, 6], y: [1, 2, NaN, 4, 5, NaN] },
      { name: 'single', x: [3], y: [2] },
      { name: 'isolated', x: [1, 2, 3], y: [NaN, 3, NaN] },
    ],
  });
  const a = seriesPaths(svg).find((p) => p.name === 'a');
  assert.ok(a);
  assert.equal((a.d.match(/M/g) ?? []).length, 2, 'two segments around the NaN');
  const dots = [...svg.matchAll(/<circle class="point" data-series="([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual(dots.sort(), ['isolated', 'single']);
  assert.ok(!svg.includes('NaN'));
});

test('lineChart with no finite data says so, and log axis drops non-positive values', () => {
  const empty = lineChart({ title: 'e', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', x: [1], y: [NaN] }] });
  assert.ok(empty.includes('no data'));
  assert.equal(seriesPaths(empty).length, 0);
  const log = lineChart({ title: 'l', xLabel: 'x', yLabel: 'y', logY: true, series: [{ name: 'a', x: [1, 2, 3, 4], y: [10, 0, 100, 1000] }] });
  const d = seriesPaths(log)[0].d;
  assert.equal((d.match(/M/g) ?? []).length, 2, 'the first point alone, then one segment');
  assert.ok(log.includes('<circle class="point"'));
  assert.ok(!log.includes('NaN'));
});

test('escaping keeps user text out of the markup', () => {
  const svg = lineChart({ title: '<b>&', xLabel: 'x"', yLabel: 'y', series: [{ name: 'a<script>', x: [1, 2], y: [1, 2] }] });
  assert.ok(!svg.includes('<script>'));
  assert.ok(svg.includes('a&lt;script&gt;'));
  assert.equal(escapeXml(`<a href="x">&'`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
  assert.ok(legendSvg(['bip', 'x&y']).includes('x&amp;y'));
});

test('colours are stable per name and methods sort in the fixed order', () => {
  assert.equal(seriesColor('custom-method'), seriesColor('custom-method'));
  assert.equal(seriesColor('bip', { bip: '#000' }), '#000');
  assert.deepEqual(sortMethods(['zeta', 'bip', 'topk', 'alpha', 'auxloss', 'bip']), ['topk', 'auxloss', 'bip', 'alpha', 'zeta']);
});

test('markdownTable aligns and escapes', () => {
  const t = markdownTable(['method', 'ppl'], [['bip', '12.5 ± 0.1'], ['a|b', '3']], ['left', 'right']);
  const lines = t.split('\n');
  assert.equal(lines.length, 4);
  assert.equal(lines[0], '| method | ppl        |'.replace('| ppl        |', '|        ppl |'));
  assert.equal(lines[1], '| ------ | ---------: |');
  assert.equal(lines[2], '| bip    | 12.5 ± 0.1 |');
  assert.equal(lines[3], '| a\\|b   |          3 |');
  assert.throws(() => markdownTable(['a'], [['1', '2']]));
});

test('format helpers', () => {
  assert.equal(mean([1, 2, 3, NaN]), 2);
  assert.equal(sd([2, 4, 4, 4, 5, 5, 7, 9]).toFixed(4), '2.1381');
  assert.equal(fmtMeanSd([1, 2, 3], 2), '2.00 ± 1.00');
  assert.equal(fmtMeanSd([1.5], 2), '1.50');
  assert.equal(fmtMeanSd([], 2), '—');
  assert.equal(fmtNum(NaN), '—');
  assert.equal(fmtPercent(0.1234), '12.3%');
  assert.equal(fmtPercent(-0.13, 1, true), '−13.0%');
  assert.equal(fmtPercent(0.05, 0, true), '+5%');
  assert.equal(fmtDuration(950), '950 ms');
  assert.equal(fmtDuration(12_345), '12.3 s');
  assert.equal(fmtDuration(83_000), '1 min 23 s');
  assert.equal(fmtDuration(7_300_000), '2 h 1 min');
});

test('renderPage is one offline document with sections, nav and escaped meta', () => {
  const chart = lineChart({ title: 'c', xLabel: 'x', yLabel: 'y', series: [{ name: 'bip', x: [1, 2], y: [1, 2] }], legend: false });
  const html = renderPage({
    title: 'Report <1>',
    intro: '<p>intro</p>',
    meta: { command: 'moe-balance compare --x', config: '{\n  "a": 1\n}' },
    sections: [
      { heading: 'Results', html: htmlTable(['method', 'x'], [['bip', '1.0']], ['left', 'right']) },
      { heading: 'Charts', html: chartGrid([chart], ['bip']) },
    ],
  });
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.ok(html.includes('<title>Report &lt;1&gt;</title>'));
  assert.ok(html.includes('<section id="results">'));
  assert.ok(html.includes('<section id="charts">'));
  assert.ok(html.includes('<section id="run-details">'));
  assert.ok(html.includes('<td class="num">1.0</td>'));
  assert.ok(html.includes('<pre>{\n  &quot;a&quot;: 1\n}</pre>'));
  assert.ok(!/<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i.test(html), 'no external resources');
});
