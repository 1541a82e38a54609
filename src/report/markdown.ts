/**
 * Markdown (GitHub-flavoured) tables, padded so they also read well as plain text in a terminal.
 */

export type Align = 'left' | 'right' | 'center';

/** Escape the characters that would break a table cell. */
function cell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Display width of a cell: code points, so "±" and "—" count as one column. */
function width(s: string): number {
  return [...s].length;
}

function pad(s: string, w: number, align: Align): string {
  const gap = w - width(s);
  if (gap <= 0) return s;
  if (align === 'right') return ' '.repeat(gap) + s;
  if (align === 'center') return ' '.repeat(Math.floor(gap / 2)) + s + ' '.repeat(gap - Math.floor(gap / 2));
  return s + ' '.repeat(gap);
}

/**
 * A Markdown table. `align[i]` sets column i (default: left); rows shorter than the header are
 * padded with empty cells, longer ones are an error.
 */
export function markdownTable(headers: string[], rows: string[][], align: Align[] = []): string {
  for (const r of rows) {
    if (r.length > headers.length) throw new Error(`markdownTable: row has ${r.length} cells, header has ${headers.length}`);
  }
  const head = headers.map(cell);
  const body = rows.map((r) => headers.map((_, i) => cell(r[i] ?? '')));
  const al = headers.map((_, i) => align[i] ?? 'left');
  const w = head.map((h, i) => Math.max(3, width(h), ...body.map((r) => width(r[i]))));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => pad(c, w[i], al[i])).join(' | ')} |`;
  const rule = w.map((n, i) => {
    const dashes = '-'.repeat(n);
    if (al[i] === 'right') return `${dashes.slice(1)}:`;
    if (al[i] === 'center') return `:${dashes.slice(2)}:`;
    return dashes;
  });
  return [line(head), `| ${rule.join(' | ')} |`, ...body.map(line)].join('\n');
}
