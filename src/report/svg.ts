/**
 * Self-contained inline SVG line charts (no scripts, no fonts, no external references), built with
 * d3-scale for the axes and d3-shape for the paths, so a report opens offline in any browser.
 *
 *   lineChart({ title: 'MaxVio', xLabel: 'step', yLabel: 'MaxVio',
 *               series: [{ name: 'bip', x: [1, 2, 3], y: [0.4, 0.1, NaN] }] })
 *
 * Non-finite y values (NaN, ±Infinity; and y ≤ 0 on a log axis) leave a gap in the line; a point with no
 * drawable neighbour is drawn as a dot, so single-point series stay visible. Each series path carries
 * `class="series"` and `data-series="<name>"`, which the end-to-end test counts.
 */
import { scaleLinear, scaleLog, scaleSymlog } from 'd3-scale';
import { line } from 'd3-shape';
import { seriesColor } from './colors.ts';

export interface Series {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Width in SVG units (default 720); the chart scales down to its container. */
  width?: number;
  /** Height in SVG units (default 320). */
  height?: number;
  /** Logarithmic y axis (default false); points with y ≤ 0 become gaps. Same as yScale: 'log'. */
  logY?: boolean;
  /**
   * y axis: 'linear' (default), 'log' (y ≤ 0 become gaps) or 'symlog' (linear within ±symlogConstant of 0,
   * logarithmic beyond: keeps 0 drawable while a badly balanced baseline does not flatten the others).
   */
  yScale?: 'linear' | 'log' | 'symlog';
  /** Width of the linear region of a symlog axis (default 0.1). */
  symlogConstant?: number;
  /** Draw the legend at the right (default true); panels in a grid share one legend instead. */
  legend?: boolean;
  /** Colour per series name; names not in it use seriesColor(). */
  colors?: Readonly<Record<string, string>>;
  /** Values the y domain must include (e.g. [0] for MaxVio). */
  yInclude?: number[];
  /** Horizontal reference line (e.g. 0 for MaxVio = perfect balance), drawn dashed. */
  yRef?: number;
}

/** Escape text for SVG/HTML element content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A short id-safe slug of a title, used in data-chart attributes. */
export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'chart';
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"';
/** Rough width of a character at 12 px, to size the legend column without measuring text. */
const CHAR_W = 7;

/** Extent of the finite values accepted by `ok`, or undefined when there are none. */
function extent(values: number[], ok: (v: number) => boolean): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!ok(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

/** Widen a degenerate domain (one distinct value) so the scale has a non-zero span. */
function widen([lo, hi]: [number, number], log: boolean): [number, number] {
  if (lo < hi) return [lo, hi];
  if (log) return [lo / 2, hi * 2];
  const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
  return [lo - d, hi + d];
}

/** The smallest 1-2-5 × 10^e value ≥ v (v > 0). */
function niceUp(v: number): number {
  const e = Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * 10 ** e >= v * (1 - 1e-12)) return m * 10 ** e;
  return 10 ** (e + 1);
}

/** Ticks of a symlog axis: 0 and ±1-2-5 × 10^e inside the domain, at least `gap` px apart (0 and the ends first). */
function symlogTicks([lo, hi]: [number, number], px: (v: number) => number, gap: number): number[] {
  const cands = new Set<number>();
  if (lo <= 0 && hi >= 0) cands.add(0);
  const span = Math.max(Math.abs(lo), Math.abs(hi));
  for (let e = Math.floor(Math.log10(span)) - 4; e <= Math.ceil(Math.log10(span)); e++) {
    for (const m of [1, 2, 5]) {
      const v = Number((m * 10 ** e).toPrecision(3));
      if (v >= lo && v <= hi) cands.add(v);
      if (-v >= lo && -v <= hi) cands.add(-v);
    }
  }
  const keep: number[] = [];
  const ok = (v: number): boolean => keep.every((k) => Math.abs(px(k) - px(v)) >= gap);
  const priority = [...cands].sort((a, b) => {
    // Zero and the domain ends first, then the powers of ten, then 2s and 5s; larger magnitudes last.
    const rank = (v: number): number => (v === 0 || v === lo || v === hi ? 0 : Number.isInteger(Math.log10(Math.abs(v))) ? 1 : 2);
    return rank(a) - rank(b) || Math.abs(b) - Math.abs(a);
  });
  for (const v of priority) if (ok(v)) keep.push(v);
  return keep.sort((a, b) => a - b);
}

/** Render one line chart as an SVG string. */
export function lineChart(opts: LineChartOptions): string {
  const { title, xLabel, yLabel, series, width = 720, height = 320, legend = true, colors, yInclude = [], yRef, symlogConstant = 0.1 } = opts;
  const kind = opts.yScale ?? (opts.logY ? 'log' : 'linear');
  const logY = kind === 'log';
  const names = series.map((s) => s.name);
  const legendW = legend && series.length > 0 ? Math.min(200, 34 + CHAR_W * Math.max(...names.map((n) => n.length))) : 0;
  const margin = { top: 34, right: 16 + legendW, bottom: 44, left: 62 };
  let plotW = Math.max(40, width - margin.left - margin.right);
  const plotH = Math.max(40, height - margin.top - margin.bottom);

  const yOk = (v: number): boolean => Number.isFinite(v) && (!logY || v > 0);
  const allX: number[] = [];
  const allY: number[] = [];
  for (const s of series) {
    const len = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < len; i++) {
      if (Number.isFinite(s.x[i]) && yOk(s.y[i])) {
        allX.push(s.x[i]);
        allY.push(s.y[i]);
      }
    }
  }
  for (const v of yInclude) if (yOk(v)) allY.push(v);
  if (yRef !== undefined && yOk(yRef)) allY.push(yRef);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${escapeXml(slug(title))}" viewBox="0 0 ${width} ${height}" ` +
      `width="${width}" height="${height}" style="max-width:100%;height:auto" role="img" aria-label="${escapeXml(title)}" ${FONT} font-size="12">`,
  );
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${margin.left}" y="20" font-size="14" font-weight="600" fill="#222">${escapeXml(title)}</text>`);

  const xExt = extent(allX, Number.isFinite);
  const yExt = extent(allY, yOk);
  if (!xExt || !yExt) {
    out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#ccc"/>`);
    out.push(`<text x="${margin.left + plotW / 2}" y="${margin.top + plotH / 2}" text-anchor="middle" fill="#888">no data</text>`);
    out.push('</svg>');
    return out.join('\n');
  }

  let y: (v: number) => number;
  let yTicks: number[];
  let yFmt: (v: number) => string;
  const yTickCount = Math.max(2, Math.floor(plotH / 45));
  if (kind === 'symlog') {
    const [lo, hi] = widen(yExt, false);
    const dom: [number, number] = [lo >= 0 ? lo : -niceUp(-lo), hi <= 0 ? hi : niceUp(hi)];
    const sy = scaleSymlog().constant(symlogConstant).domain(dom).range([plotH, 0]);
    y = sy;
    yTicks = symlogTicks(dom, (v) => sy(v), 20);
    yFmt = (v) => String(Number(v.toPrecision(3)));
  } else {
    const sy = (logY ? scaleLog() : scaleLinear()).domain(widen(yExt, logY)).range([plotH, 0]).nice();
    y = sy;
    yFmt = sy.tickFormat(yTickCount);
    yTicks = logY ? sy.ticks(yTickCount).filter((t) => yFmt(t) !== '') : sy.ticks(yTickCount);
  }
  // Room for the widest y tick label (about 6.5 px per character at 12 px) and the rotated axis label.
  const labelW = Math.max(0, ...yTicks.map((t) => yFmt(t).length)) * 6.5;
  margin.left = Math.max(62, Math.ceil(labelW + 36));
  plotW = Math.max(40, width - margin.left - margin.right);
  const x = scaleLinear().domain(widen(xExt, false)).range([0, plotW]).nice();
  const X = (v: number): number => margin.left + x(v);
  const Y = (v: number): number => margin.top + y(v);

  // Grid lines and tick labels.
  const xTicks = x.ticks(Math.max(2, Math.floor(plotW / 80)));
  const xFmt = x.tickFormat(xTicks.length);
  out.push('<g class="grid" stroke="#e6e6e6" stroke-width="1">');
  for (const t of yTicks) out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}"/>`);
  for (const t of xTicks) out.push(`<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${margin.top}" y2="${margin.top + plotH}"/>`);
  out.push('</g>');
  out.push('<g class="axis" fill="#555">');
  for (const t of yTicks) out.push(`<text x="${margin.left - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">${escapeXml(yFmt(t))}</text>`);
  for (const t of xTicks) out.push(`<text x="${X(t).toFixed(1)}" y="${margin.top + plotH + 16}" text-anchor="middle">${escapeXml(xFmt(t))}</text>`);
  out.push('</g>');
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${height - 8}" text-anchor="middle" fill="#333">${escapeXml(xLabel)}</text>`);
  out.push(
    `<text transform="translate(14 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${escapeXml(yLabel)}</text>`,
  );
  if (yRef !== undefined && yOk(yRef) && y(yRef) >= 0 && y(yRef) <= plotH) {
    out.push(
      `<line class="ref" x1="${margin.left}" x2="${margin.left + plotW}" y1="${Y(yRef).toFixed(1)}" y2="${Y(yRef).toFixed(1)}" stroke="#444" stroke-dasharray="4 3" stroke-width="1"/>`,
    );
  }

  // Series: a path through the drawable points (gaps at the others), and dots for isolated points.
  out.push(`<g class="series-group" fill="none" stroke-width="1.8" stroke-linejoin="round" stroke-linecap="round">`);
  for (const s of series) {
    const color = seriesColor(s.name, colors);
    const len = Math.min(s.x.length, s.y.length);
    const pts: [number, number][] = [];
    for (let i = 0; i < len; i++) pts.push([s.x[i], s.y[i]]);
    const ok = (p: [number, number]): boolean => Number.isFinite(p[0]) && yOk(p[1]);
    const gen = line<[number, number]>()
      .defined(ok)
      .x((p) => X(p[0]))
      .y((p) => Y(p[1]))
      .digits(1);
    const d = gen(pts) ?? '';
    const name = escapeXml(s.name);
    if (d !== '') out.push(`<path class="series" data-series="${name}" d="${d}" stroke="${color}"><title>${name}</title></path>`);
    for (let i = 0; i < pts.length; i++) {
      const isolated = ok(pts[i]) && (i === 0 || !ok(pts[i - 1])) && (i === pts.length - 1 || !ok(pts[i + 1]));
      if (isolated) {
        out.push(
          `<circle class="point" data-series="${name}" cx="${X(pts[i][0]).toFixed(1)}" cy="${Y(pts[i][1]).toFixed(1)}" r="3" fill="${color}" stroke="none"/>`,
        );
      }
    }
  }
  out.push('</g>');

  if (legend && series.length > 0) {
    const lx = margin.left + plotW + 14;
    out.push('<g class="legend">');
    series.forEach((s, i) => {
      const ly = margin.top + 8 + i * 18;
      const color = seriesColor(s.name, colors);
      out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
      out.push(`<text x="${lx + 24}" y="${ly + 4}" fill="#222">${escapeXml(s.name)}</text>`);
    });
    out.push('</g>');
  }
  out.push('</svg>');
  return out.join('\n');
}

/** A legend as inline SVG (one row of swatches), shared by a grid of panels drawn with `legend: false`. */
export function legendSvg(names: string[], colors?: Readonly<Record<string, string>>): string {
  const items: string[] = [];
  let x = 4;
  for (const n of names) {
    const c = seriesColor(n, colors);
    items.push(`<line x1="${x}" x2="${x + 18}" y1="11" y2="11" stroke="${c}" stroke-width="3"/>`);
    items.push(`<text x="${x + 24}" y="15" fill="#222">${escapeXml(n)}</text>`);
    x += 24 + CHAR_W * n.length + 18;
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="legend" viewBox="0 0 ${x} 22" width="${x}" height="22" ${FONT} font-size="12">` +
    items.join('') +
    '</svg>'
  );
}
