/**
 * Replay: a stream of recorded router scores (or logits) from a real model.
 * - one .npy file of shape (steps, n, m), or (steps, layers, n, m);
 * - or a folder of per-step .npy files, each (n, m) or (layers, n, m), taken in natural name order
 *   (step2.npy before step10.npy); read one file per step, so the folder may hold a long recording.
 * Any numeric dtype is accepted and converted to float32. With gate 'none' (default) the values are
 * used as scores; 'softmax' or 'sigmoid' treat them as logits. Non-finite values are an error naming
 * the step.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readNpy as readNpyRaw, NpyError, type NpyArray } from '../io/npy.ts';
import { InputError } from '../routing/errors.ts';
import { firstNonFinite } from '../routing/validate.ts';
import { applyGate, type Gate } from '../routing/gate.ts';
import type { ScoreStream } from './streams.ts';

export interface ReplayOptions {
  /** Use only the first `steps` steps (default: all). */
  steps?: number;
  /** Gate applied to the recorded values (default 'none': they are scores). */
  gate?: Gate;
}

export function replayStream(path: string, options: ReplayOptions = {}): ScoreStream {
  const { gate = 'none' } = options;
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new InputError(`replay: ${path} not found`);
  }
  return isDir ? folderStream(path, gate, options.steps) : fileStream(path, gate, options.steps);
}

function fileStream(path: string, gate: Gate, stepsWanted?: number): ScoreStream {
  const arr = readNpy(path);
  const { shape } = arr;
  if (shape.length !== 3 && shape.length !== 4) {
    throw new InputError(`replay: ${path} has shape (${shape.join(', ')}); expected (steps, n, m) or (steps, layers, n, m)`);
  }
  const [available, layers, n, m] = shape.length === 3 ? [shape[0], 1, shape[1], shape[2]] : (shape as [number, number, number, number]);
  const steps = pickSteps(path, available, stepsWanted);
  const data = toFloat32(arr, path);
  return {
    name: `replay:${basename(path)}`,
    n,
    m,
    steps,
    layers,
    *batches() {
      for (let s = 0; s < steps; s++) {
        const batch: Float32Array[] = [];
        for (let l = 0; l < layers; l++) {
          const off = (s * layers + l) * n * m;
          // A copy, so applying the gate never changes the loaded recording (a second pass repeats the first).
          batch.push(checked(applyGate(data.slice(off, off + n * m), n, m, gate), `${path} step ${s + 1} layer ${l}`));
        }
        yield batch;
      }
    },
  };
}

function folderStream(dir: string, gate: Gate, stepsWanted?: number): ScoreStream {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.npy'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (files.length === 0) throw new InputError(`replay: folder ${dir} holds no .npy files`);
  const first = readNpy(join(dir, files[0]));
  const dims = stepDims(first.shape, join(dir, files[0]));
  const steps = pickSteps(dir, files.length, stepsWanted);
  const { layers, n, m } = dims;
  return {
    name: `replay:${basename(dir)}/`,
    n,
    m,
    steps,
    layers,
    *batches() {
      for (let s = 0; s < steps; s++) {
        const file = join(dir, files[s]);
        const arr = s === 0 ? first : readNpy(file);
        const d = stepDims(arr.shape, file);
        if (d.layers !== layers || d.n !== n || d.m !== m) {
          throw new InputError(`replay: ${file} has shape (${arr.shape.join(', ')}), but ${files[0]} has (${first.shape.join(', ')})`);
        }
        const data = toFloat32(arr, file);
        const batch: Float32Array[] = [];
        for (let l = 0; l < layers; l++) {
          batch.push(checked(applyGate(data.slice(l * n * m, (l + 1) * n * m), n, m, gate), `${file} layer ${l}`));
        }
        yield batch;
      }
    },
  };
}

function stepDims(shape: number[], file: string): { layers: number; n: number; m: number } {
  if (shape.length === 2) return { layers: 1, n: shape[0], m: shape[1] };
  if (shape.length === 3) return { layers: shape[0], n: shape[1], m: shape[2] };
  throw new InputError(`replay: ${file} has shape (${shape.join(', ')}); expected (n, m) or (layers, n, m)`);
}

function pickSteps(where: string, available: number, wanted?: number): number {
  if (available < 1) throw new InputError(`replay: ${where} holds no steps`);
  if (wanted === undefined) return available;
  if (wanted > available) throw new InputError(`replay: --steps ${wanted} but ${where} holds only ${available} steps`);
  return wanted;
}

function toFloat32(arr: NpyArray, where: string): Float32Array {
  const { data } = arr;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    throw new InputError(`replay: ${where} has dtype ${arr.dtype}; use a float dtype`);
  }
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

function checked(scores: Float32Array, where: string): Float32Array {
  const x = firstNonFinite(scores);
  if (x >= 0) throw new InputError(`replay: ${where} has a non-finite value (${scores[x]}) at index ${x}`);
  return scores;
}

/** readNpy with its errors as InputError, so the CLI prints them as one line. */
function readNpy(path: string): NpyArray {
  try {
    return readNpyRaw(path);
  } catch (err) {
    if (err instanceof NpyError) throw new InputError(`replay: ${err.message}`);
    throw err;
  }
}
