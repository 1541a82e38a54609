/**
 * A parser for the small subset of Python literal syntax that a .npy header uses:
 * dicts, tuples, lists, strings, integers (with an optional Python 2 `L` suffix), True, False, None.
 * It is what `ast.literal_eval` would accept for a header numpy wrote, and nothing more; no evaluation.
 */

export type PyValue = string | number | boolean | null | PyValue[] | PyTuple | PyDict;
/** A Python tuple; kept apart from lists because the header's `shape` must be a tuple. */
export interface PyTuple {
  tuple: PyValue[];
}
export interface PyDict {
  dict: Map<string, PyValue>;
}

export function isTuple(v: PyValue): v is PyTuple {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'tuple' in v;
}
export function isDict(v: PyValue): v is PyDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'dict' in v;
}

/** Parses `text` as one Python literal; throws an Error naming the position of the first problem. */
export function parsePyLiteral(text: string): PyValue {
  const p = new Parser(text);
  const v = p.value();
  p.skipSpace();
  if (p.pos !== text.length) p.fail('unexpected text after the literal');
  return v;
}

/** Nesting deeper than this is refused: a .npy header needs 2 levels (dict, shape tuple or record list). */
const MAX_DEPTH = 32;

class Parser {
  pos = 0;
  private depth = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    throw new Error(`${what} at character ${this.pos} of ${JSON.stringify(this.s.slice(0, 80))}`);
  }

  skipSpace(): void {
    while (this.pos < this.s.length && /\s/.test(this.s[this.pos])) this.pos++;
  }

  value(): PyValue {
    this.skipSpace();
    const c = this.s[this.pos];
    if (c === undefined) this.fail('unexpected end');
    if (c === '{' || c === '(' || c === '[') {
      if (++this.depth > MAX_DEPTH) this.fail(`nested more than ${MAX_DEPTH} deep`);
      const v = c === '{' ? this.dict() : c === '(' ? { tuple: this.sequence('(', ')', true) } : this.sequence('[', ']', false);
      this.depth--;
      return v;
    }
    if (c === "'" || c === '"') return this.string();
    if (c === '-' || c === '+' || (c >= '0' && c <= '9')) return this.integer();
    for (const [word, v] of [['True', true], ['False', false], ['None', null]] as const) {
      if (this.s.startsWith(word, this.pos)) {
        this.pos += word.length;
        return v;
      }
    }
    this.fail(`unexpected character '${c}'`);
  }

  private dict(): PyDict {
    this.pos++; // '{'
    const dict = new Map<string, PyValue>();
    for (;;) {
      this.skipSpace();
      if (this.s[this.pos] === '}') {
        this.pos++;
        return { dict };
      }
      const key = this.value();
      if (typeof key !== 'string') this.fail('dict key is not a string');
      this.skipSpace();
      if (this.s[this.pos] !== ':') this.fail("expected ':'");
      this.pos++;
      dict.set(key, this.value());
      this.skipSpace();
      if (this.s[this.pos] === ',') this.pos++;
      else if (this.s[this.pos] !== '}') this.fail("expected ',' or '}'");
    }
  }

  private sequence(open: string, close: string, isTuple: boolean): PyValue[] {
    void open;
    this.pos++;
    const items: PyValue[] = [];
    let sawComma = false;
    for (;;) {
      this.skipSpace();
      if (this.s[this.pos] === close) {
        this.pos++;
        // `(3)` is the integer 3 in Python, not a tuple; numpy always writes `(3,)`.
        if (isTuple && items.length === 1 && !sawComma) this.fail('a one-element tuple needs a trailing comma');
        return items;
      }
      items.push(this.value());
      this.skipSpace();
      if (this.s[this.pos] === ',') {
        this.pos++;
        sawComma = true;
      } else if (this.s[this.pos] !== close) this.fail(`expected ',' or '${close}'`);
    }
  }

  private string(): string {
    const quote = this.s[this.pos++];
    let out = '';
    while (this.pos < this.s.length && this.s[this.pos] !== quote) {
      if (this.s[this.pos] === '\\') this.fail('escapes in strings are not supported');
      out += this.s[this.pos++];
    }
    if (this.pos >= this.s.length) this.fail('unterminated string');
    this.pos++;
    return out;
  }

  private integer(): number {
    const m = /^[-+]?\d+L?/.exec(this.s.slice(this.pos));
    if (!m) this.fail('bad number');
    this.pos += m[0].length;
    if (this.s[this.pos] === '.' || this.s[this.pos] === 'e') this.fail('only integers are expected');
    const v = Number(m[0].replace('L', ''));
    if (!Number.isSafeInteger(v)) this.fail('integer too large');
    return v;
  }
}
