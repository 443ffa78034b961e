/**
 * Shared helpers for the reference-kernel tests: a seeded RNG, random tensors, and a central finite-difference
 * gradient check of a scalar loss L(inputs).
 */
import assert from "node:assert/strict";

/** mulberry32: a small deterministic PRNG returning uniform numbers in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform values in [-scale, scale). */
export function randArray(rand: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}

/** Σ w[i]·out[i] in f64: the random scalar projection whose gradient w.r.t. out is w. */
export function project(w: Float32Array, out: Float32Array): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += w[i]! * out[i]!;
  return s;
}

export interface FdOptions {
  eps?: number; // step (the actual step is measured after f32 rounding)
  rtol?: number; // tolerance relative to max(|analytic|, |numeric|)
  atol?: number; // absolute floor, relative to the largest analytic gradient entry
}

/**
 * Checks analytic[i] ≈ dL/dx[i] for every element of x by central differences, x perturbed in place and restored.
 * Returns the largest error relative to the largest gradient entry (for reporting).
 */
export function fdCheck(
  name: string,
  x: Float32Array,
  analytic: Float32Array,
  loss: () => number,
  opts: FdOptions = {},
): number {
  const eps = opts.eps ?? 1e-3;
  const rtol = opts.rtol ?? 1e-2;
  let gmax = 0;
  for (let i = 0; i < analytic.length; i++) gmax = Math.max(gmax, Math.abs(analytic[i]!));
  assert.ok(Number.isFinite(gmax), `${name}: analytic gradient is not finite`);
  const atol = (opts.atol ?? 1e-3) * Math.max(gmax, 1e-3);
  let worst = 0;
  const failures: string[] = [];
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i]!;
    x[i] = x0 + eps;
    const xp = x[i]!;
    const lp = loss();
    x[i] = x0 - eps;
    const xm = x[i]!;
    const lm = loss();
    x[i] = x0;
    const num = (lp - lm) / (xp - xm);
    const an = analytic[i]!;
    const err = Math.abs(num - an);
    worst = Math.max(worst, err / Math.max(gmax, 1e-12));
    if (!(err <= atol + rtol * Math.max(Math.abs(an), Math.abs(num)))) {
      if (failures.length < 5) failures.push(`[${i}] analytic ${an} numeric ${num}`);
    }
  }
  assert.equal(failures.length, 0, `${name}: gradient mismatch at ${failures.join(", ")}`);
  return worst;
}

/** Asserts |a[i] - b[i]| ≤ atol + rtol·|b[i]| for all i, naming the first mismatch. */
export function assertClose(name: string, a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol = 0): void {
  assert.equal(a.length, b.length, `${name}: length`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) assert.fail(`${name}[${i}]: got ${x}, expected ${y}`);
  }
}
