/**
 * What Q4_K and Q5_K quantization share (quantize_row_q4_K_ref / q5_K_ref): per sub-block of 32 a scale and min by
 * makeQkx2Quants with weights av_x + |x| (av_x the sub-block's RMS), the 8 scales and mins quantized to 6 bits
 * against the largest (d = max_scale/63, dmin = max_min/63, binary16), and every level recomputed from the stored
 * scales (sub-blocks whose stored scale is 0 keep the search's levels).
 */
import { fr, halfBits, halfValue, nearestInt, u16At } from "./half.ts";
import { getScaleMinK4, makeQkx2Quants, packScaleMinK4 } from "./kquant-search.ts";

/** Scratch for one super-block. */
export interface KSubBlocks {
  L: Uint8Array; // [256] levels
  weights: Float32Array; // [32]
  scales: Float32Array; // [8]
  mins: Float32Array; // [8]
}

/**
 * Searches the 8 sub-blocks of x[i0 … i0+255] (levels in [0, nmax]; grid rmin + 0.1·is, is ≤ nstep), writes the 12
 * scale bytes at d[ps …] and returns the levels and the binary16 d and dmin.
 */
export function kSubBlocks(
  x: Float32Array,
  i0: number,
  nmax: number,
  rmin: number,
  nstep: number,
  d: Uint8Array,
  ps: number,
  s: KSubBlocks,
): { L: Uint8Array; dBits: number; dminBits: number } {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const o = i0 + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[o + l]! * x[o + l]!));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) s.weights[l] = fr(avX + Math.abs(x[o + l]!));
    const [scale, min] = makeQkx2Quants(32, nmax, x, o, s.weights, s.L, 32 * j, rmin, fr(0.1), nstep);
    s.scales[j] = scale;
    s.mins[j] = min;
    if (scale > maxScale) maxScale = scale;
    if (min > maxMin) maxMin = min;
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  const ls = new Uint8Array(8);
  const lm = new Uint8Array(8);
  for (let j = 0; j < 8; j++) {
    ls[j] = Math.min(63, nearestInt(fr(invScale * s.scales[j]!)) & 0xff);
    lm[j] = Math.min(63, nearestInt(fr(invMin * s.mins[j]!)) & 0xff);
  }
  d.fill(0, ps, ps + 12);
  packScaleMinK4(d, ps, ls, lm);
  return { L: s.L, dBits: halfBits(fr(maxScale / 63)), dminBits: halfBits(fr(maxMin / 63)) };
}

/** Levels L ∈ [0, nmax] recomputed from the stored d, dmin (bytes p, p+2) and 6-bit scales (bytes p+4 …). */
export function requantizeK(x: Float32Array, i0: number, d: Uint8Array, p: number, nmax: number, L: Uint8Array): void {
  const dd = halfValue(u16At(d, p));
  const dm = halfValue(u16At(d, p + 2));
  for (let j = 0; j < 8; j++) {
    const [sc, m] = getScaleMinK4(j, d, p + 4);
    const scale = fr(dd * sc);
    if (scale === 0) continue;
    const min = fr(dm * m);
    for (let i = 0; i < 32; i++) {
      const l = nearestInt(fr(fr(x[i0 + 32 * j + i]! + min) / scale));
      L[32 * j + i] = Math.min(nmax, Math.max(0, l));
    }
  }
}
