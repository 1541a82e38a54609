/**
 * Checks on where a command is about to write (each failure an InputError naming the path), made before anything is written or deleted, so that a
 * wrong path is a one-line error instead of a lost file, a replaced device, or a hang:
 * - checkReplaceable: an atomic write renames a new file over the target, which would replace a
 *   symlink, FIFO, device or directory by a regular file: only a regular file (or nothing) may be there.
 * - sameFile: two paths name one file (after symlinks), e.g. --output and --input.
 * - checkOutDir: an output folder is a directory (or does not exist yet) on an ordinary file system,
 *   not under /proc, /sys or /dev (where mkdir -p loops or writes reach the kernel).
 */
import { lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { InputError } from '../routing/errors.ts';

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function kind(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'a file';
}

/** Throws unless `path` is absent or a regular file (not a symlink, FIFO, device, socket or directory). */
export function checkReplaceable(path: string): void {
  const st = lstatOrNull(path);
  if (st !== null && !st.isFile()) throw new InputError(`${path} is ${kind(st)}; refusing to replace it with a regular file`);
}

/** True when a and b name the same file: the same inode if both exist, else the same resolved path. */
export function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return resolve(a) === resolve(b);
  }
}

const SPECIAL_ROOTS = ['/proc', '/sys', '/dev'];

/** The real path of the deepest existing ancestor of `path` (itself if it exists). */
function realAncestor(path: string): string {
  let p = resolve(path);
  for (;;) {
    try {
      return realpathSync(p);
    } catch {
      const up = dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}

/** Throws unless `dir` can be an output folder: absent or a directory, and not on /proc, /sys or /dev. */
export function checkOutDir(dir: string, flag = '--out'): void {
  const st = lstatOrNull(dir);
  if (st !== null && !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new InputError(`${flag} ${dir} is ${kind(st)}, not a folder`);
  }
  const real = realAncestor(dir);
  const root = SPECIAL_ROOTS.find((r) => real === r || real.startsWith(r + sep));
  if (root !== undefined) throw new InputError(`${flag} ${dir} is under ${root}, a system file system, not a place for output`);
}
