/**
 * A self-contained HTML page: inline CSS, inline SVG, no scripts, no external fonts or links, so a
 * report opens offline and prints cleanly.
 *
 *   renderPage({ title: 'Compare', intro: '<p>…</p>', meta: { command: '…' },
 *                sections: [{ heading: 'Results', html: htmlTable([...], [[...]]) }] })
 */
import { escapeXml, legendSvg, slug } from './svg.ts';
import type { Align } from './markdown.ts';

export interface Section {
  heading: string;
  /** Trusted HTML (built by the report code, with user text escaped). */
  html: string;
}

export interface PageOptions {
  title: string;
  /** Trusted HTML shown under the title. */
  intro: string;
  /** Key/value facts (command, configuration, versions, machine); values are text, shown as code when multi-line. */
  meta: Record<string, string>;
  sections: Section[];
}

export const escapeHtml = escapeXml;

const CSS = `
*{box-sizing:border-box}
body{margin:0;background:#f6f7f9;color:#1d2330;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 32px 48px}
h1{font-size:26px;margin:0 0 6px}
h2{font-size:19px;margin:34px 0 10px;padding-bottom:4px;border-bottom:1px solid #dde1e7}
h3{font-size:16px;margin:20px 0 8px}
sub{line-height:0}
p{margin:6px 0 10px;max-width:880px}
nav{font-size:13px;margin:10px 0 0}
nav a{color:#3d5a80;text-decoration:none;margin-right:14px}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 12px;overflow:auto;max-height:420px;margin:0;white-space:pre-wrap;word-break:break-word}
table{border-collapse:collapse;background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:0;font-size:14px}
.table-wrap{overflow-x:auto;max-width:100%;margin:8px 0 14px}
.tables{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
.tables h3{margin-top:6px}
table.compact{font-size:13px}
table.compact th,table.compact td{padding:5px 9px}
th,td{padding:6px 12px;border-bottom:1px solid #eceff3;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.center,th.center{text-align:center}
tbody tr:nth-child(even) td{background:#fafbfc}
table.meta th{width:170px;background:#fff;border-right:1px solid #eceff3}
table.meta td{width:100%}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:7px;vertical-align:-1px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
svg.chart{display:block;max-width:100%;height:auto;border:1px solid #dde1e7;border-radius:6px;background:#fff}
.grid svg.chart{width:100%}
.card{margin:8px 0 14px}
.legend-row{margin:4px 0 8px}
.note{color:#5b6475;font-size:13px}
@media print{body{background:#fff}main{padding:0}}
`;

/** An HTML table; `align[i]` 'right' marks column i numeric (right-aligned, tabular figures). Cells are escaped text. */
export function htmlTable(headers: string[], rows: string[][], align: Align[] = [], opts: { className?: string; htmlCells?: boolean } = {}): string {
  const cls = (i: number): string => (align[i] === 'right' ? ' class="num"' : align[i] === 'center' ? ' class="center"' : '');
  const esc = opts.htmlCells ? (s: string) => s : escapeHtml;
  const head = `<thead><tr>${headers.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('')}</tr></thead>`;
  const body = rows.map((r) => `<tr>${headers.map((_, i) => `<td${cls(i)}>${esc(r[i] ?? '')}</td>`).join('')}</tr>`).join('\n');
  return `<div class="table-wrap"><table${opts.className ? ` class="${escapeHtml(opts.className)}"` : ''}>${head}<tbody>\n${body}\n</tbody></table></div>`;
}

/** A single chart in a readable-width card. */
export function chartCard(svg: string, note?: string): string {
  return `<div class="card">${svg}${note ? `<p class="note">${escapeHtml(note)}</p>` : ''}</div>`;
}

/**
 * A responsive grid of chart panels with one shared legend above it; panels are at least
 * `minPanelWidth` px wide (default 340: three per row on a laptop screen).
 */
export function chartGrid(charts: string[], legendNames: string[] = [], colors?: Readonly<Record<string, string>>, minPanelWidth = 340): string {
  const legend = legendNames.length > 0 ? `<div class="legend-row">${legendSvg(legendNames, colors)}</div>` : '';
  const style = minPanelWidth === 340 ? '' : ` style="grid-template-columns:repeat(auto-fill,minmax(${minPanelWidth}px,1fr))"`;
  return `${legend}<div class="grid"${style}>\n${charts.join('\n')}\n</div>`;
}

function metaTable(meta: Record<string, string>): string {
  const rows = Object.entries(meta).map(([k, v]) => {
    const value = v.includes('\n') || v.length > 160 ? `<pre>${escapeHtml(v)}</pre>` : `<code>${escapeHtml(v)}</code>`;
    return `<tr><th>${escapeHtml(k)}</th><td>${value}</td></tr>`;
  });
  return `<div class="table-wrap"><table class="meta"><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

/** The whole page as one HTML string. */
export function renderPage({ title, intro, meta, sections }: PageOptions): string {
  const all: Section[] = [...sections];
  if (Object.keys(meta).length > 0) all.push({ heading: 'Run details', html: metaTable(meta) });
  const ids = new Map<string, number>();
  const anchor = (h: string): string => {
    const base = slug(h);
    const n = ids.get(base) ?? 0;
    ids.set(base, n + 1);
    return n === 0 ? base : `${base}-${n + 1}`;
  };
  const withIds = all.map((s) => ({ ...s, id: anchor(s.heading) }));
  const nav = withIds.map((s) => `<a href="#${s.id}">${escapeHtml(s.heading)}</a>`).join('');
  const body = withIds.map((s) => `<section id="${s.id}">\n<h2>${escapeHtml(s.heading)}</h2>\n${s.html}\n</section>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${intro}
<nav>${nav}</nav>
${body}
</main>
</body>
</html>
`;
}
