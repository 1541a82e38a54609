/**
 * Checkpoints: everything a resumed run needs to continue exactly as if it had never stopped.
 *
 *   OUT/checkpoint.json        manifest: step, config, tensor table, optimizer step, balancer states,
 *                              sampler (data position + RNG) state, running metrics, sha256 of the blob,
 *                              and sha256 of the manifest itself (its other fields as compact JSON), so an
 *                              edited or bit-flipped manifest is refused rather than resumed with wrong numbers
 *   OUT/ckpt-<step>.bin        float32 little-endian: every parameter, then every Adam m, then every v
 *
 * Writing is atomic: the blob and the manifest are each written to a temporary file, flushed and renamed;
 * the blob first, so a manifest never points to a missing or partial blob. Older blobs are deleted only
 * after the new manifest is in place, so a kill at any moment leaves the previous checkpoint usable.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { ATOMIC_TEMP, writeFileAtomic } from '../io/atomicWrite.ts';
import { join } from 'node:path';
import type { BalanceTotals } from '../routing/metrics.ts';
import type { BalancerState } from '../routing/types.ts';

export const MANIFEST = 'checkpoint.json';
const FORMAT = 'moe-balance-checkpoint/3';
/** Format 2 differs only in its running metrics (three flat MaxVio sums); it is read and converted. */
const FORMAT_2 = 'moe-balance-checkpoint/2';

/** Running sums the summary needs, carried across a resume. */
export interface RunningMetrics {
  tokens: number;
  wallMs: number;
  /** The run's BalanceAccumulator (routing/metrics.ts). */
  balance: BalanceTotals;
}

/** Format 2's running metrics. */
interface RunningMetrics2 {
  tokens: number;
  wallMs: number;
  sumMaxVio: number;
  countMaxVio: number;
  supMaxVio: number;
}

export interface CheckpointData {
  step: number;
  config: Record<string, unknown>;
  /** Parameters in a fixed order, with their Adam moments. */
  tensors: { name: string; shape: number[]; value: Float32Array; m: Float32Array; v: Float32Array }[];
  adamStep: number;
  balancers: BalancerState[];
  sampler: { rng: number; step: number };
  metrics: RunningMetrics;
}

interface Manifest {
  format: string;
  step: number;
  blob: string;
  bytes: number;
  sha256: string;
  config: Record<string, unknown>;
  tensors: { name: string; shape: number[]; offset: number; length: number }[];
  adamStep: number;
  balancers: BalancerState[];
  sampler: { rng: number; step: number };
  metrics: RunningMetrics;
  /** sha256 of JSON.stringify of every other field, in this order (written last). */
  manifestSha256?: string;
}

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export function saveCheckpoint(outDir: string, data: CheckpointData): void {
  mkdirSync(outDir, { recursive: true });
  let total = 0;
  for (const t of data.tensors) total += t.value.length;
  const blob = new Float32Array(total * 3);
  const table: Manifest['tensors'] = [];
  let off = 0;
  for (const t of data.tensors) {
    blob.set(t.value, off);
    blob.set(t.m, total + off);
    blob.set(t.v, 2 * total + off);
    table.push({ name: t.name, shape: t.shape, offset: off, length: t.value.length });
    off += t.value.length;
  }
  const bytes = new Uint8Array(blob.buffer);
  const blobName = `ckpt-${String(data.step).padStart(6, '0')}.bin`;
  writeFileAtomic(join(outDir, blobName), bytes);
  const manifest: Manifest = {
    format: FORMAT,
    step: data.step,
    blob: blobName,
    bytes: bytes.length,
    sha256: sha256(bytes),
    config: data.config,
    tensors: table,
    adamStep: data.adamStep,
    balancers: data.balancers,
    sampler: data.sampler,
    metrics: data.metrics,
  };
  manifest.manifestSha256 = sha256(JSON.stringify(manifest));
  writeFileAtomic(join(outDir, MANIFEST), JSON.stringify(manifest, null, 1) + '\n');
  for (const f of readdirSync(outDir)) {
    if (/^ckpt-\d+\.bin$/.test(f) && f !== blobName) rmSync(join(outDir, f), { force: true });
  }
}

/** Removes temporary files left by a run killed in the middle of a write. */
export function removeStaleTemporaries(outDir: string): void {
  if (!existsSync(outDir)) return;
  for (const f of readdirSync(outDir)) if (ATOMIC_TEMP.test(f)) rmSync(join(outDir, f), { force: true });
}

/** Deletes the manifest and data of a checkpoint in outDir, if any. */
export function removeCheckpoint(outDir: string): void {
  if (!existsSync(outDir)) return;
  rmSync(join(outDir, MANIFEST), { force: true });
  for (const f of readdirSync(outDir)) if (/^ckpt-\d+\.bin$/.test(f)) rmSync(join(outDir, f), { force: true });
}

export function hasCheckpoint(outDir: string): boolean {
  return existsSync(join(outDir, MANIFEST));
}

export function loadCheckpoint(outDir: string): CheckpointData {
  const path = join(outDir, MANIFEST);
  let man: Manifest;
  try {
    man = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (e) {
    throw new CheckpointError(`cannot read checkpoint manifest ${path}: ${(e as Error).message}`);
  }
  if (typeof man !== 'object' || man === null) throw new CheckpointError(`${path}: not a checkpoint manifest`);
  if (man.format === 'moe-balance-checkpoint/1') {
    throw new CheckpointError(`${path}: written by an older moe-balance without a manifest checksum; start the run afresh (--force)`);
  }
  if (man.format !== FORMAT && man.format !== FORMAT_2) throw new CheckpointError(`${path}: unknown checkpoint format '${String(man.format)}'`);
  const { manifestSha256, ...fields } = man;
  if (manifestSha256 !== sha256(JSON.stringify(fields))) {
    throw new CheckpointError(`${path}: the manifest does not match its checksum (edited or corrupt); refusing to resume from it`);
  }
  const blobPath = join(outDir, man.blob);
  let buf: Buffer;
  try {
    buf = readFileSync(blobPath);
  } catch (e) {
    throw new CheckpointError(`cannot read checkpoint data ${blobPath}: ${(e as Error).message}`);
  }
  if (buf.length !== man.bytes) throw new CheckpointError(`${blobPath}: ${buf.length} bytes, manifest says ${man.bytes}`);
  if (sha256(buf) !== man.sha256) throw new CheckpointError(`${blobPath}: checksum mismatch (corrupt checkpoint)`);
  // Copy into an aligned buffer (a Buffer may start at any byte offset of its pool).
  const floats = new Float32Array(new Uint8Array(buf).buffer);
  const total = floats.length / 3;
  return {
    step: man.step,
    config: man.config,
    tensors: man.tensors.map((t) => ({
      name: t.name,
      shape: t.shape,
      value: floats.slice(t.offset, t.offset + t.length),
      m: floats.slice(total + t.offset, total + t.offset + t.length),
      v: floats.slice(2 * total + t.offset, 2 * total + t.offset + t.length),
    })),
    adamStep: man.adamStep,
    balancers: man.balancers,
    sampler: man.sampler,
    metrics: man.format === FORMAT_2 ? fromFormat2(man.metrics as unknown as RunningMetrics2) : man.metrics,
  };
}

/** Format 2's sums as BalanceTotals: the overall AvgMaxVio and SupMaxVio carry on; per-layer sums start empty. */
function fromFormat2(m: RunningMetrics2): RunningMetrics {
  return {
    tokens: m.tokens,
    wallMs: m.wallMs,
    balance: { count: m.countMaxVio, sum: m.sumMaxVio, sup: m.supMaxVio, layerCount: [], layerSum: [], layerSup: [], maxLoadSum: 0, meanLoadSum: 0 },
  };
}
