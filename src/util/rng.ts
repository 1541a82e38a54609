/**
 * A small seeded random number generator whose whole state is one 32-bit integer, so that a run can
 * save it in a checkpoint and resume with the identical sequence. Algorithm: mulberry32 (period 2^32,
 * passes the usual statistical batteries; ample for data order, init and synthetic streams).
 */
export class Rng {
  private s: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    // Hash the seed once so that nearby seeds (1, 2, 3) give unrelated streams.
    this.s = hash32(Math.floor(seed) >>> 0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller; one value per call, so the state stays a single integer). */
  normal(): number {
    let u = this.next();
    while (u === 0) u = this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(a: T[] | Int32Array | Float32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  /** The whole state, for checkpoints. */
  getState(): number {
    return this.s;
  }

  setState(s: number): void {
    if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) throw new Error(`Rng: bad state ${s}`);
    this.s = s >>> 0;
  }

  /** An independent generator derived from this one's next output (for per-layer or per-run streams). */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 4294967296));
  }
}

function hash32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}
