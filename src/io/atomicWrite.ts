/**
 * Atomic file writes: the bytes go to a temporary file in the same directory, are flushed, and the
 * temporary file is renamed over the target. A reader (or a crash) sees the old file or the new one,
 * never half of one; this is what lets `moe-balance route --state` be chained safely.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { checkReplaceable } from './outputPaths.ts';

/** Names of the temporary files writeFileAtomic leaves behind if the process is killed mid-write. */
export const ATOMIC_TEMP = /\.tmp-\d+$/;

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  // The rename would replace a symlink, FIFO or device by a regular file: refuse instead.
  checkReplaceable(path);
  // Same directory as the target so that rename() stays on one file system (and so is atomic). The
  // write is synchronous, so the pid alone keeps concurrent writers (other processes) apart.
  const tmp = `${path}.tmp-${process.pid}`;
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // The temporary file may not exist (open failed); nothing to clean up.
    }
    throw err;
  }
}
