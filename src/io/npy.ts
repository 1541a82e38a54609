/**
 * NumPy `.npy` files on disk (Node): read and write n-dimensional numeric arrays, C order. The format
 * itself (parse, encode, what is accepted) is in npyFormat.ts, which also runs in a browser.
 *
 *   const { shape, dtype, data } = readNpy('scores.npy');   // or readNpy(bytes)
 *   writeNpy('out.npy', new Float32Array(6), [2, 3]);         // atomic: temp file + rename
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomicWrite.ts';
import { encodeNpy, NpyError, parseNpy, type NpyArray, type NpyData } from './npyFormat.ts';

export { encodeNpy, formatShape, NpyError, parseNpy, type NpyArray, type NpyData, type NpyDtype } from './npyFormat.ts';

/** Reads a .npy file from a path, or parses one already in memory. */
export function readNpy(pathOrBuffer: string | Uint8Array): NpyArray {
  if (typeof pathOrBuffer !== 'string') return parseNpy(pathOrBuffer);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(pathOrBuffer);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new NpyError(`${pathOrBuffer}: ${why}`);
  }
  try {
    return parseNpy(bytes);
  } catch (err) {
    if (err instanceof NpyError) throw new NpyError(`${pathOrBuffer}: ${err.message}`);
    throw err;
  }
}

/** Writes `data` with `shape` (C order) to `path`, atomically. */
export function writeNpy(path: string, data: NpyData, shape: readonly number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}
