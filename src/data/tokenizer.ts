/**
 * Byte-level BPE tokenizer (GPT-2 style): the text is first cut into pieces by PRETOKENIZE (words with
 * their leading space, numbers, runs of punctuation, whitespace), each piece is turned into its UTF-8
 * bytes (ids 0..255), and then the learned merges are applied inside the piece, lowest rank first.
 * Merge r creates token 256 + r, so vocabSize = 256 + merges.
 *
 * decode(encode(s)) === s for every well-formed string s (any Unicode, emoji included); a lone
 * surrogate has no UTF-8 form and comes back as U+FFFD.
 * Source: Radford et al. 2019 (GPT-2), Sennrich et al. 2016 (BPE).
 */

/** GPT-2's pre-tokenisation pattern. Every character falls into some alternative, so the pieces tile the text. */
export const PRETOKENIZE = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

const TOKENIZER_FORMAT = 'moe-balance-bpe';
export const TOKENIZER_VERSION = 1;

/** The largest vocabulary we support: token ids must fit the Uint16 token cache. */
export const MAX_VOCAB = 65536;

export interface Tokenizer {
  vocabSize: number;
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
  toJSON(): object;
}

/** Calls fn on each pre-tokenised piece of text, in order; the pieces concatenate back to text. */
export function forEachPiece(text: string, fn: (piece: string) => void): void {
  const re = new RegExp(PRETOKENIZE, 'gu');
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    // Cannot happen with PRETOKENIZE (it matches at every position), but never drop text silently.
    if (m.index > last) fn(text.slice(last, m.index));
    fn(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) fn(text.slice(last));
}

/** Key of the adjacent pair (a, b); ids are < 2^20, so the key is an exact integer < 2^40. */
export function pairKey(a: number, b: number): number {
  return a * 1048576 + b;
}

export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  /** merges[2r], merges[2r+1]: the pair that merge r joins into token 256 + r. */
  private readonly merges: Int32Array;
  private readonly rank = new Map<number, number>();
  private readonly bytes: Uint8Array[] = [];
  /** Encoded pieces, per instance: natural text repeats a small set of words. */
  private readonly pieceCache = new Map<string, Int32Array>();
  private readonly utf8 = new TextEncoder();
  private readonly utf8Decoder = new TextDecoder('utf-8');

  constructor(merges: Int32Array) {
    if (merges.length % 2 !== 0) throw new Error('tokenizer: merges must hold pairs');
    const nMerges = merges.length / 2;
    this.vocabSize = 256 + nMerges;
    if (this.vocabSize > MAX_VOCAB) throw new Error(`tokenizer: vocabSize ${this.vocabSize} exceeds ${MAX_VOCAB}`);
    this.merges = merges;
    for (let i = 0; i < 256; i++) this.bytes.push(Uint8Array.of(i));
    for (let r = 0; r < nMerges; r++) {
      const a = merges[2 * r];
      const b = merges[2 * r + 1];
      const id = 256 + r;
      if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < 0 || a >= id || b >= id) {
        throw new Error(`tokenizer: merge ${r} joins (${a}, ${b}); ids must be below ${id}`);
      }
      const key = pairKey(a, b);
      if (this.rank.has(key)) throw new Error(`tokenizer: merge ${r} repeats the pair (${a}, ${b})`);
      this.rank.set(key, r);
      const ba = this.bytes[a];
      const bb = this.bytes[b];
      const joined = new Uint8Array(ba.length + bb.length);
      joined.set(ba, 0);
      joined.set(bb, ba.length);
      this.bytes.push(joined);
    }
  }

  encode(text: string): Int32Array {
    let out = new Int32Array(Math.max(16, text.length >> 1));
    let n = 0;
    forEachPiece(text, (piece) => {
      const ids = this.encodePiece(piece);
      if (n + ids.length > out.length) {
        const grown = new Int32Array(Math.max(out.length * 2, n + ids.length));
        grown.set(out.subarray(0, n));
        out = grown;
      }
      out.set(ids, n);
      n += ids.length;
    });
    return out.slice(0, n);
  }

  decode(ids: ArrayLike<number>): string {
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new Error(`tokenizer: id ${id} at position ${i} is outside the vocabulary [0, ${this.vocabSize})`);
      }
      total += this.bytes[id].length;
    }
    const buf = new Uint8Array(total);
    let o = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = this.bytes[ids[i]];
      buf.set(b, o);
      o += b.length;
    }
    // Non-fatal: a window cut inside a multi-byte character decodes to U+FFFD instead of throwing.
    return this.utf8Decoder.decode(buf);
  }

  /** The bytes a token stands for (for inspection and tests). */
  tokenBytes(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new Error(`tokenizer: no token ${id}`);
    return this.bytes[id].slice();
  }

  toJSON(): object {
    return {
      format: TOKENIZER_FORMAT,
      version: TOKENIZER_VERSION,
      pattern: PRETOKENIZE,
      vocabSize: this.vocabSize,
      merges: Array.from(this.merges),
    };
  }

  private encodePiece(piece: string): Int32Array {
    const cached = this.pieceCache.get(piece);
    if (cached !== undefined) return cached;
    const sym = Int32Array.from(this.utf8.encode(piece));
    let len = sym.length;
    // Apply the lowest-rank merge present, all its occurrences left to right, until none applies.
    for (;;) {
      let best = -1;
      for (let i = 0; i + 1 < len; i++) {
        const r = this.rank.get(pairKey(sym[i], sym[i + 1]));
        if (r !== undefined && (best < 0 || r < best)) best = r;
      }
      if (best < 0) break;
      const a = this.merges[2 * best];
      const b = this.merges[2 * best + 1];
      let w = 0;
      for (let i = 0; i < len; i++) {
        if (i + 1 < len && sym[i] === a && sym[i + 1] === b) {
          sym[w++] = 256 + best;
          i++;
        } else {
          sym[w++] = sym[i];
        }
      }
      len = w;
    }
    const ids = sym.slice(0, len);
    this.pieceCache.set(piece, ids);
    return ids;
  }
}

/** Rebuilds a tokenizer from the object toJSON() returned (e.g. read back from a cache file). */
export function loadTokenizer(json: unknown): Tokenizer {
  if (typeof json !== 'object' || json === null) throw new Error('tokenizer JSON: expected an object');
  const o = json as Record<string, unknown>;
  if (o.format !== TOKENIZER_FORMAT) throw new Error(`tokenizer JSON: format is ${String(o.format)}, expected ${TOKENIZER_FORMAT}`);
  if (o.version !== TOKENIZER_VERSION) throw new Error(`tokenizer JSON: version ${String(o.version)} is not supported (expected ${TOKENIZER_VERSION})`);
  if (o.pattern !== PRETOKENIZE) throw new Error('tokenizer JSON: pre-tokenisation pattern differs from this version');
  if (!Array.isArray(o.merges)) throw new Error('tokenizer JSON: merges must be an array');
  const merges = o.merges as unknown[];
  for (let i = 0; i < merges.length; i++) {
    const v = merges[i];
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`tokenizer JSON: merges[${i}] is not an integer`);
  }
  const tok = new BpeTokenizer(Int32Array.from(merges as number[]));
  if (o.vocabSize !== tok.vocabSize) throw new Error(`tokenizer JSON: vocabSize ${String(o.vocabSize)} disagrees with ${tok.vocabSize} from the merges`);
  return tok;
}
