/**
 * The NumPy `.npy` format: parse and encode n-dimensional numeric arrays, C order, in memory. No Node-only
 * import, so it runs in a browser too (the file helpers readNpy/writeNpy are in npy.ts).
 *
 *   const { shape, dtype, data } = parseNpy(bytes);
 *   const bytes = encodeNpy(new Float32Array(6), [2, 3]);
 *
 * Format (numpy/lib/format.py, NEP 1): the magic "\x93NUMPY", a major and minor version byte,
 * the header length (uint16 LE in 1.0, uint32 LE in 2.0 and 3.0), then a Python dict literal
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` (latin-1, utf-8 in 3.0) padded with
 * spaces and a newline so the data starts at a multiple of 64, then the raw data.
 *
 * Read: versions 1.0, 2.0, 3.0; little-, big-endian and byte-order-free descrs of the types in
 * NpyDtype. float16 is widened to a Float32Array (dtype still reads 'float16'); int64 and uint64 come
 * back as BigInt64Array / BigUint64Array. Rejected with an NpyError naming the problem: other magic or
 * versions, Fortran order (unless the layout is the same as C order), object, string, structured and
 * complex dtypes, truncated headers and data. Bytes after the data are ignored, as numpy does.
 * Write: the dtype follows the typed array; version 1.0, or 2.0 when the header needs it.
 */
import { isDict, isTuple, parsePyLiteral, type PyValue } from './pyLiteral.ts';

export type NpyDtype =
  | 'float16'
  | 'float32'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

export interface NpyArray {
  shape: number[];
  dtype: NpyDtype;
  /** C-order data; float16 files give a Float32Array, bool files a Uint8Array of 0/1. */
  data: NpyData;
}

/** A malformed or unsupported .npy file; the message names the problem (and the file, if read from one). */
export class NpyError extends Error {
  override name = 'NpyError';
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** The kind + item size of a descr (e.g. 'f4'), its name, and how to build its typed array. */
const TYPES: Record<string, { dtype: NpyDtype; make: (b: ArrayBuffer) => NpyData }> = {
  f2: { dtype: 'float16', make: (b) => halfToFloat32(new Uint16Array(b)) },
  f4: { dtype: 'float32', make: (b) => new Float32Array(b) },
  f8: { dtype: 'float64', make: (b) => new Float64Array(b) },
  i1: { dtype: 'int8', make: (b) => new Int8Array(b) },
  i2: { dtype: 'int16', make: (b) => new Int16Array(b) },
  i4: { dtype: 'int32', make: (b) => new Int32Array(b) },
  i8: { dtype: 'int64', make: (b) => new BigInt64Array(b) },
  u1: { dtype: 'uint8', make: (b) => new Uint8Array(b) },
  u2: { dtype: 'uint16', make: (b) => new Uint16Array(b) },
  u4: { dtype: 'uint32', make: (b) => new Uint32Array(b) },
  u8: { dtype: 'uint64', make: (b) => new BigUint64Array(b) },
  b1: { dtype: 'bool', make: (b) => new Uint8Array(b) },
};

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Parses the bytes of a .npy file. */
export function parseNpy(bytes: Uint8Array): NpyArray {
  if (MAGIC.some((b, i) => i < bytes.length && bytes[i] !== b) || bytes.length === 0) {
    throw new NpyError('not a .npy file (it does not start with "\\x93NUMPY")');
  }
  if (bytes.length < 8) throw new NpyError(`truncated file: ${bytes.length} bytes, ending inside the preamble (magic, then 2 version bytes)`);
  const major = bytes[6];
  const minor = bytes[7];
  if (![1, 2, 3].includes(major) || minor !== 0) {
    throw new NpyError(`unsupported .npy format version ${major}.${minor} (supported: 1.0, 2.0, 3.0)`);
  }
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) throw new NpyError('truncated header (the header length is missing)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lenBytes;
  const dataStart = headerStart + headerLen;
  if (bytes.length < dataStart) {
    throw new NpyError(`truncated header (${headerLen} bytes announced, ${bytes.length - headerStart} present)`);
  }
  const headerBytes = bytes.subarray(headerStart, dataStart);
  const header = major === 3 ? new TextDecoder('utf-8').decode(headerBytes) : latin1Decode(headerBytes);
  const { descr, fortranOrder, shape } = parseHeader(header);

  const { kind, size, littleEndian } = parseDescr(descr);
  const type = TYPES[`${kind}${size}`];
  const count = shape.reduce((a, b) => a * b, 1);
  // Fortran order only differs from C order when two or more axes are longer than 1.
  if (fortranOrder && shape.filter((d) => d > 1).length > 1) {
    throw new NpyError(
      `fortran_order=True is not supported (shape ${formatShape(shape)}); save a C-ordered array, e.g. np.save(f, np.ascontiguousarray(a))`,
    );
  }
  const nbytes = count * size;
  if (bytes.length - dataStart < nbytes) {
    throw new NpyError(
      `truncated data: shape ${formatShape(shape)} of ${type.dtype} needs ${nbytes} bytes, the file has ${bytes.length - dataStart}`,
    );
  }
  // Copy into a fresh buffer: the data offset need not be aligned for the typed array.
  const raw = new Uint8Array(nbytes);
  raw.set(bytes.subarray(dataStart, dataStart + nbytes));
  if (size > 1 && littleEndian !== HOST_LITTLE_ENDIAN) swapBytes(raw, size);
  return { shape, dtype: type.dtype, data: type.make(raw.buffer) };
}

/** The bytes of a .npy file holding `data` with `shape` (C order). */
export function encodeNpy(data: NpyData, shape: readonly number[]): Uint8Array {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new NpyError(`bad shape ${formatShape(shape)}: sizes must be integers >= 0`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new NpyError(`shape ${formatShape(shape)} holds ${count} values but the data has ${data.length}`);
  }
  const descr = descrOf(data);
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${formatShape(shape)}, }`;
  // Version 1.0 unless the header does not fit its 16-bit length (a shape with thousands of axes).
  let major = 1;
  let headerLen = padTo64(10, dict.length);
  if (headerLen > 0xffff) {
    major = 2;
    headerLen = padTo64(12, dict.length);
  }
  const preamble = major === 1 ? 10 : 12;
  const out = new Uint8Array(preamble + headerLen + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  const header = dict + ' '.repeat(headerLen - dict.length - 1) + '\n';
  out.set(latin1Encode(header), preamble);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  out.set(body, preamble + headerLen);
  if (!HOST_LITTLE_ENDIAN) swapBytes(out.subarray(preamble + headerLen), data.BYTES_PER_ELEMENT);
  return out;
}

/** Header length (dict + padding + '\n') such that the data starts at a multiple of 64. */
function padTo64(preamble: number, dictLen: number): number {
  return Math.ceil((preamble + dictLen + 1) / 64) * 64 - preamble;
}

function descrOf(data: NpyData): string {
  const le = '<';
  if (data instanceof Float32Array) return `${le}f4`;
  if (data instanceof Float64Array) return `${le}f8`;
  if (data instanceof Int8Array) return '|i1';
  if (data instanceof Int16Array) return `${le}i2`;
  if (data instanceof Int32Array) return `${le}i4`;
  if (data instanceof BigInt64Array) return `${le}i8`;
  if (data instanceof Uint8Array) return '|u1';
  if (data instanceof Uint16Array) return `${le}u2`;
  if (data instanceof Uint32Array) return `${le}u4`;
  if (data instanceof BigUint64Array) return `${le}u8`;
  throw new NpyError('unsupported typed array');
}

function parseHeader(header: string): { descr: string; fortranOrder: boolean; shape: number[] } {
  let value: PyValue;
  try {
    value = parsePyLiteral(header);
  } catch (err) {
    throw new NpyError(`bad header: ${(err as Error).message}`);
  }
  if (!isDict(value)) throw new NpyError(`bad header: not a dict: ${JSON.stringify(clip(header.trim()))}`);
  const d = value.dict;
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!d.has(key)) throw new NpyError(`bad header: no '${key}' key in ${JSON.stringify(clip(header.trim()))}`);
  }
  const extra = [...d.keys()].filter((key) => !['descr', 'fortran_order', 'shape'].includes(key));
  if (extra.length > 0) throw new NpyError(`bad header: unexpected key(s) ${extra.map((k) => `'${k}'`).join(', ')}`);
  const descr = d.get('descr')!;
  if (Array.isArray(descr)) throw new NpyError('structured dtypes (records with named fields) are not supported');
  if (typeof descr !== 'string') throw new NpyError("bad header: 'descr' is not a string");
  const fortranOrder = d.get('fortran_order');
  if (typeof fortranOrder !== 'boolean') throw new NpyError("bad header: 'fortran_order' is not True or False");
  const shapeValue = d.get('shape')!;
  if (!isTuple(shapeValue)) throw new NpyError("bad header: 'shape' is not a tuple");
  const shape = shapeValue.tuple.map((s) => {
    if (typeof s !== 'number' || s < 0) throw new NpyError("bad header: 'shape' holds something other than integers >= 0");
    return s;
  });
  return { descr, fortranOrder, shape };
}

function parseDescr(descr: string): { kind: string; size: number; littleEndian: boolean } {
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(descr);
  if (!m) throw new NpyError(`unsupported dtype '${descr}'`);
  const [, order, kind, sizeText] = m;
  const size = Number(sizeText);
  const names: Record<string, string> = {
    O: 'object',
    U: 'unicode string',
    S: 'byte string',
    a: 'byte string',
    V: 'void/raw',
    c: 'complex',
    M: 'datetime64',
    m: 'timedelta64',
  };
  if (kind in names) throw new NpyError(`${names[kind]} dtype ('${descr}') is not supported; save a numeric array`);
  if (!(`${kind}${size}` in TYPES)) throw new NpyError(`unsupported dtype '${descr}'`);
  // '=' is native order; '|' means the order does not matter (1-byte items).
  const littleEndian = order === '>' ? false : order === '<' ? true : HOST_LITTLE_ENDIAN;
  return { kind, size, littleEndian };
}

function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i + size <= b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const t = b[lo];
      b[lo] = b[hi];
      b[hi] = t;
    }
  }
}

/** IEEE 754 half precision to float32 (exact: every half is a float32). */
function halfToFloat32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const x = h[i];
    const sign = x & 0x8000 ? -1 : 1;
    const exp = (x >> 10) & 0x1f;
    const frac = x & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24; // zero and subnormals
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** Python's spelling of a shape tuple: (), (3,), (2, 3). */
export function formatShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** Bytes as latin-1 characters (TextDecoder's 'latin1' is windows-1252, which differs at 0x80-0x9f). */
function latin1Decode(b: Uint8Array): string {
  let s = '';
  // Chunks keep the argument list of fromCharCode well under engines' limits.
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** A header we wrote ourselves (ASCII) as latin-1 bytes. */
function latin1Encode(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** The start of a long header for a one-line message. */
function clip(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`;
}
