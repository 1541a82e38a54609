/**
 * On-disk cache for the tokenizer (JSON) and the encoded splits (binary), keyed by content hashes so a
 * changed text, vocabulary size or tokenizer version can never pick up a stale file. Files are written
 * to a temporary name and renamed, so parallel runs sharing a cache directory never read half a file.
 * Any unreadable or inconsistent cache file counts as a miss.
 *
 * Token file layout (little-endian on every platform we run on; the magic number detects otherwise):
 * Uint32 header [MAGIC, FORMAT, bytesPerToken (2 or 4), trainLength, valLength], then the train ids
 * followed by the val ids as Uint16 (vocabulary <= 65536) or Int32.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const MAGIC = 0x4b4f5442; // "BTOK"
const FORMAT = 1;
const HEADER = 5;

/** SHA-256 of the parts, each length-prefixed so that ("ab", "c") and ("a", "bc") differ. */
export function hashParts(parts: (string | number)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const s = String(p);
    h.update(`${s.length}:`);
    h.update(s);
  }
  return h.digest('hex');
}

export function encodeTokenFile(train: Int32Array, val: Int32Array, vocabSize: number): Uint8Array {
  const bytesPerToken = vocabSize <= 65536 ? 2 : 4;
  const n = train.length + val.length;
  const buf = new ArrayBuffer(HEADER * 4 + n * bytesPerToken);
  new Uint32Array(buf, 0, HEADER).set([MAGIC, FORMAT, bytesPerToken, train.length, val.length]);
  const body = bytesPerToken === 2 ? new Uint16Array(buf, HEADER * 4, n) : new Int32Array(buf, HEADER * 4, n);
  body.set(train, 0);
  body.set(val, train.length);
  return new Uint8Array(buf);
}

/** The splits stored at path, or undefined if the file is missing, malformed, or has ids >= vocabSize. */
export function readTokenFile(path: string, vocabSize: number): { train: Int32Array; val: Int32Array } | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch {
    return undefined;
  }
  if (raw.length < HEADER * 4) return undefined;
  // Copy into a fresh, aligned buffer: small Buffers may sit at an odd offset in Node's pool.
  const buf = new Uint8Array(raw).buffer;
  const [magic, format, bytesPerToken, nTrain, nVal] = new Uint32Array(buf, 0, HEADER);
  if (magic !== MAGIC || format !== FORMAT || (bytesPerToken !== 2 && bytesPerToken !== 4)) return undefined;
  const n = nTrain + nVal;
  if (buf.byteLength !== HEADER * 4 + n * bytesPerToken) return undefined;
  const body = bytesPerToken === 2 ? new Uint16Array(buf, HEADER * 4, n) : new Int32Array(buf, HEADER * 4, n);
  const all = Int32Array.from(body);
  for (let i = 0; i < n; i++) if (all[i] < 0 || all[i] >= vocabSize) return undefined;
  return { train: all.slice(0, nTrain), val: all.slice(nTrain) };
}
