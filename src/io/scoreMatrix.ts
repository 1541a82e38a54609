/**
 * Reads an n x m matrix of router scores or logits (tokens x experts) for the CLI, from a .npy file
 * (float16/32/64, C order) or a JSON array of rows, told apart by the .npy magic bytes rather than the
 * file name. Everything that would make routing meaningless is rejected with a message naming the file
 * and the problem: missing file, wrong rank or dtype, ragged rows, an empty matrix, NaN or ±Infinity
 * (with its row and column).
 */
import { readFileSync } from 'node:fs';
import { formatShape, NpyError, parseNpy } from './npy.ts';
import { firstNonFinite } from '../routing/validate.ts';

export interface ScoreMatrix {
  /** Tokens. */
  n: number;
  /** Experts. */
  m: number;
  /** n * m values, row-major: data[i * m + j]. */
  data: Float32Array;
}

/** A bad input file; the message starts with the file name. */
export class ScoreInputError extends Error {
  override name = 'ScoreInputError';
}

const NPY_MAGIC = '\x93NUMPY';

/** Reads `path` ('-' for standard input). */
export function readScoreMatrix(path: string): ScoreMatrix {
  const label = path === '-' ? '<stdin>' : path;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path === '-' ? 0 : path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new ScoreInputError(`${label}: ${why}`);
  }
  const fail = (why: string): never => {
    throw new ScoreInputError(`${label}: ${why}`);
  };
  return bytes.subarray(0, 6).toString('latin1') === NPY_MAGIC ? fromNpy(bytes, fail) : fromJson(bytes, fail);
}

function fromNpy(bytes: Uint8Array, fail: (why: string) => never): ScoreMatrix {
  let arr;
  try {
    arr = parseNpy(bytes);
  } catch (err) {
    if (err instanceof NpyError) fail(err.message);
    throw err;
  }
  if (arr.shape.length !== 2) fail(`expected a 2-D array (tokens x experts), got shape ${formatShape(arr.shape)}`);
  if (!(arr.data instanceof Float32Array || arr.data instanceof Float64Array)) {
    fail(`dtype ${arr.dtype} is not supported; expected float32 or float64 (or float16)`);
  }
  const [n, m] = arr.shape;
  if (n === 0 || m === 0) fail(`empty matrix of shape ${formatShape(arr.shape)}`);
  const src = arr.data as Float32Array | Float64Array;
  const bad = firstNonFinite(src);
  if (bad >= 0) fail(`${src[bad]} at row ${Math.floor(bad / m)} col ${bad % m}`);
  const data = src instanceof Float32Array ? src : Float32Array.from(src);
  checkFloat32Range(src, data, m, fail);
  return { n, m, data };
}

function fromJson(bytes: Buffer, fail: (why: string) => never): ScoreMatrix {
  let rows: unknown;
  try {
    rows = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    fail(`neither a .npy file nor valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(rows)) fail('expected a JSON array of rows (one array of m scores per token)');
  const n = rows.length;
  if (n === 0) fail('empty matrix (no rows)');
  if (!Array.isArray(rows[0])) fail('expected a JSON array of rows: row 0 is not an array (a 1-D array is not a score matrix)');
  const m = rows[0].length;
  if (m === 0) fail('empty matrix (row 0 has no entries)');
  const src = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const row: unknown = rows[i];
    if (!Array.isArray(row)) fail(`row ${i} is not an array`);
    if (row.length !== m) fail(`row ${i} has ${row.length} entries, row 0 has ${m}`);
    for (let j = 0; j < m; j++) {
      const v: unknown = row[j];
      // JSON cannot hold NaN: Python's json module writes it as NaN (invalid) and others as null.
      if (typeof v !== 'number') fail(`${describeCell(v)} at row ${i} col ${j} is not a number`);
      src[i * m + j] = v;
    }
  }
  const data = Float32Array.from(src);
  checkFloat32Range(src, data, m, fail);
  return { n, m, data };
}

function checkFloat32Range(src: ArrayLike<number>, data: Float32Array, m: number, fail: (why: string) => never): void {
  const x = firstNonFinite(data);
  if (x >= 0) fail(`${src[x]} at row ${Math.floor(x / m)} col ${x % m} overflows float32`);
}

/**
 * A short description of a JSON value that is not a number: the message must stay one short line
 * whatever the cell holds (a megabyte string, an array nested 100,000 deep that JSON.stringify cannot
 * even walk).
 */
function describeCell(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return v.length <= 24 ? JSON.stringify(v) : `a string of ${v.length} characters (${JSON.stringify(v.slice(0, 12))}...)`;
  return String(v);
}
