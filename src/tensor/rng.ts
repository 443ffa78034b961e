/**
 * A small seeded PRNG (mulberry32) whose whole state is one uint32, so the trainer can save it in a
 * checkpoint (`getState`) and resume the exact same sequence (`setState`). Not cryptographic.
 */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seedToState(seed);
  }

  /** The full state: a uint32. */
  getState(): number {
    return this.s;
  }

  setState(state: number): void {
    this.s = state >>> 0;
  }

  /** Next uint32 (mulberry32 step). */
  nextU32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n), n >= 1 (rejection sampling: no modulo bias). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) throw new RangeError(`nextInt: bad bound ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }
}

/**
 * Map any number (negative, fractional, > 2^32) to a uint32 state by mixing its 32-bit halves with a
 * splitmix-style finalizer, so nearby seeds give unrelated streams.
 */
function seedToState(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`Rng: seed must be finite, got ${seed}`);
  const s = Math.trunc(seed);
  const lo = s >>> 0;
  const hi = Math.floor(s / 4294967296) >>> 0;
  let z = (lo ^ Math.imul(hi, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Fisher–Yates shuffle in place, driven by `rng`. */
export function shuffleInPlace<T>(arr: T[], rng: Rng): T[] {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const tmp = arr[i] as T;
    arr[i] = arr[j] as T;
    arr[j] = tmp;
  }
  return arr;
}
