/**
 * The one-row decode product with the activation quantized to 8 bits (matvecWQ8), as llama.cpp decodes: the
 * reference for native/ops/matvec_q8.inc. For W [N, K] in q8_0, q4_0, q4_k, q5_k or q6_k:
 *   1. x[K] is quantized in blocks of QK values, QK = 32 for q8_0 and q4_0 weights (ggml's q8_0 activation blocks)
 *      and 256 for the K-quants (q8_K): per block d = f32(max|x| / 127), q = roundHalfEven(f32(x · f32(1 / d))) in
 *      [-127, 127], and each 32-value sub-block's Σq. A block holding NaN or ±inf gets d = NaN and q = 0 (the
 *      outputs are NaN, as the exact product's would be); a block whose d is below f32's normal range gets d = 0 and
 *      q = 0.
 *   2. Every block's dot product runs on the integer levels (exact), with one f32 scale per block:
 *      q8_0:  y = Σ_b f32(d_w · d_x) · Σ_j qw_j · qx_j      (q4_0 the same, qw_j its nibble minus 8)
 *      q4_k:  y = Σ_B [f32(d_x · d) · Σ_s sc_s · Σ_l q_l · qx_l − f32(d_x · dmin) · Σ_s m_s · Σ_l qx_l]
 *      q6_k:  y = Σ_B f32(d_x · d) · Σ_g sc_g · Σ_l (q_l − 32) · qx_l
 *      (q4_k: sc_s, m_s sub-block s's 6-bit scale and min, q_l its 4-bit levels; q5_k the same with 5-bit levels;
 *      q6_k: g a group of 16 values, sc_g its int8 scale, q_l its 6-bit levels), summed in f64 here; a backend sums
 *      the same f32 terms in its own order.
 * Against the exact product x·Wᵀ the difference is the activation's rounding: at most d_x/2 per value, i.e.
 * |y − exact| ≤ Σ_b (max|x_b| / 254) · Σ_{j in b} |w_j| (plus f32 rounding of the sums).
 */

import { fr, halfAt } from "../../tensor/formats/half.ts";
import type { WeightData } from "../../tensor/formats/index.ts";
import { getScaleMinK4 } from "../../tensor/formats/kquant-search.ts";

/** The weight formats matvecWQ8 takes, with the activation block each is paired with. */
export const Q8_DOT_FORMATS = { q8_0: 32, q4_0: 32, q4_k: 256, q5_k: 256, q6_k: 256 } as const;
export type Q8DotFormat = keyof typeof Q8_DOT_FORMATS;

/** Whether matvecWQ8 takes weights of format `name`. */
export function hasQ8Dot(name: string): name is Q8DotFormat {
  return Object.hasOwn(Q8_DOT_FORMATS, name);
}

/** x quantized: levels q[K], one scale per block d[K / QK], and each 32-value sub-block's Σq sums[K / 32]. */
export interface QuantizedRow {
  q: Int8Array;
  d: Float32Array;
  sums: Int32Array;
}

const F32_MAX = 3.4028234663852886e38;
const F32_MIN_NORMAL = 2 ** -126;

/** v rounded to the nearest integer, ties to even (the CPU's default rounding of f32 → int32). */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** x[0, K) quantized in blocks of QK values (step 1 above). */
export function quantizeRowQ8(x: Float32Array, K: number, QK: number): QuantizedRow {
  const q = new Int8Array(K);
  const d = new Float32Array(K / QK);
  const sums = new Int32Array(K / 32);
  for (let b = 0; b < K / QK; b++) {
    const i0 = b * QK;
    let amax = 0;
    let bad = false;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(x[i0 + j]!);
      if (!(a <= F32_MAX)) bad = true;
      else if (a > amax) amax = a;
    }
    const db = fr(amax / 127);
    if (bad || db < F32_MIN_NORMAL) {
      d[b] = bad ? Number.NaN : 0; // levels stay 0
      continue;
    }
    d[b] = db;
    const id = fr(1 / db);
    for (let j = 0; j < QK; j++) q[i0 + j] = roundHalfEven(fr(x[i0 + j]! * id));
  }
  for (let s = 0; s < K / 32; s++) {
    let t = 0;
    for (let l = 0; l < 32; l++) t += q[32 * s + l]!;
    sums[s] = t;
  }
  return { q, d, sums };
}

/** dot of row n of a q8_0 weight (K / 32 blocks of 34 bytes) with the quantized x. */
function dotQ8_0(w: Uint8Array, n: number, K: number, x: QuantizedRow): number {
  const nb = K / 32;
  let acc = 0;
  for (let b = 0; b < nb; b++) {
    const p = (n * nb + b) * 34;
    let s = 0;
    for (let j = 0; j < 32; j++) s += ((w[p + 2 + j]! << 24) >> 24) * x.q[32 * b + j]!;
    acc += fr(halfAt(w, p) * x.d[b]!) * s;
  }
  return acc;
}

/** dot of row n of a q4_0 weight (K / 32 blocks of 18 bytes) with the quantized x. */
function dotQ4_0(w: Uint8Array, n: number, K: number, x: QuantizedRow): number {
  const nb = K / 32;
  let acc = 0;
  for (let b = 0; b < nb; b++) {
    const p = (n * nb + b) * 18;
    let s = 0;
    for (let j = 0; j < 16; j++) {
      s += ((w[p + 2 + j]! & 15) - 8) * x.q[32 * b + j]! + ((w[p + 2 + j]! >> 4) - 8) * x.q[32 * b + 16 + j]!;
    }
    acc += fr(halfAt(w, p) * x.d[b]!) * s;
  }
  return acc;
}

/**
 * dot of row n of a q4_k weight (K / 256 super-blocks of 144 bytes: levels at byte 16) or, q5 true, a q5_k weight
 * (176 bytes: the fifth bits, bit s of byte 16 + l for sub-block s, then the levels at byte 48) with the quantized x.
 */
function dotK4(w: Uint8Array, n: number, K: number, x: QuantizedRow, q5: boolean): number {
  const nb = K / 256;
  const [bytes, qs] = q5 ? [176, 48] : [144, 16];
  let acc = 0;
  for (let b = 0; b < nb; b++) {
    const p = (n * nb + b) * bytes;
    let sumi = 0;
    let summ = 0;
    for (let s = 0; s < 8; s++) {
      const [sc, m] = getScaleMinK4(s, w, p + 4);
      const q = p + qs + 32 * (s >> 1);
      const shift = 4 * (s & 1);
      let t = 0;
      for (let l = 0; l < 32; l++) {
        const high = q5 ? ((w[p + 16 + l]! >> s) & 1) << 4 : 0;
        t += (((w[q + l]! >> shift) & 15) | high) * x.q[256 * b + 32 * s + l]!;
      }
      sumi += sc * t;
      summ += m * x.sums[8 * b + s]!;
    }
    acc += fr(x.d[b]! * halfAt(w, p)) * sumi - fr(x.d[b]! * halfAt(w, p + 2)) * summ;
  }
  return acc;
}

/** dot of row n of a q6_k weight (K / 256 super-blocks of 210 bytes) with the quantized x. */
function dotQ6K(w: Uint8Array, n: number, K: number, x: QuantizedRow): number {
  const nb = K / 256;
  let acc = 0;
  for (let b = 0; b < nb; b++) {
    const p = (n * nb + b) * 210;
    let sumi = 0;
    for (let g = 0; g < 16; g++) {
      let t = 0;
      for (let j = 16 * g; j < 16 * g + 16; j++) {
        // value j = 128h + 32i + l: a nibble of ql and two bits of qh (src/tensor/formats/q6_k.ts)
        const [h, i, l] = [j >> 7, (j >> 5) & 3, j & 31];
        const lo = (w[p + 64 * h + 32 * (i & 1) + l]! >> (4 * (i >> 1))) & 15;
        const hi = (w[p + 128 + 32 * h + l]! >> (2 * i)) & 3;
        t += ((lo | (hi << 4)) - 32) * x.q[256 * b + j]!;
      }
      sumi += ((w[p + 192 + g]! << 24) >> 24) * t;
    }
    acc += fr(x.d[b]! * halfAt(w, p + 208)) * sumi;
  }
  return acc;
}

const DOTS: Record<Q8DotFormat, (w: Uint8Array, n: number, K: number, x: QuantizedRow) => number> = {
  q8_0: dotQ8_0,
  q4_0: dotQ4_0,
  q4_k: (w, n, K, x) => dotK4(w, n, K, x, false),
  q5_k: (w, n, K, x) => dotK4(w, n, K, x, true),
  q6_k: dotQ6K,
};

/** out[N] (+)= x[K] · W[N, K]ᵀ with x quantized to 8-bit blocks, W in one of Q8_DOT_FORMATS (see the header). */
export function matvecWQ8(
  out: Float32Array,
  x: Float32Array,
  w: WeightData,
  wFormat: string,
  N: number,
  K: number,
  accumulate: boolean,
): void {
  if (!hasQ8Dot(wFormat)) {
    throw new TypeError(`wFormat: matvecWQ8 takes q8_0, q4_0, q4_k, q5_k or q6_k weights, got ${wFormat}`);
  }
  const QK = Q8_DOT_FORMATS[wFormat];
  if (K % QK !== 0) throw new RangeError(`w: rows of ${K} values are not whole ${wFormat} blocks of ${QK}`);
  const xq = quantizeRowQ8(x, K, QK);
  const bytes = w as Uint8Array;
  const dotRow = DOTS[wFormat];
  for (let n = 0; n < N; n++) {
    const dot = fr(dotRow(bytes, n, K, xq));
    out[n] = accumulate ? out[n]! + dot : dot;
  }
}
