/**
 * Reference vector kernels: the loops over tensor data that the trainer, the merge and the adapters run between
 * the layer kernels (gradient zeroing, norm and clipping, W += s·ΔW, dropout masks, KV-cache appends). Each is the plain loop it
 * replaces, with the same f64 arithmetic, so every backend reproduces the bits the TypeScript loops gave.
 */

/** out[i] = 0. */
export function zero(out: Float32Array, n: number): void {
  out.fill(0, 0, n);
}

/** out[i] = a[i]. */
export function copy(out: Float32Array, a: Float32Array, n: number): void {
  out.set(a.subarray(0, n));
}

/** out[i] *= s (the product in f64, rounded to f32 when stored). */
export function scale(out: Float32Array, n: number, s: number): void {
  for (let i = 0; i < n; i++) out[i] = out[i]! * s;
}

/** out[i] += s·a[i] (f64: the product rounded, then the sum, then f32 when stored). */
export function axpy(out: Float32Array, a: Float32Array, n: number, s: number): void {
  for (let i = 0; i < n; i++) out[i] = out[i]! + s * a[i]!;
}

/** out[i] = a[i]·b[i] (exact in f64, so one f32 rounding). */
export function mul(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
}

/** out[i] += a[i]·b[i] (the product exact in f64, the sum rounded to f64, then to f32 when stored). */
export function addMul(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = out[i]! + a[i]! * b[i]!;
}

/** acc + Σ a[i]², one element after the other (each square is exact in f64; only the sums round). */
export function sumSquares(a: Float32Array, n: number, acc: number): number {
  let sum = acc;
  for (let i = 0; i < n; i++) sum += a[i]! * a[i]!;
  return sum;
}

/** Σ a[i] in f64, in index order. */
export function sum(a: Float32Array, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i]!;
  return s;
}

/** The first index of a NaN or ±inf, or -1. */
export function firstNonFinite(a: Float32Array, n: number): number {
  for (let i = 0; i < n; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}
