/**
 * moe-balance/node: everything in moe-balance plus the helpers that need Node's file system: .npy files
 * read and written on disk (writes atomic: temporary file + rename), atomic writes of any file, and the
 * score-matrix reader the `route` command uses (.npy or JSON rows, every bad cell rejected by name).
 *
 *     import { createBalancer, readNpy, writeNpy } from 'moe-balance/node';
 */
export * from './index.ts';
export { readNpy, writeNpy } from './io/npy.ts';
export { writeFileAtomic } from './io/atomicWrite.ts';
export { readScoreMatrix, ScoreInputError, type ScoreMatrix } from './io/scoreMatrix.ts';
