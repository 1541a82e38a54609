/**
 * The shared memory of W data-parallel training threads (node:worker_threads) and the blocking
 * collectives over it: a barrier (Atomics.wait / notify on a generation counter), a Transport for the
 * sharded balancers' collectives (routing/collective.ts), one gradient slot per rank, one slot of
 * step statistics per rank, and the optimizer's parameters and moments, once (shardedOptimizer.ts).
 * Rank 0 is the main thread (Node allows Atomics.wait there).
 *
 * A collective: every rank writes its contribution to its own slot, barrier, every rank reads all W
 * slots and merges them in rank order (so the result is the same bits on every rank). Consecutive
 * collectives alternate between two sets of slots, so no second barrier is needed before a slot is
 * written again: a rank writes set p at collective c + 2 only after the barrier of c + 1, which every
 * rank reaches after reading collective c. A rank that arrives at a barrier first spins briefly before
 * it sleeps (Atomics.wait): most waits inside a routing call are shorter than a sleep and wake-up.
 */
import { MASTER_ARRAYS } from './shardedOptimizer.ts';
import { mergeCollective, type Collective, type CollectiveResult, type Transport } from '../routing/collective.ts';
import { optimizerKernelsWanted, sharedWasmMemory } from './wasm/instance.ts';

/** Bytes of one rank's collective slot (header + data); the largest exchange is BIP's final gather. */
const SLOT_BYTES = 4 << 20;
const HEADER = 16;
const OPS = ['sum', 'max', 'gather'] as const;
const MESSAGE_BYTES = 4096;

/** Polls of the generation counter before sleeping at a barrier (some tens of microseconds). */
const SPIN = 20_000;

/** A rank that waits longer than this at a barrier gives up: another rank has failed. */
const BARRIER_TIMEOUT_MS = 120_000;

export interface GroupMemory {
  W: number;
  /** Int32 [generation, arrived, failed, message length], then a failing rank's message (UTF-8). */
  control: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  /** The W gradient slots (float32, gradSize each) from byte gradsOffset. */
  grads: SharedArrayBuffer;
  gradsOffset: number;
  stats: SharedArrayBuffer;
  /** Float32 master parameters, m and v of the gradSize parameter elements (shardedOptimizer.ts), from byte masterOffset. */
  master: SharedArrayBuffer;
  masterOffset: number;
  /**
   * The shared WebAssembly memory whose buffer holds the gradient slots and the master arrays (grads and
   * master are then that buffer), so that the optimizer's SIMD kernels can work on them in place; null
   * where none could be made (separate SharedArrayBuffers, TypeScript loops).
   */
  heap: WebAssembly.Memory | null;
  /** Float64 per rank: its partial squared gradient norm. */
  norms: SharedArrayBuffer;
  gradSize: number;
  statsSize: number;
}

/** Allocates the group's shared memory for W ranks, gradSize float32 per rank, statsSize float64 per rank. */
export function allocGroupMemory(W: number, gradSize: number, statsSize: number): GroupMemory {
  const gradBytes = W * gradSize * 4;
  const masterBytes = MASTER_ARRAYS * gradSize * 4;
  const heap = optimizerKernelsWanted() ? sharedWasmMemory(gradBytes + masterBytes) : null;
  const grads = heap ? (heap.buffer as unknown as SharedArrayBuffer) : new SharedArrayBuffer(gradBytes);
  return {
    W,
    control: new SharedArrayBuffer(16 + MESSAGE_BYTES),
    slots: new SharedArrayBuffer(2 * W * SLOT_BYTES),
    grads,
    gradsOffset: 0,
    stats: new SharedArrayBuffer(W * statsSize * 8),
    master: heap ? grads : new SharedArrayBuffer(masterBytes),
    masterOffset: heap ? gradBytes : 0,
    heap,
    norms: new SharedArrayBuffer(W * 8),
    gradSize,
    statsSize,
  };
}

export class WorkerGroup {
  readonly W: number;
  private readonly control: Int32Array;
  readonly transport: Transport;
  /** Collectives run so far by this rank (the same count on every rank): picks the set of slots. */
  private collectives = 0;
  /** Milliseconds this rank has waited at barriers so far (a profile: phases.ts). */
  waitMs = 0;

  constructor(
    readonly mem: GroupMemory,
    readonly rank: number,
  ) {
    this.W = mem.W;
    this.control = new Int32Array(mem.control);
    this.transport = (c) => this.collective(c);
  }

  /** Blocks until all W ranks have arrived. Throws after BARRIER_TIMEOUT_MS (a rank died). */
  barrier(): void {
    const c = this.control;
    if (Atomics.load(c, 2) !== 0) throw new Error(`data-parallel worker failed: ${this.failure()}`);
    const gen = Atomics.load(c, 0);
    if (Atomics.add(c, 1, 1) === this.W - 1) {
      Atomics.store(c, 1, 0);
      Atomics.add(c, 0, 1);
      Atomics.notify(c, 0);
      return;
    }
    const start = performance.now();
    for (let i = 0; i < SPIN; i++) if (Atomics.load(c, 0) !== gen) break;
    const t0 = Date.now();
    while (Atomics.load(c, 0) === gen) {
      if (Atomics.load(c, 2) !== 0) throw new Error(`data-parallel worker failed: ${this.failure()}`);
      if (Atomics.wait(c, 0, gen, 1000) === 'timed-out' && Date.now() - t0 > BARRIER_TIMEOUT_MS) {
        throw new Error(`data-parallel rank ${this.rank}: another worker stopped responding (waited ${BARRIER_TIMEOUT_MS / 1000} s)`);
      }
    }
    this.waitMs += performance.now() - start;
    // fail() also moves the generation on, to wake the waiting ranks.
    if (Atomics.load(c, 2) !== 0) throw new Error(`data-parallel worker failed: ${this.failure()}`);
  }

  /** Marks the group failed with this rank's message and wakes every rank waiting at a barrier. */
  fail(message: string): void {
    const bytes = new TextEncoder().encode(`rank ${this.rank}: ${message}`).subarray(0, MESSAGE_BYTES);
    new Uint8Array(this.mem.control, 16, MESSAGE_BYTES).set(bytes);
    Atomics.store(this.control, 3, bytes.length);
    Atomics.store(this.control, 2, 1);
    Atomics.add(this.control, 0, 1);
    Atomics.notify(this.control, 0);
  }

  /** The failing rank's message ('' if none failed). */
  failure(): string {
    const len = Atomics.load(this.control, 3);
    return new TextDecoder().decode(new Uint8Array(this.mem.control, 16, len).slice());
  }

  /** This rank's gradient slot, and rank w's. */
  gradSlot(w = this.rank): Float32Array {
    return new Float32Array(this.mem.grads, this.mem.gradsOffset + w * this.mem.gradSize * 4, this.mem.gradSize);
  }

  statsSlot(w = this.rank): Float64Array {
    return new Float64Array(this.mem.stats, w * this.mem.statsSize * 8, this.mem.statsSize);
  }

  private collective(c: Collective): CollectiveResult {
    const bytes = c.data.byteLength;
    if (HEADER + bytes > SLOT_BYTES) throw new Error(`collective of ${bytes} bytes exceeds the ${SLOT_BYTES}-byte slot`);
    const set = (this.collectives++ & 1) * this.W * SLOT_BYTES;
    const base = set + this.rank * SLOT_BYTES;
    const head = new Int32Array(this.mem.slots, base, 4);
    head[0] = OPS.indexOf(c.op);
    head[1] = c.data instanceof Int32Array ? 1 : 0;
    head[2] = c.data.length;
    new Uint8Array(this.mem.slots, base + HEADER, bytes).set(new Uint8Array(c.data.buffer, c.data.byteOffset, bytes));
    this.barrier();
    const parts: Collective[] = [];
    for (let w = 0; w < this.W; w++) {
      const h = new Int32Array(this.mem.slots, set + w * SLOT_BYTES, 4);
      const off = set + w * SLOT_BYTES + HEADER;
      const data = h[1] === 1 ? new Int32Array(this.mem.slots, off, h[2]).slice() : new Float64Array(this.mem.slots, off, h[2]).slice();
      parts.push({ op: OPS[h[0]], data });
    }
    return mergeCollective(parts);
  }
}
