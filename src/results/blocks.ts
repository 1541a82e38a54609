/**
 * The generated blocks of a Markdown file (the README): each sits between an opening marker naming
 * what generates it and a closing marker,
 *
 *   <!-- results: KIND ARG ... -->
 *   ...the generated table (or lines)...
 *   <!-- /results -->
 *
 * so a verifier can regenerate every block from the committed logs and compare it with the text, and
 * `--write` can replace the text. ARGs are separated by spaces (paths relative to the repository root,
 * or key=value options).
 */
import { InputError } from '../routing/errors.ts';

export interface Block {
  kind: string;
  args: string[];
  /** The text between the two markers, without the newline after the opening marker. */
  body: string;
  /** 1-based line of the opening marker, for messages. */
  line: number;
  /** Offset of the body's first character and of the closing marker in the whole text. */
  start: number;
  close: number;
}

const OPEN = /<!--\s*results:\s*([^\s>][^>]*?)\s*-->/g;
const CLOSE = '<!-- /results -->';

/** Every block of `text`, in order; an opening marker without its closing one is an InputError. */
export function findBlocks(text: string): Block[] {
  const out: Block[] = [];
  for (const m of text.matchAll(OPEN)) {
    const at = m.index;
    const line = text.slice(0, at).split('\n').length;
    const start = text.indexOf('\n', at + m[0].length) + 1;
    const end = text.indexOf(CLOSE, at);
    const nextOpen = text.slice(at + m[0].length).search(/<!--\s*results:/);
    if (start === 0 || end < 0 || (nextOpen >= 0 && at + m[0].length + nextOpen < end)) {
      throw new InputError(`line ${line}: '${m[0]}' has no '${CLOSE}' after it`);
    }
    const [kind, ...args] = m[1].split(/\s+/);
    // The body ends before the newline that precedes the closing marker.
    const body = text.slice(start, Math.max(start, end)).replace(/\n$/, '');
    out.push({ kind, args, body, line, start, close: end });
  }
  return out;
}

/** `text` with each block's body replaced by `bodies[i]` (same order as findBlocks). */
export function replaceBlocks(text: string, blocks: readonly Block[], bodies: readonly string[]): string {
  let out = '';
  let at = 0;
  blocks.forEach((b, i) => {
    out += text.slice(at, b.start) + (bodies[i] === '' ? '' : `${bodies[i]}\n`);
    at = b.close;
  });
  return out + text.slice(at);
}

/** Split a block's ARGs into paths (plain words) and options (key=value). */
export function blockArgs(args: readonly string[]): { paths: string[]; options: Map<string, string> } {
  const paths: string[] = [];
  const options = new Map<string, string>();
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0) options.set(a.slice(0, eq), a.slice(eq + 1));
    else paths.push(a);
  }
  return { paths, options };
}
