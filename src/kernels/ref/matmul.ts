/**
 * Reference matrix products (row-major, no padding). Every output element is accumulated in f64 and rounded to
 * f32 once, so these are more accurate than any f32-accumulating backend and serve as the oracle.
 * Loop orders keep the innermost loop on contiguous memory:
 * - NT: out[m,n] = dot(a[m,:], b[n,:]), both rows contiguous; a 2×4 register block (2 rows of a against 4 rows
 *   of b) reuses every load, about 3× faster than one dot at a time in V8.
 * - NN / TN: out[m,:] = Σ_k a(m,k) · b[k,:], an axpy of contiguous rows of b into an f64 row accumulator, four
 *   values of k per pass over the row.
 * These are the f32 and bf16 routines of the weight entries (weights.ts: matmulWNT, matmulWNN).
 * bf16 weights are decoded exactly: NT decodes 4 weight rows at a time into an f32 panel reused by all rows of a
 * (or, for fewer than 4 rows of a, through a table inline);
 * NN decodes through a 65536-entry table.
 */
import { bf16Lut } from "./convert.ts";
import { SLOT_ROW, SLOT32_PANEL, scratch32, scratch64 } from "./scratch.ts";

/** out[i] = s, or out[i] += s when accumulating (one f32 rounding). */
function put(out: Float32Array, i: number, s: number, accumulate: boolean): void {
  out[i] = accumulate ? out[i]! + s : s;
}

/** Σ_k a[ao+k] · b[bo+k] in f64. */
function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, K: number): number {
  let s0 = 0;
  let s1 = 0;
  let k = 0;
  for (; k + 1 < K; k += 2) {
    s0 += a[ao + k]! * b[bo + k]!;
    s1 += a[ao + k + 1]! * b[bo + k + 1]!;
  }
  if (k < K) s0 += a[ao + k]! * b[bo + k]!;
  return s0 + s1;
}

/**
 * out[:, n0 … n0+3] (+)= a[M,K] · (4 rows of b starting at offset bo, each of length K)ᵀ.
 * Rows of a are taken two at a time (8 accumulators), the last odd row alone.
 */
export function ntPanel4(
  out: Float32Array,
  a: Float32Array,
  b: Float32Array,
  bo: number,
  n0: number,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  const b0 = bo;
  const b1 = bo + K;
  const b2 = bo + 2 * K;
  const b3 = bo + 3 * K;
  let m = 0;
  for (; m + 1 < M; m += 2) {
    const r0 = m * K;
    const r1 = r0 + K;
    let s00 = 0;
    let s01 = 0;
    let s02 = 0;
    let s03 = 0;
    let s10 = 0;
    let s11 = 0;
    let s12 = 0;
    let s13 = 0;
    for (let k = 0; k < K; k++) {
      const x0 = a[r0 + k]!;
      const x1 = a[r1 + k]!;
      const y0 = b[b0 + k]!;
      const y1 = b[b1 + k]!;
      const y2 = b[b2 + k]!;
      const y3 = b[b3 + k]!;
      s00 += x0 * y0;
      s01 += x0 * y1;
      s02 += x0 * y2;
      s03 += x0 * y3;
      s10 += x1 * y0;
      s11 += x1 * y1;
      s12 += x1 * y2;
      s13 += x1 * y3;
    }
    const o0 = m * N + n0;
    const o1 = o0 + N;
    put(out, o0, s00, accumulate);
    put(out, o0 + 1, s01, accumulate);
    put(out, o0 + 2, s02, accumulate);
    put(out, o0 + 3, s03, accumulate);
    put(out, o1, s10, accumulate);
    put(out, o1 + 1, s11, accumulate);
    put(out, o1 + 2, s12, accumulate);
    put(out, o1 + 3, s13, accumulate);
  }
  if (m < M) {
    const r0 = m * K;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let k = 0; k < K; k++) {
      const x0 = a[r0 + k]!;
      s0 += x0 * b[b0 + k]!;
      s1 += x0 * b[b1 + k]!;
      s2 += x0 * b[b2 + k]!;
      s3 += x0 * b[b3 + k]!;
    }
    const o0 = m * N + n0;
    put(out, o0, s0, accumulate);
    put(out, o0 + 1, s1, accumulate);
    put(out, o0 + 2, s2, accumulate);
    put(out, o0 + 3, s3, accumulate);
  }
}

/** out[:, n] (+)= a[M,K] · (the row of b at offset bo)ᵀ: one output column. */
export function ntPanel1(
  out: Float32Array,
  a: Float32Array,
  b: Float32Array,
  bo: number,
  n: number,
  M: number,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  for (let m = 0; m < M; m++) put(out, m * N + n, dot(a, m * K, b, bo, K), accumulate);
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
  let n = 0;
  for (; n + 3 < N; n += 4) ntPanel4(out, a, b, n * K, n, M, N, K, accumulate);
  for (; n < N; n++) ntPanel1(out, a, b, n * K, n, M, N, K, accumulate);
}

/**
 * Few rows of a (generation): decoding a panel would cost as much as using it, so each row of a meets 4 bf16 rows
 * at a time decoded inline through the table.
 */
function ntBf16FewRows(
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
    const r = m * K;
    let n = 0;
    for (; n + 3 < N; n += 4) {
      const b0 = n * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      const b3 = b2 + K;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = 0; k < K; k++) {
        const x = a[r + k]!;
        s0 += x * lut[b[b0 + k]!]!;
        s1 += x * lut[b[b1 + k]!]!;
        s2 += x * lut[b[b2 + k]!]!;
        s3 += x * lut[b[b3 + k]!]!;
      }
      put(out, m * N + n, s0, accumulate);
      put(out, m * N + n + 1, s1, accumulate);
      put(out, m * N + n + 2, s2, accumulate);
      put(out, m * N + n + 3, s3, accumulate);
    }
    for (; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[r + k]! * lut[b[n * K + k]!]!;
      put(out, m * N + n, s, accumulate);
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
  if (M < 4) {
    ntBf16FewRows(out, a, b, M, N, K, accumulate);
    return;
  }
  const panel = scratch32(SLOT32_PANEL, 4 * K);
  const bits = new Uint32Array(panel.buffer, panel.byteOffset, 4 * K); // the same memory, as raw f32 bits
  let n = 0;
  for (; n < N; ) {
    const cols = Math.min(4, N - n);
    const src = n * K;
    for (let i = 0; i < cols * K; i++) bits[i] = b[src + i]! << 16; // decode rows n … n+cols-1 once (exact)
    if (cols === 4) ntPanel4(out, a, panel, 0, n, M, N, K, accumulate);
    else for (let c = 0; c < cols; c++) ntPanel1(out, a, panel, c * K, n + c, M, N, K, accumulate);
    n += cols;
  }
}

/**
 * acc[0:N] = Σ_k a[ao + k·as] · b[k·N : k·N+N] (f64), four k per pass over the accumulator row.
 * NN uses as = 1 (a row of a), TN uses as = M (a column of a).
 */
function combineRows(
  acc: Float64Array,
  a: Float32Array,
  ao: number,
  as: number,
  b: Float32Array,
  N: number,
  K: number,
) {
  acc.fill(0, 0, N);
  let k = 0;
  for (; k + 3 < K; k += 4) {
    const x0 = a[ao + k * as]!;
    const x1 = a[ao + (k + 1) * as]!;
    const x2 = a[ao + (k + 2) * as]!;
    const x3 = a[ao + (k + 3) * as]!;
    const o0 = k * N;
    const o1 = o0 + N;
    const o2 = o1 + N;
    const o3 = o2 + N;
    for (let n = 0; n < N; n++) {
      acc[n] = acc[n]! + (x0 * b[o0 + n]! + x1 * b[o1 + n]! + (x2 * b[o2 + n]! + x3 * b[o3 + n]!));
    }
  }
  for (; k < K; k++) {
    const x0 = a[ao + k * as]!;
    const o0 = k * N;
    for (let n = 0; n < N; n++) acc[n] = acc[n]! + x0 * b[o0 + n]!;
  }
}

/** As combineRows with b holding bf16 bits decoded through lut. */
function combineRowsBf16(
  acc: Float64Array,
  a: Float32Array,
  ao: number,
  b: Uint16Array,
  lut: Float32Array,
  N: number,
  K: number,
) {
  acc.fill(0, 0, N);
  let k = 0;
  for (; k + 3 < K; k += 4) {
    const x0 = a[ao + k]!;
    const x1 = a[ao + k + 1]!;
    const x2 = a[ao + k + 2]!;
    const x3 = a[ao + k + 3]!;
    const o0 = k * N;
    const o1 = o0 + N;
    const o2 = o1 + N;
    const o3 = o2 + N;
    for (let n = 0; n < N; n++) {
      const t01 = x0 * lut[b[o0 + n]!]! + x1 * lut[b[o1 + n]!]!;
      acc[n] = acc[n]! + (t01 + (x2 * lut[b[o2 + n]!]! + x3 * lut[b[o3 + n]!]!));
    }
  }
  for (; k < K; k++) {
    const x0 = a[ao + k]!;
    const o0 = k * N;
    for (let n = 0; n < N; n++) acc[n] = acc[n]! + x0 * lut[b[o0 + n]!]!;
  }
}

/** out[m,:] (+)= acc[0:N], the final f32 rounding of an f64 row. */
function storeRow(out: Float32Array, oo: number, acc: Float64Array, N: number, accumulate: boolean): void {
  if (accumulate) for (let n = 0; n < N; n++) out[oo + n] = out[oo + n]! + acc[n]!;
  else for (let n = 0; n < N; n++) out[oo + n] = acc[n]!;
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
    combineRows(acc, a, m * K, 1, b, N, K);
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
    combineRowsBf16(acc, a, m * K, b, lut, N, K);
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
    combineRows(acc, a, m, M, b, N, K);
    storeRow(out, m * N, acc, N, accumulate);
  }
}
