/**
 * Reference matrix products (row-major, no padding). Every output element is accumulated in f64 and rounded to
 * f32 once, so these are more accurate than any f32-accumulating backend and serve as the oracle.
 * Loop orders keep the innermost loop on contiguous memory:
 * - NT: out[m,n] = dot(a[m,:], b[n,:]), both rows contiguous.
 * - NN / TN: out[m,:] = Σ_k a(m,k) · b[k,:], an axpy on contiguous rows of b into an f64 row accumulator.
 * bf16 weights are decoded through a 65536-entry table (exact).
 */
import { bf16Lut } from "./convert.ts";
import { SLOT_ROW, scratch64 } from "./scratch.ts";

/** Σ_k a[ao+k] · b[bo+k] in f64 (four partial sums for instruction-level parallelism). */
function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, K: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < K; k += 4) {
    s0 += a[ao + k]! * b[bo + k]!;
    s1 += a[ao + k + 1]! * b[bo + k + 1]!;
    s2 += a[ao + k + 2]! * b[bo + k + 2]!;
    s3 += a[ao + k + 3]! * b[bo + k + 3]!;
  }
  for (; k < K; k++) s0 += a[ao + k]! * b[bo + k]!;
  return s0 + s1 + (s2 + s3);
}

/** As dot, with b holding bf16 bits decoded through lut. */
function dotBf16(a: Float32Array, ao: number, b: Uint16Array, bo: number, K: number, lut: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let k = 0;
  for (; k + 1 < K; k += 2) {
    s0 += a[ao + k]! * lut[b[bo + k]!]!;
    s1 += a[ao + k + 1]! * lut[b[bo + k + 1]!]!;
  }
  for (; k < K; k++) s0 += a[ao + k]! * lut[b[bo + k]!]!;
  return s0 + s1;
}

/** out[m,:] (+)= acc[0:N], the final f32 rounding of an f64 row. */
function storeRow(out: Float32Array, oo: number, acc: Float64Array, N: number, accumulate: boolean): void {
  if (accumulate) for (let n = 0; n < N; n++) out[oo + n] = out[oo + n]! + acc[n]!;
  else for (let n = 0; n < N; n++) out[oo + n] = acc[n]!;
}

/** out[M,N] (+)= a[M,K] · b[N,K]ᵀ. */
export function matmulNT(
  out: Float32Array,
  a: Float32Array,
  b: Float32Array,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  for (let m = 0; m < M; m++) {
    const ao = m * K;
    const oo = m * N;
    for (let n = 0; n < N; n++) {
      const s = dot(a, ao, b, n * K, K);
      out[oo + n] = accumulate ? out[oo + n]! + s : s;
    }
  }
}

/** out[M,N] (+)= a[M,K] · bf16(b[N,K])ᵀ. */
export function matmulNTBf16(
  out: Float32Array,
  a: Float32Array,
  b: Uint16Array,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  const lut = bf16Lut();
  for (let m = 0; m < M; m++) {
    const ao = m * K;
    const oo = m * N;
    for (let n = 0; n < N; n++) {
      const s = dotBf16(a, ao, b, n * K, K, lut);
      out[oo + n] = accumulate ? out[oo + n]! + s : s;
    }
  }
}

/** out[M,N] (+)= a[M,K] · b[K,N]. */
export function matmulNN(
  out: Float32Array,
  a: Float32Array,
  b: Float32Array,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  const acc = scratch64(SLOT_ROW, N);
  for (let m = 0; m < M; m++) {
    acc.fill(0, 0, N);
    for (let k = 0; k < K; k++) {
      const amk = a[m * K + k]!;
      const bo = k * N;
      for (let n = 0; n < N; n++) acc[n] = acc[n]! + amk * b[bo + n]!;
    }
    storeRow(out, m * N, acc, N, accumulate);
  }
}

/** out[M,N] (+)= a[M,K] · bf16(b[K,N]). */
export function matmulNNBf16(
  out: Float32Array,
  a: Float32Array,
  b: Uint16Array,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  const lut = bf16Lut();
  const acc = scratch64(SLOT_ROW, N);
  for (let m = 0; m < M; m++) {
    acc.fill(0, 0, N);
    for (let k = 0; k < K; k++) {
      const amk = a[m * K + k]!;
      const bo = k * N;
      for (let n = 0; n < N; n++) acc[n] = acc[n]! + amk * lut[b[bo + n]!]!;
    }
    storeRow(out, m * N, acc, N, accumulate);
  }
}

/** out[M,N] (+)= a[K,M]ᵀ · b[K,N]. */
export function matmulTN(
  out: Float32Array,
  a: Float32Array,
  b: Float32Array,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  const acc = scratch64(SLOT_ROW, N);
  for (let m = 0; m < M; m++) {
    acc.fill(0, 0, N);
    for (let k = 0; k < K; k++) {
      const akm = a[k * M + m]!;
      const bo = k * N;
      for (let n = 0; n < N; n++) acc[n] = acc[n]! + akm * b[bo + n]!;
    }
    storeRow(out, m * N, acc, N, accumulate);
  }
}
